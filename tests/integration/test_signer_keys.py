"""The backbone's signers' public keys are shared by every host (issue 20), under the registry's
authorization.

kluis and the feed put their public keys in the JetStream bucket `ketenbus-signers` when they
start; a service on another host (a data directory without those keys) finds them there: its
partner registry answers kluis's id with kluis's key, and what it seals to kluis (a dead
letter's original) opens with kluis's own private key. Before, each host read
`partner-keys/<id>.json` of its own data directory. A partner reads a signer's key (a direct
get of its entry: the web app, the partner kit and the CLI on a host without the signers' keys
find them so) but cannot replace or purge it, nor see more of the bucket; another service
(even another signer) cannot replace kluis's, and a kluis whose key pair is not the one the
bucket has refuses to start. The supervisor (the operator's admin user)
makes the security buckets but cannot purge, delete, reconfigure or write them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import StreamConfig
from typer.testing import CliRunner

from ketenbus_contracts.feed import FEED_SIGNER
from ketenbus_contracts.sealing import PartnerKeys, decrypt_from
from ketenbus_partner.connect import password_variable
from ketenbus_partner.keys import (
    KLUIS_PARTNER_ID,
    fetch_signer_keys,
    load_or_create_partner_keys,
    private_keys_path,
    public_keys_path,
)
from services.cli import app
from services.integral_plan.portal import NatsPortal
from services.integral_plan.web_casework import send_new_child_signal
from services.integral_plan.web_forms import OnPlan
from services.runtime import nats_auth
from services.runtime.deadletter import kluis_sealer
from services.runtime.nats_auth import SUPERVISOR_USER
from services.runtime.nats_permissions import security_buckets
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings
from services.runtime.signers import SignerKeyMismatchError, SignerKeys
from services.runtime.streams import SIGNERS_BUCKET, ensure_streams
from tests.conftest import StartBackbone
from tests.events import PO, signal
from tests.integration.helpers import SCHOOL, wait_until
from tests.integration.test_instances import DENIED

pytestmark = pytest.mark.integration

NEW_CHILD = {
    "bsn": "273910127",
    "naam": "Ottoline Kanarievogel",
    "geboortedatum": "2016-02-03",
    "zorg": ["gedrag"],
    "toelichting": "Komt vaak zonder ontbijt naar school.",
    "contact": "IB'er, 026-1234567",
}


def test_a_host_without_the_signers_keys_seals_to_kluis_with_the_shared_key_and_none_may_replace_it(
    tmp_path: Path, start_backbone: StartBackbone
) -> None:
    settings = Settings(data_dir=tmp_path / "data", store="sqlite", nats_auth="registry")
    backbone = start_backbone(settings, ["kluis", "feed"])
    kluis_own = load_or_create_partner_keys(settings.data_dir, KLUIS_PARTNER_ID)
    elsewhere = tmp_path / "another-host"  # a data directory without any signer's keys
    bucket = SIGNERS_BUCKET.name

    async def scenario() -> tuple[dict[str, Any], list[str], str]:
        signalling = await nats_auth.connect(settings, "signalling", backbone.url)
        school = await nats_auth.connect(settings, SCHOOL.partner, backbone.url)
        feed = await nats_auth.connect(settings, "feed", backbone.url)
        kluis = await nats_auth.connect(settings, "kluis", backbone.url)
        try:
            shared = await SignerKeys.open(signalling, settings)
            registry = PartnerRegistry.load(elsewhere)
            registry.signer_keys = shared.keys
            seal = kluis_sealer(elsewhere, await shared.get(KLUIS_PARTNER_ID))
            assert seal is not None
            opened = decrypt_from(seal(b"the original"), kluis_own.encryption)
            found = {
                "kluis": registry.public_keys(KLUIS_PARTNER_ID),
                "feed": registry.public_keys(FEED_SIGNER),
                "opened": base64.b64decode(opened["original_b64"]),
                "read by the school": await fetch_signer_keys(school, KLUIS_PARTNER_ID),
            }
            replacement = PartnerKeys.generate(KLUIS_PARTNER_ID).to_jwks(private=False)
            body = str(replacement).encode()
            attempts = [
                school.jetstream().key_value(bucket),  # no stream info, no consumer
                school.jetstream().purge_stream(f"KV_{bucket}"),
                school.jetstream().publish(f"$KV.{bucket}.kluis", body, timeout=2),
                signalling.jetstream().publish(f"$KV.{bucket}.kluis", body, timeout=2),
                feed.jetstream().publish(f"$KV.{bucket}.kluis", body, timeout=2),
                signalling.jetstream().purge_stream(f"KV_{bucket}"),
            ]
            outcomes = await asyncio.gather(*attempts, return_exceptions=True)
            denied = [
                type(o).__name__ if isinstance(o, DENIED) else f"allowed: {o!r}" for o in outcomes
            ]
            mismatch = ""
            try:
                await (await SignerKeys.open(kluis, settings)).publish(
                    PartnerKeys.generate(KLUIS_PARTNER_ID)
                )
            except SignerKeyMismatchError as exc:
                mismatch = str(exc)
            after = await SignerKeys(shared.kv).refresh()
            found["kluis after"] = after[KLUIS_PARTNER_ID]
            return found, denied, mismatch
        finally:
            for nc in (signalling, school, feed, kluis):
                await nc.close()

    found, denied, mismatch = asyncio.run(scenario())

    kluis_public = kluis_own.to_jwks(private=False)
    feed_public = load_or_create_partner_keys(settings.data_dir, FEED_SIGNER).to_jwks(private=False)
    assert (kluis_public, feed_public, b"the original") == (
        found["kluis"].to_jwks(private=False),
        found["feed"].to_jwks(private=False),
        found["opened"],
    )
    assert kluis_public == found["read by the school"].to_jwks(private=False)
    assert [] == [d for d in denied if d.startswith("allowed")]
    assert mismatch.startswith("the public key of kluis in the bucket ketenbus-signers is not")
    assert kluis_public == found["kluis after"].to_jwks(private=False)


def test_the_supervisor_makes_the_security_buckets_but_cannot_purge_delete_or_write_them(
    tmp_path: Path, start_backbone: StartBackbone
) -> None:
    settings = Settings(data_dir=tmp_path / "data", store="sqlite", nats_auth="registry")
    backbone = start_backbone(settings, ["kluis"])
    buckets = security_buckets()

    async def scenario() -> tuple[list[str], list[bytes | None], list[bytes | None]]:
        admin = await nats_auth.connect(settings, SUPERVISOR_USER, backbone.url)
        try:
            js = admin.jetstream(timeout=2)
            # What `up` and `declare` do on a running backbone: every bucket is there already.
            await ensure_streams(js, settings.nats_replicas, lease_ttl=settings.lease_ttl)
            signers = await js.key_value(SIGNERS_BUCKET.name)
            before = [(await signers.get(KLUIS_PARTNER_ID)).value]
            attacks = []
            for bucket in buckets:
                stream = f"KV_{bucket}"
                attacks += [
                    js.purge_stream(stream),
                    js.delete_stream(stream),
                    js.delete_msg(stream, 1),
                    js.update_stream(
                        StreamConfig(name=stream, subjects=[f"$KV.{bucket}.>"], max_age=1.0)
                    ),
                    js.publish(f"$KV.{bucket}.kluis", b"{}", timeout=2),
                ]
            outcomes = await asyncio.gather(*attacks, return_exceptions=True)
            denied = [
                type(o).__name__ if isinstance(o, DENIED) else f"allowed: {o!r}" for o in outcomes
            ]
            for bucket in buckets:
                await js.stream_info(f"KV_{bucket}")  # still there
            after = [(await signers.get(KLUIS_PARTNER_ID)).value]
            return denied, before, after
        finally:
            await admin.close()

    denied, before, after = asyncio.run(scenario())

    assert 5 * len(buckets) == len(denied)
    assert [] == [d for d in denied if d.startswith("allowed")]
    assert before == after


async def last_dead_letter(settings: Settings, url: str) -> bytes:
    admin = await nats_auth.connect(settings, SUPERVISOR_USER, url)
    try:
        msg = await admin.jetstream().get_last_msg("DEADLETTER", "ketenbus.deadletter.>")
        return msg.data or b""
    finally:
        await admin.close()


def test_the_web_app_the_partner_kit_and_the_cli_find_the_signers_keys_over_nats(
    tmp_path: Path, start_backbone: StartBackbone
) -> None:
    """A web host has its organisation's own keys and no signer's: the web app's portal gets a
    pseudonym (sealed to the pseudonym service's key) and has kluis seal a new child's sections
    (sealed to kluis's key), `ketenbus publish` seals a refused event's original to kluis, and
    `ketenbus feed` checks the feed's signature, each with the key read from the bucket over
    the partner's (or the supervisor's) own NATS user."""
    settings = Settings(data_dir=tmp_path / "data", store="sqlite", nats_auth="registry")
    backbone = start_backbone(
        settings, ["pseudonym", "kluis", "feed", "signalling", "integral-plan"]
    )
    web_host = tmp_path / "web-host"
    own = load_or_create_partner_keys(settings.data_dir, PO)  # registered where kluis reads it
    for path in (private_keys_path, public_keys_path):
        path(web_host, PO).parent.mkdir(parents=True)
        shutil.copy(path(settings.data_dir, PO), path(web_host, PO))
    kluis_own = load_or_create_partner_keys(settings.data_dir, KLUIS_PARTNER_ID)

    async def story() -> tuple[str | None, list[Any]]:
        school = await nats_auth.partner_connect(settings, PO, backbone.url)
        try:
            portal = NatsPortal(school, web_host, PO)
            on = OnPlan({}, date.today(), PO, "mw-" + "5" * 24, "", "Intern begeleider")
            _, child, events = await send_new_child_signal(portal, NEW_CHILD, on)
            return child, events
        finally:
            await school.close()

    child, events = asyncio.run(story())
    assert child is not None
    assert [] == [p.name for p in (web_host / "partner-keys").iterdir() if p.stem != PO]
    env = {
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_NATS_AUTH": "registry",
        "KETENBUS_DATA_DIR": str(web_host),
        password_variable(PO): nats_auth.nats_password(settings, PO),
        password_variable(SUPERVISOR_USER): nats_auth.nats_password(settings, SUPERVISOR_USER),
    }
    raw = json.loads(signal(SCHOOL, child=child).to_bytes())
    raw["data"]["name"] = "Kanariepietje"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    runner = CliRunner()

    refused = runner.invoke(app, ["publish", "--as", PO, str(bad)], env=env)
    feed_lines = wait_until(
        lambda: (
            [
                line
                for line in runner.invoke(app, ["feed", "--as", PO], env=env).stdout.splitlines()
                if "signed=" in line
            ]
            or None
        ),
        what="an event copy on the school's feed",
    )

    assert 2 == refused.exit_code
    payload = asyncio.run(last_dead_letter(settings, backbone.url))
    original = json.loads(payload)["original"]
    opened = decrypt_from(original["jwe"], kluis_own.encryption)
    assert b"Kanariepietje" in base64.b64decode(opened["original_b64"])
    assert [] == [line for line in feed_lines if not line.endswith("signed=ok")]
    assert [["identity", "signalling"]] == [[p.value for p in e.purposes] for e in events]
    assert own.partner == events[0].source

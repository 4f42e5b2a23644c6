"""A signer's key rotated while the backbone runs (issue 20), under the registry's
authorization.

`ketenbus keys rotate kluis` (and `feed`) on the signer's host makes a new current key pair and
keeps the old one in its entry of `ketenbus-signers`, written by the signer's own NATS user with
an update on the entry's revision. The running kluis takes its new private key in without a
restart: a first signaller's section sealed to the new key is sealed by kluis, and one sealed to
the old key still is, until `ketenbus keys retire kluis`, after which it is refused. The
running feed (its next pair prepared first, as for a signer on several hosts) signs its copies
with its new key; a partner's client meets the new kid and reads
the key again, and a copy signed before still verifies. A partner cannot write the bucket, not
even with the revision it read.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from typer.testing import CliRunner

from ketenbus_contracts.feed import FEED_SIGNER, feed_signature_kid, verify_feed_entry
from ketenbus_contracts.signalling import SignalDetails
from ketenbus_partner.feed import read_feed
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.keys import (
    KLUIS_PARTNER_ID,
    SIGNERS_BUCKET,
    SignerKeySource,
    fetch_signer_keys,
    load_or_create_partner_keys,
    next_keys_path,
)
from ketenbus_partner.publish import DataDirKeys
from services.cli import app
from services.runtime import nats_auth
from services.runtime.settings import Settings
from tests.conftest import StartBackbone
from tests.events import PO, signal
from tests.integration.helpers import SCHOOL, child, eventually
from tests.integration.test_instances import DENIED

pytestmark = pytest.mark.integration

DETAILS = SignalDetails(concern=["gedrag"], notes="Komt vaak te laat.", bsn="273910127")


def test_a_rotated_signer_key_is_taken_while_running_and_the_old_one_counts_until_retired(
    tmp_path: Path, start_backbone: StartBackbone
) -> None:
    settings = Settings(data_dir=tmp_path / "data", store="sqlite", nats_auth="registry")
    backbone = start_backbone(settings, ["kluis", "feed", "signalling"])
    school_keys = load_or_create_partner_keys(settings.data_dir, PO)
    runner = CliRunner()
    env = {
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_NATS_AUTH": "registry",
        "KETENBUS_DATA_DIR": str(settings.data_dir),
    }

    def keys(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["keys", *args], env=env)
        return result.exit_code, result.stdout + result.stderr

    async def sealed_by_kluis(nc: Any, kluis_key: OKPKey | None, n: int) -> str:
        """'sealed' when kluis sealed a first signal's sections sent to `kluis_key` (None:
        the key as the backbone shares it now), else the refusal's code."""
        source = SignerKeySource(nc, KLUIS_PARTNER_ID)
        keyring = Keyring(school_keys, nc, kluis_key=kluis_key or source.encryption)
        try:
            sections = await keyring.seal(DETAILS, child=child(n), event_id=uuid.uuid4())
        except KeyRefusedError as refused:
            return refused.code
        return "sealed" if sections else "nothing"

    async def copies(nc: Any, wanted: str) -> list[Any]:
        """The copies on the school's feed, read until one is signed with another kid than
        `wanted` names ('old': feed#sig; 'new': any other)."""
        seen: list[Any] = []

        async def more() -> list[Any] | None:
            async for item in read_feed(nc, PO, wait=0.5):
                if not item.is_receipt:
                    seen.append(item)
            kids = [feed_signature_kid(item.headers) for item in seen]
            found = [k for k in kids if (k == "feed#sig") == (wanted == "old")]
            return seen if found else None

        return await eventually(more, f"a copy signed with the {wanted} key")

    async def story() -> dict[str, Any]:
        school = await nats_auth.partner_connect(settings, PO, backbone.url)
        js = school.jetstream()
        try:
            kluis_before = await fetch_signer_keys(school, KLUIS_PARTNER_ID)
            assert kluis_before is not None
            old = kluis_before.encryption
            seen: dict[str, Any] = {"before": await sealed_by_kluis(school, old, 1)}
            await DataDirKeys(settings.data_dir).publish(js, signal(SCHOOL, child=child(11)))
            first_copy = (await copies(school, "old"))[0]
            feed_keys = SignerKeySource(school, FEED_SIGNER)
            await feed_keys.get()  # read before the rotation: it meets a kid it does not have

            seen["rotate kluis"] = await asyncio.to_thread(keys, "rotate", "kluis")
            # The feed's as on several hosts: its next pair prepared first, then made current.
            seen["prepare feed"] = await asyncio.to_thread(keys, "rotate", FEED_SIGNER, "--prepare")
            seen["rotate feed"] = await asyncio.to_thread(keys, "rotate", FEED_SIGNER)
            seen["kluis now"] = await fetch_signer_keys(school, KLUIS_PARTNER_ID)
            seen["new key"] = await sealed_by_kluis(school, None, 2)
            seen["old key"] = await sealed_by_kluis(school, old, 3)

            await DataDirKeys(settings.data_dir).publish(js, signal(SCHOOL, child=child(12)))
            copy = (await copies(school, "new"))[-1]
            kid = feed_signature_kid(copy.headers)
            verify_feed_entry(copy.raw, copy.headers, await feed_keys.having(kid))
            verify_feed_entry(first_copy.raw, first_copy.headers, await feed_keys.having(kid))
            seen["copy kids"] = [feed_signature_kid(first_copy.headers), kid]

            # A partner cannot write the entry, not even on the revision it read.
            revision = (await school.request(
                f"$JS.API.DIRECT.GET.KV_{SIGNERS_BUCKET}.$KV.{SIGNERS_BUCKET}.kluis", b""
            )).headers["Nats-Sequence"]  # fmt: skip
            attempts = await asyncio.gather(
                js.publish(
                    f"$KV.{SIGNERS_BUCKET}.kluis",
                    b'{"keys": []}',
                    headers={"Nats-Expected-Last-Subject-Sequence": revision},
                    timeout=2,
                ),
                js.publish(f"$KV.{SIGNERS_BUCKET}.feed", b"{}", timeout=2),
                return_exceptions=True,
            )
            seen["partner writes"] = [
                type(a).__name__ if isinstance(a, DENIED) else f"allowed: {a!r}" for a in attempts
            ]

            seen["retire kluis"] = await asyncio.to_thread(keys, "retire", "kluis")
            seen["after retire: new key"] = await sealed_by_kluis(school, None, 4)
            seen["after retire: old key"] = await sealed_by_kluis(school, old, 5)
            seen["kluis retired"] = await fetch_signer_keys(school, KLUIS_PARTNER_ID)
            return seen
        finally:
            await school.close()

    seen = asyncio.run(story())

    assert "sealed" == seen["before"]
    assert 0 == seen["rotate kluis"][0], seen["rotate kluis"]
    assert 0 == seen["rotate feed"][0], seen["rotate feed"]
    assert seen["prepare feed"][1].startswith("prepared feed#sig-2, feed#enc-2 in ")
    assert not next_keys_path(settings.data_dir, FEED_SIGNER).exists()
    assert seen["rotate kluis"][1].startswith("rotated kluis: current kluis#sig-2, kluis#enc-2")
    assert ["kluis#enc-2", "kluis#enc"] == [k.kid for k in seen["kluis now"].decryption_keys()]
    assert ("sealed", "sealed") == (seen["new key"], seen["old key"])
    assert ["feed#sig", "feed#sig-2"] == seen["copy kids"]
    assert [] == [a for a in seen["partner writes"] if a.startswith("allowed")]
    assert 0 == seen["retire kluis"][0], seen["retire kluis"]
    assert ("sealed", "unopenable-section") == (
        seen["after retire: new key"],
        seen["after retire: old key"],
    )
    assert ["kluis#enc-2"] == [k.kid for k in seen["kluis retired"].decryption_keys()]
    rotated = load_or_create_partner_keys(settings.data_dir, KLUIS_PARTNER_ID)
    assert seen["kluis retired"].to_jwks(private=False) == rotated.to_jwks(private=False)

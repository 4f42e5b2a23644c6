"""Keys per scope, relations by rule, relations that end: as partners on their own NATS users.

The backbone runs under the registry's authorization (`KETENBUS_NATS_AUTH=registry`); the JGZ
and a school with no business with the child each connect with their own credentials. The
school publishes an empty signal of its own about the child the JGZ signalled: that
self-asserted basis opens only its own signalling, never the JGZ's notes or the child's name,
and each try is a refusal processing record. When the school withdraws its signal, kluis
refuses its own key with `relation-ended`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
    SignalWithdrawnData,
)
from ketenbus_contracts.signing import sign_event
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.publish import publish_signed
from services.kluis.domain import Decision
from services.kluis.keystore import Keystore
from services.policy.loading import REGISTER_PATH
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import JGZ, child, eventually

pytestmark = pytest.mark.integration

LYCEUM = Signaller(partner="vo-het-lyceum", role="mentor", contact="mentor")
ON = date(2026, 11, 1)
NOTES = "canary-scope-41c9: huiselijk geweld"
NAME = "canary-name-77ad"


async def jgz_signal_with_notes(keyring: Keyring, kid: str) -> SignalRegistered:
    """The JGZ's signal as its system builds it: notes and name sealed, then signed."""
    event_id = uuid.uuid4()
    about = SignalDetails(concern=["thuissituatie"], notes=NOTES, name=NAME)
    sealed = await keyring.seal(about, child=kid, event_id=event_id)
    return sign_event(signal(JGZ, ON, kid, sealed, event_id), keyring.keys)


async def _code(work: Any) -> str | dict[str, Any]:
    try:
        opened: dict[str, Any] = await work
    except KeyRefusedError as refused:
        return refused.code
    return opened


class ScopesCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, ["signalling", "kluis"])

    def test_a_school_that_signals_itself_opens_its_own_signal_only_until_it_withdraws(
        self, backbone: Backbone
    ) -> None:
        settings, kid = backbone.settings, child(21)

        async def story() -> tuple[list[Any], Any, Any]:
            jgz_nc = await partner_connect(settings, JGZ.partner, backbone.url)
            school_nc = await partner_connect(settings, LYCEUM.partner, backbone.url)
            try:
                jgz = Keyring.for_partner(settings.data_dir, JGZ.partner, jgz_nc)
                school = Keyring.for_partner(
                    settings.data_dir, LYCEUM.partner, school_nc, refusal_ttl=0.0, ttl=0.0
                )
                jgz_signal = await jgz_signal_with_notes(jgz, kid)
                await publish_signed(jgz_nc.jetstream(), jgz_signal, jgz.keys)
                # The attack: one empty signal of its own about the child.
                own = signal(LYCEUM, child=kid)
                await publish_signed(school_nc.jetstream(), own, school.keys)
                await _until_own_key(school, kid, lambda code: code is None)
                tried = [
                    await _code(school.open_section(jgz_signal, purpose))
                    for purpose in (Purpose.SIGNALLING, Purpose.IDENTITY)
                ]
                withdrawn = SignalWithdrawn.create(
                    source=LYCEUM.partner,
                    subject=kid,
                    data=SignalWithdrawnData(signal_id=own.data.signal_id, withdrawn_on=ON),
                )
                await publish_signed(school_nc.jetstream(), withdrawn, school.keys)
                ended = await _until_own_key(school, kid, lambda code: code is not None)
                jgz_own = await _code(jgz.open_section(jgz_signal, Purpose.SIGNALLING))
                return tried, ended, jgz_own
            finally:
                await jgz_nc.close()
                await school_nc.close()

        tried, ended, jgz_own = asyncio.run(story())
        keystore = Keystore.open(settings)
        try:
            records = keystore.records(data_subject=kid, requester=LYCEUM.partner)
        finally:
            keystore.close()

        assert ["scope-not-permitted", "scope-not-permitted"] == tried
        assert "relation-ended" == ended
        assert NOTES == jgz_own["notes"]
        refused = {(r.purpose, r.refusal_code) for r in records if r.decision is Decision.REFUSED}
        assert {
            (Purpose.SIGNALLING, "scope-not-permitted"),
            (Purpose.IDENTITY, "scope-not-permitted"),
            (Purpose.SIGNALLING, "relation-ended"),
        } <= refused
        assert all(NOTES not in str(r) and NAME not in str(r) for r in records)


async def _until_own_key(keyring: Keyring, kid: str, done: Any) -> str | None:
    """Ask for the partner's own signalling key until `done(refusal code or None)`."""

    async def answer() -> tuple[str | None] | None:
        try:
            await keyring.sealing_key(kid, Purpose.SIGNALLING)
            code = None
        except KeyRefusedError as refused:
            code = refused.code
        return (code,) if done(code) else None

    return (await eventually(answer, "kluis to answer as expected"))[0]


class TestRetentionRunsByItself(StoreBackend):
    """kluis's scheduled check, with a register whose signalling retention is P0D and a check
    every second, destroys the school's signalling keys once its signal was withdrawn."""

    store = "sqlite"

    @pytest.fixture
    def backbone(
        self, settings: Settings, tmp_path: Path, start_backbone: StartBackbone
    ) -> Backbone:
        raw = yaml.safe_load(REGISTER_PATH.read_text(encoding="utf-8"))
        for activity in raw["activities"]:
            if activity["purpose"] == "signalling":
                activity["retention"] = "P0D"
        register = tmp_path / "register.yaml"
        register.write_text(yaml.safe_dump(raw), encoding="utf-8")
        settings = settings.model_copy(
            update={
                "nats_auth": "registry",
                "processing_register": register,
                "kluis_retention_interval": 1.0,
            }
        )
        return start_backbone(settings, ["signalling", "kluis"])

    def test_after_retention_no_key_and_the_school_sections_stay_shut(
        self, backbone: Backbone
    ) -> None:
        settings, kid = backbone.settings, child(22)

        def destroyed() -> bool:
            keystore = Keystore.open(settings)
            try:
                records = keystore.records(data_subject=kid)
            finally:
                keystore.close()
            return any(r.decision is Decision.DESTROYED for r in records)

        async def keys_destroyed() -> bool:
            return destroyed()

        async def story() -> tuple[Any, Any, Any]:
            nc = await partner_connect(settings, LYCEUM.partner, backbone.url)
            try:
                school = Keyring.for_partner(
                    settings.data_dir, LYCEUM.partner, nc, refusal_ttl=0.0, ttl=0.0
                )
                own = signal(LYCEUM, child=kid)
                await publish_signed(nc.jetstream(), own, school.keys)
                await _until_own_key(school, kid, lambda code: code is None)
                event_id = uuid.uuid4()
                sealed = await school.seal_sections(
                    {Purpose.SIGNALLING: {"notes": NOTES}}, child=kid, event_id=event_id
                )
                token = sealed[Purpose.SIGNALLING]
                withdrawn = SignalWithdrawn.create(
                    source=LYCEUM.partner,
                    subject=kid,
                    data=SignalWithdrawnData(signal_id=own.data.signal_id, withdrawn_on=ON),
                )
                await publish_signed(nc.jetstream(), withdrawn, school.keys)
                await eventually(keys_destroyed, "the retention check to destroy the keys")
                after = await _code(school.open_token(token, event_id=event_id))
                again = signal(LYCEUM, child=kid)
                await publish_signed(nc.jetstream(), again, school.keys)
                await _until_own_key(school, kid, lambda code: code is None)
                reopened = await _code(school.open_token(token, event_id=event_id))
                return destroyed(), after, reopened
            finally:
                await nc.close()

        was_destroyed, after, reopened = asyncio.run(story())

        assert (True, "relation-ended", "unknown-key") == (was_destroyed, after, reopened)


class TestScopesOnSQLite(ScopesCase):
    store = "sqlite"

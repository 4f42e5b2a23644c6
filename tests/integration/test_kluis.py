"""kluis end to end: real nats-server, signalling and kluis processes, SQLite and PostgreSQL.

A partner seals a section before it has a relation (kluis seals it), gets the key once its
signal went through signalling, and opens the section; another partner is refused; erasure
makes the section unopenable for everyone, and on SQLite the wrapped key is gone from the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from typing import Any

import nats
import pytest

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import KeyRequest, sign_request
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.keys import load_or_create_partner_keys, load_public_keys
from services.kluis.keystore import Keystore
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import JGZ, SCHOOL, child, publish_events, wait_until

pytestmark = pytest.mark.integration

CONCERN = {"concern": "canary-kluis-5b1e: zorgen over de thuissituatie"}


async def _kluis_ready(url: str, data_dir: Any) -> bool:
    if load_public_keys(data_dir, "kluis") is None:
        return False
    keys = load_or_create_partner_keys(data_dir, SCHOOL.partner)
    request = KeyRequest(
        partner=SCHOOL.partner, child=child(0), purpose=Purpose.IDENTITY, scope=SCHOOL.partner
    )
    nc = await nats.connect(url)
    try:
        await nc.request("ketenbus.kluis.key", sign_request(request, keys.signing), timeout=5)
        return True
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    finally:
        await nc.close()


async def _with_keyring(url: str, data_dir: Any, partner: str, work: Any) -> Any:
    nc = await nats.connect(url)
    try:
        keyring = Keyring.for_partner(data_dir, partner, nc, refusal_ttl=0.0)
        return await work(keyring)
    finally:
        await nc.close()


def with_keyring(backbone: Backbone, partner: str, work: Any) -> Any:
    return asyncio.run(_with_keyring(backbone.url, backbone.settings.data_dir, partner, work))


def outcome(backbone: Backbone, partner: str, token: str, event_id: uuid.UUID) -> Any:
    """The opened section, or the refusal code."""

    async def work(keyring: Keyring) -> Any:
        try:
            return await keyring.open_token(token, event_id=event_id)
        except KeyRefusedError as refused:
            return refused.code

    return with_keyring(backbone, partner, work)


class KluisCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        backbone = start_backbone(settings, ["signalling", "kluis"])
        wait_until(
            lambda: asyncio.run(_kluis_ready(backbone.url, settings.data_dir)),
            what="kluis answering",
        )
        return backbone

    def sealed_by_school_with_relation(self, backbone: Backbone, kid: str) -> tuple[str, uuid.UUID]:
        """A signalling section the school sealed before signalling, and its event id."""
        event_id = uuid.uuid4()

        async def seal_it(keyring: Keyring) -> str:
            sealed = await keyring.seal_sections(
                {Purpose.SIGNALLING: CONCERN}, child=kid, event_id=event_id
            )
            return sealed[Purpose.SIGNALLING]

        token = with_keyring(backbone, SCHOOL.partner, seal_it)
        publish_events(backbone.url, [signal(SCHOOL, child=kid)], backbone.settings.data_dir)
        wait_until(
            lambda: isinstance(outcome(backbone, SCHOOL.partner, token, event_id), dict),
            what="the school's relation",
        )
        return token, event_id

    def test_a_section_sealed_before_the_signal_opens_for_the_signaller_after_it(
        self, backbone: Backbone
    ) -> None:
        kid = child(11)
        event_id = uuid.uuid4()

        async def seal_it(keyring: Keyring) -> str:
            sealed = await keyring.seal_sections(
                {Purpose.SIGNALLING: CONCERN}, child=kid, event_id=event_id
            )
            return sealed[Purpose.SIGNALLING]

        token = with_keyring(backbone, SCHOOL.partner, seal_it)
        before = outcome(backbone, SCHOOL.partner, token, event_id)
        publish_events(backbone.url, [signal(SCHOOL, child=kid)], backbone.settings.data_dir)
        after = wait_until(
            lambda: (
                (o := outcome(backbone, SCHOOL.partner, token, event_id)) != "no-relation" and o
            ),
            what="the school's relation",
        )

        assert ("no-relation", CONCERN) == (before, after)
        assert "canary-kluis" not in token

    def test_a_request_that_is_not_a_signed_jws_gets_a_refusal_not_silence(
        self, backbone: Backbone
    ) -> None:
        async def ask(body: bytes) -> dict[str, Any]:
            nc = await nats.connect(backbone.url)
            try:
                reply = await nc.request("ketenbus.kluis.key", body, timeout=5)
            finally:
                await nc.close()
            return json.loads(reply.data)  # type: ignore[no-any-return]

        answers = [
            asyncio.run(ask(body))
            for body in (b'{"partner": "bs-de-regenboog", "op": "key"}', b"not-a-jws", b"[[[")
        ]

        assert [False, False, False] == [answer["ok"] for answer in answers]
        assert all(answer["refusal"]["code"] for answer in answers)

    def test_a_partner_without_a_signal_on_the_child_is_refused(self, backbone: Backbone) -> None:
        kid = child(12)
        token, event_id = self.sealed_by_school_with_relation(backbone, kid)

        assert "no-relation" == outcome(backbone, JGZ.partner, token, event_id)

    def test_erasure_makes_the_section_unopenable_and_logs_the_releases(
        self, backbone: Backbone
    ) -> None:
        kid = child(13)
        token, event_id = self.sealed_by_school_with_relation(backbone, kid)
        keystore = Keystore.open(backbone.settings)
        try:
            deleted = keystore.erase(kid)
            records = keystore.records(data_subject=kid)
        finally:
            keystore.close()

        assert 1 == deleted
        assert "child-erased" == outcome(backbone, SCHOOL.partner, token, event_id)
        assert {
            ("bs-de-regenboog", "seal", "released"),
            ("bs-de-regenboog", "release", "released"),
        } <= {(r.requester, r.operation.value, r.decision.value) for r in records}


class TestKluisSqlite(KluisCase):
    store = "sqlite"

    def test_erasure_removes_the_wrapped_key_from_the_sqlite_file(self, backbone: Backbone) -> None:
        kid = child(14)
        self.sealed_by_school_with_relation(backbone, kid)
        path = backbone.settings.store_dir / "kluis-keys.sqlite"
        with sqlite3.connect(path) as conn:
            [(wrapped,)] = conn.execute(
                "SELECT wrapped FROM kluis_scoped_keys WHERE child = ?", (kid,)
            ).fetchall()
        keystore = Keystore.open(backbone.settings)
        try:
            keystore.erase(kid)
        finally:
            keystore.close()

        still_there = bytes(wrapped) in path.read_bytes()
        assert False is still_there


@pytest.mark.postgres
class TestKluisPostgres(KluisCase):
    store = "postgres"

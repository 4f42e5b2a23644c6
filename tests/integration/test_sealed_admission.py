"""A partner cannot put sections on the backbone that nobody can open, or another event's or
another child's: over a real nats-server under the registry's authorization
(`KETENBUS_NATS_AUTH=registry`), the school publishes on its own NATS user, signed with its own
key, signals whose one section is a fake token, a section replayed from another event, one sealed
for another child, one under a purpose a signal does not carry, one under A128GCM. Each is
dead-lettered by the signalling service with its reason and answered `refused` with that reason
on the school's receipt; the valid signal published after each is recorded. Ingress (`ketenbus
publish`) refuses a fake section the same way before anything is published."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ketenbus_contracts.signing import sign_event
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.runtime.ingress import IngressRefusedError, publish_inbound
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.integration.helpers import child, feed_items, wait_until
from tests.integration.test_poison import audited, recorded_subjects, signalled
from tests.unit.test_sealed_admission import SCHOOL, attacks, valid

pytestmark = pytest.mark.integration


class SealedAdmissionCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["signalling"])

    def test_bad_sections_are_dead_lettered_with_their_reason_and_valid_signals_go_on(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
        load_or_create_partner_keys(settings.data_dir, "kluis")  # what dead letters are sealed to
        bad = attacks(child(400))
        after = [valid(child(500 + n)) for n in range(len(bad))]

        async def as_the_school() -> list[Any]:
            nc = await partner_connect(settings, SCHOOL.partner, url)
            try:
                js = nc.jetstream()
                for attack, good in zip(bad.values(), after, strict=True):
                    await publish_signed(js, attack, keys)
                    await publish_signed(js, good, keys)
                return await feed_items(nc, SCHOOL.partner, 2 * len(bad), lambda i: i.is_receipt)
            finally:
                await nc.close()

        receipts = [r.body for r in asyncio.run(as_the_school())]

        kids = {event.subject for event in after}
        wait_until(
            lambda: kids <= recorded_subjects(signalled(settings, url)), what="the valid signals"
        )
        letters = [json.loads(m.data) for m in audited(settings, url, "DEADLETTER")]
        assert [(code, "signalling", SCHOOL.partner) for code in bad] == [
            (letter["reason"], letter["service"], letter["partner"]) for letter in letters
        ]
        assert [
            [{"loc": f"data.sealed.{next(iter(e.data.sealed))}", "type": c}] for c, e in bad.items()
        ] == [letter["details"] for letter in letters]
        told = {r["event_id"]: (r["status"], r.get("reason")) for r in receipts}
        assert {str(e.id): ("refused", code) for code, e in bad.items()} | {
            str(e.id): ("accepted", None) for e in after
        } == told
        assert child(400) not in recorded_subjects(signalled(settings, url))

    def test_ingress_refuses_a_fake_section_before_publishing_and_answers_the_school(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
        load_or_create_partner_keys(settings.data_dir, "kluis")
        fake = sign_event(attacks(child(401))["malformed-section"], keys)

        with pytest.raises(IngressRefusedError) as refused:
            asyncio.run(publish_inbound(url, SCHOOL.partner, fake.to_bytes(), None, settings))

        async def receipts() -> list[Any]:
            nc = await partner_connect(settings, SCHOOL.partner, url)
            try:
                return await feed_items(nc, SCHOOL.partner, 1, lambda i: i.is_receipt)
            finally:
                await nc.close()

        assert "malformed-section" == refused.value.code
        assert "data.sealed.signalling" in str(refused.value)
        [letter] = [json.loads(m.data) for m in audited(settings, url, "DEADLETTER")]
        assert ("malformed-section", "ingress") == (letter["reason"], letter["service"])
        [receipt] = [r.body for r in asyncio.run(receipts())]
        assert ("refused", "malformed-section", str(fake.id)) == (
            receipt["status"],
            receipt["reason"],
            receipt["event_id"],
        )
        assert [] == audited(settings, url, "INBOUND")


class TestSealedAdmissionOnSQLite(SealedAdmissionCase):
    store = "sqlite"

"""The pupil from 16 consents to their own handover themselves, end to end over a real
nats-server under the registry's authorization (`KETENBUS_NATS_AUTH=registry`): the school links
the pupil's own account (role pupil) to the pupil's record with `parent-linked` over its own NATS
user, the plan service records it on PLAN, the handover service reads it there; the pupil's
answers go as the web app publishes them (the pupil's own NATS user, signed with its key). The
attacks closed, each refused on the publisher's receipt with nothing on HANDOVER: the pupil's
account answering for another child, the pupil answering where it is under 16 (the parents
decide), a linked parent's account posing as the pupil."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.integral_plan.portal import NatsPortal
from services.runtime import nats_auth
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import PARENT, PUPIL, parent_linked
from tests.integration.helpers import eventually, feed_items
from tests.unit.test_handover_application import OTHER_CHILD, SENDER, Story
from tests.unit.test_handover_pupil_consent import answer, withdrawal

pytestmark = pytest.mark.integration

PLANNED = date(2027, 8, 1)  # after the services' clock


async def _idle(nc: Any, stream: str, durable: str) -> bool:
    info = await nc.jetstream().consumer_info(stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _count(nc: Any, event: str, stream: str = "HANDOVER") -> int:
    subjects = f"ketenbus.{stream.lower()}.{event}.>"
    info = await nc.jetstream().stream_info(stream, subjects_filter=subjects)
    return sum((info.state.subjects or {}).values())


async def _links_taken(nc: Any) -> bool:
    """Both links are on PLAN (the plan service recorded them) and the handover read them."""
    return await _count(nc, "parent-linked", "PLAN") == 2 and await _idle(nc, "PLAN", "handover")


class PupilConsentCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["integral-plan", "handover"])

    def test_the_linked_pupil_consents_and_the_attacks_are_refused(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        mine = Story("vo-so", pupil_decides=True)
        young = Story("vo-so", pupil_decides=False)
        other = Story("vo-so", pupil_decides=True)

        async def story() -> tuple[list[Any], list[Any], int, int]:
            school_nc = await partner_connect(settings, SENDER, url)
            pupil_nc = await partner_connect(settings, PUPIL, url)
            parent_nc = await partner_connect(settings, PARENT, url)
            operator = await nats_auth.connect(settings, nats_auth.SUPERVISOR_USER, url)
            try:
                school = load_or_create_partner_keys(settings.data_dir, SENDER)
                events: list[CloudEvent[Any]] = [
                    parent_linked(SENDER, PUPIL, consent_on=date(2026, 9, 1)),
                    parent_linked(SENDER, PARENT, consent_on=date(2026, 9, 1)),
                    *(s.started(planned_on=PLANNED) for s in (mine, young)),
                    other.started(planned_on=PLANNED).model_copy(update={"subject": OTHER_CHILD}),
                    *(step for s in (mine, young) for step in (s.prepared(), s.viewed())),
                ]
                for event in events:
                    await publish_signed(school_nc.jetstream(), event, school)
                await eventually(lambda: _links_taken(operator), "the links at the handover")
                await eventually(
                    lambda: _idle(operator, "INBOUND", "handover"), "the school's handovers"
                )
                # The web app publishes for whoever logged in over their own NATS user.
                portal = NatsPortal(
                    school_nc,
                    settings.data_dir,
                    SENDER,
                    connect_as=lambda p: partner_connect(settings, p, url),
                )
                await portal.publish_as_parent(answer(other, child=OTHER_CHILD), PUPIL)
                await portal.publish_as_parent(answer(young), PUPIL)
                # The web app waits for the receipt on the account's own receipts consumer.
                told = await portal.publish_as_parent(answer(mine, by=PARENT), PARENT, 30)
                await portal.publish_as_parent(answer(mine), PUPIL)
                await portal.publish_as_parent(withdrawal(mine), PUPIL)
                pupils = await feed_items(pupil_nc, PUPIL, 4, lambda item: item.is_receipt)
                parents = await feed_items(parent_nc, PARENT, 1, lambda item: item.is_receipt)
                assert told is not None
                assert ("refused", "not-a-linked-parent") == (told.status, told.reason)
                return (
                    [r.body for r in pupils],
                    [r.body for r in parents],
                    await _count(operator, "consent-recorded"),
                    await _count(operator, "consent-withdrawn"),
                )
            finally:
                for nc in (school_nc, pupil_nc, parent_nc, operator):
                    await nc.close()

        pupils, parents, recorded, withdrawn = asyncio.run(story())

        assert [
            ("refused", "not-the-linked-pupil"),
            ("refused", "pupil-not-deciding"),
            ("accepted", None),
            ("accepted", None),
        ] == [(r["status"], r.get("reason")) for r in pupils]
        assert [("refused", "not-a-linked-parent")] == [(r["status"], r["reason"]) for r in parents]
        assert (1, 1) == (recorded, withdrawn)


class TestPupilConsentOnSQLite(PupilConsentCase):
    store = "sqlite"


class TestPupilConsentOnPostgres(PupilConsentCase):
    store = "postgres"

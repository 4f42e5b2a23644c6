"""The pupil's own account is linked to their record from 16 only, and from then objects as the
parents can, end to end over a real nats-server under the registry's authorization
(`KETENBUS_NATS_AUTH=registry`): the school links over its own NATS user, stating the pupil's age
band (never the birth date); the plan service refuses a link under 16 or without an age band on
the school's receipt (`pupil-too-young`), nothing of it on PLAN, and records the one from 16. The
linked pupil's objection (its own NATS user, signed with its key) is recorded on PLAN."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.runtime import nats_auth
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import PO, PUPIL, WIJKTEAM, joined, objection, parent_linked
from tests.integration.helpers import eventually, feed_items

pytestmark = pytest.mark.integration


async def _count(nc: Any, event: str) -> int:
    info = await nc.jetstream().stream_info("PLAN", subjects_filter=f"ketenbus.plan.{event}.>")
    return sum((info.state.subjects or {}).values())


class PupilLinkCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["integral-plan"])

    def test_a_pupil_under_16_is_not_linked_and_one_from_16_objects(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url

        async def story() -> tuple[list[Any], list[Any], int, int]:
            school_nc = await partner_connect(settings, PO, url)
            team_nc = await partner_connect(settings, WIJKTEAM.partner, url)
            pupil_nc = await partner_connect(settings, PUPIL, url)
            operator = await nats_auth.connect(settings, nats_auth.SUPERVISOR_USER, url)
            try:
                school = load_or_create_partner_keys(settings.data_dir, PO)
                team = load_or_create_partner_keys(settings.data_dir, WIJKTEAM.partner)
                await publish_signed(
                    team_nc.jetstream(), joined(WIJKTEAM, WIJKTEAM, date(2026, 9, 1)), team
                )
                for band in ("12-15", None, "16-22"):
                    link = parent_linked(PO, PUPIL, date(2026, 9, 1), pupil_age_band=band)
                    await publish_signed(school_nc.jetstream(), link, school)
                receipts = await feed_items(school_nc, PO, 3, lambda item: item.is_receipt)
                await eventually(lambda: _count(operator, "parent-linked"), "the pupil's link")
                objected = objection(WIJKTEAM.partner, by=PUPIL, account=PUPIL)
                pupil = load_or_create_partner_keys(settings.data_dir, PUPIL)
                await publish_signed(pupil_nc.jetstream(), objected, pupil)
                pupils = await feed_items(pupil_nc, PUPIL, 1, lambda item: item.is_receipt)
                await eventually(
                    lambda: _count(operator, "objection-recorded"), "the pupil's objection"
                )
                return (
                    [r.body for r in receipts],
                    [r.body for r in pupils],
                    await _count(operator, "parent-linked"),
                    await _count(operator, "objection-recorded"),
                )
            finally:
                for nc in (school_nc, team_nc, pupil_nc, operator):
                    await nc.close()

        links, objections, linked, recorded = asyncio.run(story())

        assert [
            ("refused", "pupil-too-young"),
            ("refused", "pupil-too-young"),
            ("accepted", None),
        ] == [(r["status"], r.get("reason")) for r in links]
        assert [("accepted", None)] == [(r["status"], r.get("reason")) for r in objections]
        assert (1, 1) == (linked, recorded)


class TestPupilLinkOnSQLite(PupilLinkCase):
    store = "sqlite"


class TestPupilLinkOnPostgres(PupilLinkCase):
    store = "postgres"

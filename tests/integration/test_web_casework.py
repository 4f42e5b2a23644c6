"""The web app's casework forms end to end over a real nats-server: what the forms publish
through the organisation's portal (sealed by kluis with the organisation's keys, signed as the
organisation, the person in it) is what the services take. The school releases a handover
after recording the parents' view (the three events in order: the handover service delivers
what may leave, without the category the parents opted out of); the school registers a signal
(the signalling service records it, the concern sealed). Nothing is dead-lettered."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import nats
import pytest

from ketenbus_contracts.handover import DossierDelivered
from ketenbus_contracts.signalling import SignalRegistered
from services.integral_plan.portal import NatsPortal
from services.integral_plan.web_casework import handover_form, signal_form
from services.integral_plan.web_forms import Draft, OnPlan, publish_draft
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.integration.helpers import publish_events, read_stream, stream_events, wait_until
from tests.unit.test_handover_application import CHILD, SENDER, Story

pytestmark = pytest.mark.integration

ACTOR = "mw-" + "3" * 24


async def _plan(url: str, backbone: Backbone) -> dict[str, Any] | None:
    nc = await nats.connect(server_list(url))
    try:
        return await NatsPortal(nc, backbone.settings.data_dir, SENDER).plan(CHILD)
    finally:
        await nc.close()


async def _send(url: str, backbone: Backbone, draft: Draft) -> list[Any]:
    """As the web app does: sealed with the organisation's keys, each event published."""
    nc = await nats.connect(server_list(url))
    try:
        return await publish_draft(NatsPortal(nc, backbone.settings.data_dir, SENDER), draft, CHILD)
    finally:
        await nc.close()


def dead_letters(url: str) -> list[str]:
    return [json.loads(data)["reason"] for _, data, _ in read_stream(url, "DEADLETTER")]


@pytest.mark.backbone("handover", "integral-plan", "kluis")
class TestHandoverFormOnSQLite(StoreBackend):
    def test_the_school_releases_the_dossier_without_what_the_parents_opted_out_of(
        self, backbone: Backbone
    ) -> None:
        url, story = backbone.url, Story("po-vo")
        publish_events(
            url,
            [story.started(planned_on=date(2027, 8, 1)), story.prepared(), story.requested()],
            backbone.settings.data_dir,
        )

        def requested() -> dict[str, Any] | None:
            plan = asyncio.run(_plan(url, backbone))
            handovers = (plan or {}).get("handovers", [])
            return plan if handovers and handovers[0].get("requested_on") else None

        plan = wait_until(requested, what="the plan to show the dossier requested")
        today = date.today()
        on = OnPlan(plan, today, SENDER, ACTOR, str(story.id), "Intern begeleider")
        posted = {
            "ingezien": today.isoformat(),
            "akkoord": "nee",
            "reden": "Het verzuim van groep 7 hoort er niet bij.",
            "opt_uit": ["verzuim"],
            "vrijgeven": "ja",
            "kopie": today.isoformat(),
        }
        checked, draft = handover_form(posted, on)
        assert draft is not None, checked.errors
        sent = asyncio.run(_send(url, backbone, draft))

        [delivered] = wait_until(
            lambda: [e for e in stream_events(url, "HANDOVER") if isinstance(e, DossierDelivered)],
            what="the dossier delivered",
        )
        assert ["parents-viewed", "dossier-released"] == [type(e).name for e in sent]
        assert [ACTOR, ACTOR] == [e.ketenbusactor for e in sent]
        assert ["verzuim"] == [s.category for s in delivered.data.withheld if s.rule == "OPT-UIT"]
        assert "verzuim" not in [s.category for s in delivered.data.sections]
        assert today == delivered.data.parents_copy_on
        assert [] == dead_letters(url)


@pytest.mark.backbone("signalling", "kluis")
class TestSignalFormOnSQLite(StoreBackend):
    def test_a_signal_from_the_form_is_taken_by_the_signalling_service(
        self, backbone: Backbone
    ) -> None:
        url = backbone.url
        on = OnPlan({"child": CHILD}, date.today(), SENDER, ACTOR, "", "Intern begeleider")
        posted = {
            "zorg": ["gedrag"],
            "contact": "IB'er, 026-1234567",
            "geboortedatum": "2015-03-01",
        }
        checked, draft = signal_form(posted, on)
        assert draft is not None, checked.errors

        [sent] = asyncio.run(_send(url, backbone, draft))
        [recorded] = wait_until(
            lambda: [
                e for e in stream_events(url, "SIGNALLING") if isinstance(e, SignalRegistered)
            ],
            what="the signal recorded",
        )

        assert (sent.data.signal_id, SENDER, "4-11") == (
            recorded.data.signal_id,
            recorded.data.signaller.partner,
            recorded.data.age_band,
        )
        assert {"signalling", "identity"} == {p.value for p in sent.purposes}
        assert "gedrag" not in recorded.model_dump_json()  # the concern stays sealed
        assert [] == dead_letters(url)

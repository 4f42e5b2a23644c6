"""The parents act themselves, end to end over a real nats-server: the school links the
parent's account (the plan service records it and publishes it on PLAN, which the handover
service reads); the web app's portal publishes the parent's consent and objection as the
parent's own account, signed with its key. A dossier does not go on consent withdrawn; an
objection reaches the plan for the organisation objected to; the parent's answer on the OPP's
handelingsdeel is recorded by the arrangements service (which reads the links from PLAN too).
The attacks closed: the same parent's consent, objection or answer for a child not linked to
them is refused (dead-lettered as `NotALinkedParentError`) and changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import nats
import pytest

import demo.arrangements as ev
from ketenbus_contracts.arrangements import HandelingsdeelConsented
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import ConsentRecorded, ConsentWithdrawn, DossierDelivered
from ketenbus_contracts.plan import ObjectionRecorded, ParentLinked
from services.integral_plan.portal import NatsPortal
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.events import PARENT, PO, objection, parent_linked
from tests.integration.helpers import (
    consumer_idle,
    publish_events,
    read_stream,
    stream_events,
    wait_until,
)
from tests.unit.test_handover_application import CHILD, OTHER_CHILD, SENDER, Story
from tests.unit.test_handover_parents_consent import consent, withdrawal

pytestmark = pytest.mark.integration


async def _as_parent(url: str, backbone: Backbone, event: CloudEvent[Any]) -> None:
    nc = await nats.connect(server_list(url))
    try:
        await NatsPortal(nc, backbone.settings.data_dir, PO).publish_as_parent(event, PARENT)
    finally:
        await nc.close()


def dead_letters(url: str, service: str = "handover") -> list[str]:
    return [
        json.loads(data)["reason"]
        for _, data, _ in read_stream(url, "DEADLETTER", f"ketenbus.deadletter.{service}")
    ]


def of_type(url: str, kind: type, stream: str = "HANDOVER") -> list[Any]:
    return [e for e in stream_events(url, stream) if isinstance(e, kind)]


@pytest.mark.backbone("handover", "integral-plan", "arrangements")
class TestParentsConsentOnSQLite(StoreBackend):
    def test_a_linked_parent_consents_and_withdraws_and_the_dossier_does_not_go(
        self, backbone: Backbone
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        publish_events(url, [parent_linked(PO, consent_on=date(2026, 4, 1), child=CHILD)], data_dir)
        wait_until(
            lambda: (
                any(isinstance(e, ParentLinked) for e in stream_events(url, "PLAN"))
                and consumer_idle(url, "PLAN", "handover")
            ),
            what="the link to reach the handover service",
        )
        mine, other = Story("ko-po"), Story("ko-po")
        planned = date(2027, 8, 1)  # after the services' clock: today
        steps = [mine.started(planned_on=planned), mine.prepared(), mine.viewed(), mine.requested()]
        other_started = other.started(planned_on=planned).model_copy(
            update={"subject": OTHER_CHILD}
        )
        publish_events(url, [*steps, other_started], data_dir)
        wait_until(lambda: consumer_idle(url, "INBOUND", "handover"), what="the handovers")

        asyncio.run(_as_parent(url, backbone, consent(other, child=OTHER_CHILD)))
        asyncio.run(_as_parent(url, backbone, consent(mine)))
        wait_until(lambda: of_type(url, ConsentRecorded), what="the parent's consent")
        asyncio.run(_as_parent(url, backbone, withdrawal(mine)))
        wait_until(lambda: of_type(url, ConsentWithdrawn), what="the withdrawal")
        publish_events(url, [mine.released()], data_dir)
        reasons = wait_until(lambda: len(dead_letters(url)) >= 2 and dead_letters(url))

        assert ["NotALinkedParentError", "ConsentMissingError"] == reasons
        assert [mine.id] == [e.data.handover_id for e in of_type(url, ConsentRecorded)]
        assert [] == of_type(url, DossierDelivered)
        inbound = [e for e in stream_events(url, "INBOUND") if e.source == PARENT]
        assert 3 == len(inbound)
        assert all((e.ketenbussig or "").count(".") == 2 for e in inbound)

        # The objection: against the sender, a party on the linked child's plan by its handover.
        asyncio.run(_as_parent(url, backbone, objection(SENDER, child=OTHER_CHILD)))
        objected = objection(SENDER)
        asyncio.run(_as_parent(url, backbone, objected))
        [recorded] = wait_until(lambda: of_type(url, ObjectionRecorded, "PLAN"), what="objection")
        refusals = wait_until(lambda: dead_letters(url, "integral-plan"), what="the refusal")

        assert (objected.data.objection_id, SENDER) == (
            recorded.data.objection_id,
            recorded.data.partner,
        )
        assert ["NotALinkedParentError"] == refusals

        # The OPP's handelingsdeel: the parent agrees as their account, for the linked child.
        opps = [
            ev.opp(c, date(2026, 11, 20), [date(2027, 2, 1)], consent="pending")
            for c in (CHILD, OTHER_CHILD)
        ]
        publish_events(url, opps, data_dir)
        wait_until(lambda: consumer_idle(url, "INBOUND", "arrangements"), what="the OPPs")
        for opp in reversed(opps):
            answer = ev.handelingsdeel(opp.subject, opp.data.opp_id, date(2026, 11, 25))
            asyncio.run(_as_parent(url, backbone, answer.model_copy(update={"source": PARENT})))
        [agreed] = wait_until(
            lambda: of_type(url, HandelingsdeelConsented, "ARRANGEMENTS"), what="the answer"
        )
        refusals = wait_until(lambda: dead_letters(url, "arrangements"), what="the refusal")

        assert (CHILD, opps[0].data.opp_id, True) == (
            agreed.subject,
            agreed.data.opp_id,
            agreed.data.granted,
        )
        assert ["NotALinkedParentError"] == refusals

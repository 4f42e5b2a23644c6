"""Passend onderwijs across services, under the embedded server's authorization: a child with an
OPP at its primary school is aangemeld at a secondary school, and the handover starts by itself
(arrangements records handover-needed, the handover service reads it with its own NATS user).
A school cannot start one that way itself: its handover-needed is not a contract it may publish.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from demo import arrangements as ev
from demo.arrangements import wait_for
from ketenbus_contracts.arrangements import HandoverNeeded, HandoverNeededData
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import Organisation
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.runtime.nats_auth import SUPERVISOR_USER, Connections
from services.runtime.settings import Settings
from services.runtime.streams import DEADLETTER, HANDOVER, deadletter_subject
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone
from tests.integration.helpers import child, feed_items

pytestmark = pytest.mark.integration

VO = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")


@pytest.fixture
def backbone(tmp_path: Path, start_backbone: StartBackbone) -> Backbone:
    settings = Settings(data_dir=tmp_path / "data", nats_auth="registry")
    return start_backbone(settings, ["arrangements", "handover"])


def test_a_child_with_an_opp_aangemeld_at_another_school_gets_its_handover_started_by_itself(
    backbone: Backbone,
) -> None:
    kid, today = child(71), date.today()
    aanmelding = ev.aanmelding(kid, today, school=VO, transition="po-vo")
    # The school tries to start one the backbone's way, for another child: not its contract.
    forged = HandoverNeeded.create(
        source=ev.SCHOOL.partner,
        subject=child(72),
        data=HandoverNeededData(
            handover_id=aanmelding.data.aanmelding_id,
            aanmelding_id=aanmelding.data.aanmelding_id,
            transition="po-vo",
            sender=Organisation(partner=ev.SCHOOL.partner, contact="IB"),
            receiver=VO.partner,
            planned_on=today,
            because=["opp"],
        ),
    )
    opp = ev.opp(kid, today, [date(today.year + 1, 3, 1)])

    async def scenario() -> tuple[CloudEvent[Any], dict[str, Any]]:
        settings = backbone.settings
        async with Connections(settings, backbone.url) as conns:
            for event in (opp, aanmelding, forged):
                keys = load_or_create_partner_keys(settings.data_dir, event.source)
                nc = await conns.partner(event.source)
                await publish_signed(nc.jetstream(), event, keys)
            supervisor = await conns.user(SUPERVISOR_USER)
            started = await wait_for(
                supervisor, "handover-started", lambda e: e.subject == kid, stream=HANDOVER
            )
            dead = await supervisor.jetstream().get_last_msg(
                DEADLETTER.name, deadletter_subject("arrangements")
            )
            return started, json.loads(dead.data or b"{}")

    handover, dead = asyncio.run(scenario())

    assert (kid, "po-vo", ev.SCHOOL.partner, VO.partner, True) == (
        handover.subject,
        handover.data.transition,
        handover.data.sender.partner,
        handover.data.receiver,
        handover.data.automatic,
    )
    assert ("unknown-type", "in.bs-de-regenboog.arrangements.handover-needed") == (
        dead["reason"],
        dead["subject"],
    )


@pytest.fixture
def with_feed(tmp_path: Path, start_backbone: StartBackbone) -> Backbone:
    settings = Settings(data_dir=tmp_path / "data", nats_auth="registry")
    return start_backbone(settings, ["arrangements", "handover", "feed"])


def test_the_school_the_child_is_aangemeld_at_reads_the_handover_that_started_by_itself(
    with_feed: Backbone,
) -> None:
    # With its own NATS credentials, on its own feed: before it had no relation with the child
    # and never learned of the handover it is to ask the dossier for.
    kid, today = child(73), date.today()
    opp = ev.opp(kid, today, [date(today.year + 1, 3, 1)])
    aanmelding = ev.aanmelding(kid, today, school=VO, transition="po-vo")

    async def scenario() -> list[Any]:
        settings = with_feed.settings
        async with Connections(settings, with_feed.url) as conns:
            for event in (opp, aanmelding):
                keys = load_or_create_partner_keys(settings.data_dir, event.source)
                nc = await conns.partner(event.source)
                await publish_signed(nc.jetstream(), event, keys)
            vo = await conns.partner(VO.partner)
            return await feed_items(
                vo, VO.partner, 1, lambda item: item.subject.endswith("handover-started")
            )

    [started] = asyncio.run(scenario())

    assert (kid, True, VO.partner) == (
        started.body["subject"],
        started.body["data"]["automatic"],
        started.body["data"]["receiver"],
    )

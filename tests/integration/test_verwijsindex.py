"""The demo story as the Verwijsindex rules (Jeugdwet afdeling 7.1) allow, on a real
nats-server under the registry's authorization, every partner on its own NATS user.

The school sees its own concern and, after the match, that the JGZ signalled too and how to
reach it; the JGZ's sections stay closed to it: the plan service does not hand them out, and
when the school holds the JGZ's signal anyway (its bytes from the stream), kluis gives it no
key to open them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from demo.story import JGZ, SCHOOL, Story, run_scenario
from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import SignalRegistered
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from services import registry
from services.integral_plan.present import format_plan
from services.runtime.nats_auth import SUPERVISOR_USER, Connections, credential_source
from services.runtime.settings import Settings
from services.runtime.streams import SIGNALLING
from services.runtime.supervisor import Backbone
from tests.backbone import InProcessBackbone
from tests.conftest import StoreBackend

pytestmark = pytest.mark.integration

JGZ_NOTES = "Zorgen over slapen en eten"


class TestDemoVerwijsindex(StoreBackend):
    @pytest.fixture(scope="class")
    def story(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Story, Any]]:
        data_dir = tmp_path_factory.mktemp("verwijsindex") / "data"
        settings = Settings(data_dir=data_dir, store="sqlite", nats_auth="registry")
        with InProcessBackbone(settings, list(registry.SERVICES)) as backbone:
            story = asyncio.run(
                run_scenario(backbone.url, data_dir, credentials=credential_source(settings))
            )
            attack = asyncio.run(_school_opens_the_jgz_signal(backbone, story.child))
            yield story, attack

    def test_the_school_sees_its_own_concern_and_the_jgz_only_as_whom_to_call(
        self, story: tuple[Story, Any]
    ) -> None:
        school = _view(story[0], SCHOOL.partner)

        own, jgz = school["signals"]
        jgz_contact = next(c for c in school["match"]["contacts"] if c["partner"] == JGZ.partner)

        assert (SCHOOL.partner, ["taalontwikkeling"]) == (
            own["partner"],
            own["opened"]["signalling"]["concern"],
        )
        assert (JGZ.partner, "with-signaller", {}, {}) == (
            jgz["partner"],
            jgz["concern"],
            jgz["opened"],
            jgz["refused"],
        )
        assert ("Consultatiebureau Huissen", "088-0000002") == (
            jgz_contact["vindplaats"],
            jgz_contact["phone"],
        )
        assert JGZ_NOTES not in format_plan(school)

    # Keys per (child, purpose, scope): the school's own signal opens only its own scope.
    def test_the_demo_school_cannot_open_the_jgzs_signalling_sections(
        self, story: tuple[Story, Any]
    ) -> None:
        refused = story[1]

        assert ("signalling", "scope-not-permitted") == (refused["purpose"], refused["code"])
        assert None is refused["opened"]

    def test_the_municipal_coordinator_sees_the_match_and_no_concern(
        self, story: tuple[Story, Any]
    ) -> None:
        wijkteam = _view(story[0], "wijkteam-lingewaard")

        assert [SCHOOL.partner, JGZ.partner] == wijkteam["match"]["partners"]
        assert [{}, {}] == [s["opened"] for s in wijkteam["signals"]]
        assert JGZ_NOTES not in format_plan(wijkteam)


async def _signal_of(nc: NatsClient, child: str, partner: str) -> SignalRegistered:
    """`partner`'s recorded signal on `child`, from the SIGNALLING stream."""
    subject, seq = SignalRegistered.outbound_subject(), 1
    while True:
        msg = await nc.jetstream().get_msg(SIGNALLING.name, seq, subject=subject, next=True)
        event = parse_event(msg.data or b"")
        if isinstance(event, SignalRegistered) and event.subject == child:  # noqa: SIM102
            if event.data.signaller.partner == partner:
                return event
        seq = (msg.seq or seq) + 1


def _view(story: Story, reader: str) -> dict[str, Any]:
    return next(v for v in story.views if v["reader"] == reader)


async def _school_opens_the_jgz_signal(backbone: Backbone, child: str) -> dict[str, Any]:
    """The school, on its own NATS user, asks kluis for the key of the JGZ's signalling
    section (the bytes read from the stream by the backbone, as if they had leaked)."""
    async with Connections(backbone.settings, backbone.url) as conns:
        jgz_signal = await _signal_of(await conns.user(SUPERVISOR_USER), child, JGZ.partner)
        school = Keyring.for_partner(
            backbone.settings.data_dir,
            SCHOOL.partner,
            await conns.partner(SCHOOL.partner),
            refusal_ttl=0,
        )
        token = jgz_signal.data.sealed[Purpose.SIGNALLING]
        try:
            opened = await school.open_token(token, event_id=uuid.UUID(str(jgz_signal.id)))
        except KeyRefusedError as exc:
            return {"purpose": exc.purpose.value, "code": exc.code, "opened": None}
        return {"purpose": "signalling", "code": None, "opened": opened}

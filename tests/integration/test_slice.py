"""The first slice end to end: real nats-server, the services, SQLite and PostgreSQL stores.

The services run as tasks of the test process, except where a service is killed: there they
are processes and the kill is a SIGKILL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from typing import Any

import pytest

from ketenbus_contracts.sealing import decrypt_from
from ketenbus_contracts.signalling import MatchFound, SignalRegistered
from ketenbus_contracts.signing import SIGNATURE_FIELD, sign_envelope
from ketenbus_partner.keys import load_or_create_partner_keys
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.bootstrap import create_application as create_plan_application
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.events import signal
from tests.integration.helpers import (
    CHILDCARE,
    JGZ,
    SCHOOL,
    child,
    consumer_idle,
    publish_all,
    publish_events,
    query_plan,
    read_stream,
    signed_items,
    stream_events,
    subject_counts,
    wait_until,
)

SERVICES = ["signalling", "integral-plan", "kluis"]

pytestmark = [pytest.mark.integration, pytest.mark.backbone(*SERVICES)]


def rebuilt_plans(url: str) -> dict[str, dict[str, Any]]:
    """Every plan rebuilt from scratch from the SIGNALLING stream, in memory."""
    app = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    children = []
    for event in stream_events(url, "SIGNALLING"):
        app.apply(event)
        children.append(event.subject)
    return {c: _comparable(app.plan_of(c)) for c in children}


def live_plans(settings: Settings, children: list[str]) -> dict[str, dict[str, Any]]:
    app = create_plan_application(settings)
    try:
        return {c: _comparable(app.plan_of(c)) for c in children}
    finally:
        app.close()


def _comparable(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plan.items() if k != "version"} | {"events": plan["version"]}


class SliceCase(StoreBackend):
    def test_two_partners_signalling_on_one_child_show_a_match_in_the_plan(
        self, backbone: Backbone
    ) -> None:
        kid = child(1)
        publish_events(
            backbone.url,
            [signal(SCHOOL, child=kid), signal(JGZ, child=kid)],
            backbone.settings.data_dir,
        )

        plan = wait_until(
            lambda: (p := query_plan(backbone, kid)) and p["match"] and p,
            what="a match in the plan",
        )

        assert ["bs-de-regenboog", "jgz-gelderland-zuid"] == plan["match"]["partners"]
        assert ["bs-de-regenboog", "jgz-gelderland-zuid"] == [p["partner"] for p in plan["parties"]]
        types = [type(e) for e in stream_events(backbone.url, "SIGNALLING")]
        # Besides these, signalling publishes parents-informed and coordinator-assigned.
        assert [SignalRegistered, SignalRegistered, MatchFound] == [
            t for t in types if t in (SignalRegistered, MatchFound)
        ]

    def test_a_poison_message_between_two_valid_ones_loses_neither(
        self, backbone: Backbone
    ) -> None:
        kid = child(2)
        data_dir = backbone.settings.data_dir
        first, second = signed_items(
            data_dir, [signal(SCHOOL, child=kid), signal(CHILDCARE, child=kid)]
        )
        # Signed by the school, but no event: its signature holds, its content does not.
        envelope = {"specversion": "1.0", "type": "nl.ketenbus.signalling.signal-registered.v1"}
        envelope |= {"source": SCHOOL.partner}
        school = load_or_create_partner_keys(data_dir, SCHOOL.partner)
        envelope[SIGNATURE_FIELD] = sign_envelope(envelope, school.signing, SCHOOL.partner)
        poison = json.dumps(envelope).encode()
        asyncio.run(
            publish_all(
                backbone.url,
                [first, ("in.bs-de-regenboog.signalling.signal-registered", poison, None), second],
            )
        )

        plan = wait_until(
            lambda: (p := query_plan(backbone, kid)) and p["match"] and p,
            what="both valid signals in the plan",
        )
        assert 2 == len(plan["signals"])
        [(_, payload, headers)] = read_stream(backbone.url, "DEADLETTER")
        dead = json.loads(payload)
        assert ("signalling", "invalid-event", 2) == (
            dead["service"],
            dead["reason"],
            dead["stream_seq"],
        )
        assert {"id", "subject", "data"} <= {d["loc"] for d in dead["details"]}
        kluis = load_or_create_partner_keys(backbone.settings.data_dir, "kluis")
        opened = decrypt_from(dead["original"]["jwe"], kluis.encryption)
        assert poison == base64.b64decode(opened["original_b64"])
        assert "invalid-event" == headers["Ketenbus-Reason"]

    def test_unsigned_and_altered_events_are_dead_lettered_and_the_signed_around_them_go_on(
        self, backbone: Backbone
    ) -> None:
        kid, url, data_dir = child(4), backbone.url, backbone.settings.data_dir
        first, other, second = signed_items(
            data_dir,
            [signal(SCHOOL, child=kid), signal(SCHOOL, child=child(6)), signal(JGZ, child=kid)],
        )
        unsigned = signal(SCHOOL, child=child(5))
        altered = json.loads(other[1])
        altered["data"]["registered_on"] = "2026-01-01"  # changed after signing
        asyncio.run(
            publish_all(
                url,
                [
                    first,
                    (unsigned.inbound_subject(SCHOOL.partner), unsigned.to_bytes(), None),
                    (other[0], json.dumps(altered).encode(), None),
                    second,
                ],
            )
        )

        plan = wait_until(
            lambda: (p := query_plan(backbone, kid)) and p["match"] and p, what="the signed pair"
        )
        wait_until(lambda: consumer_idle(url, "INBOUND", "signalling"), what="signalling idle")
        letters = [json.loads(payload) for _, payload, _ in read_stream(url, "DEADLETTER")]
        assert "required" == backbone.settings.signatures  # the default
        assert [("missing-signature", "ketenbussig"), ("forged-signature", "ketenbussig")] == [
            (letter["reason"], letter["details"][0]["loc"]) for letter in letters
        ]
        assert 2 == len(plan["signals"])
        assert (None, None) == (query_plan(backbone, child(5)), query_plan(backbone, child(6)))

    def test_a_business_rule_refusal_is_dead_lettered_with_its_reason(
        self, backbone: Backbone
    ) -> None:
        kid = child(3)
        valid = signal(SCHOOL, child=kid)
        impostor = signal(JGZ, child=kid).model_copy(update={"source": "kdv-het-speelhuis"})
        publish_events(backbone.url, [valid, impostor], backbone.settings.data_dir)

        wait_until(lambda: consumer_idle(backbone.url, "INBOUND", "signalling"), what="idle")
        [(_, payload, _)] = read_stream(backbone.url, "DEADLETTER")
        assert "SignallerMismatchError" == json.loads(payload)["reason"]
        plan = wait_until(lambda: query_plan(backbone, kid), what="the plan")
        assert 1 == len(plan["signals"])

    @pytest.mark.backbone(*SERVICES, processes=True)
    def test_a_signalling_service_killed_mid_stream_loses_and_doubles_nothing(
        self, backbone: Backbone, settings: Settings
    ) -> None:
        rng = random.Random(7)
        children = [child(100 + n) for n in range(40)]
        events = [
            signal(rng.choice([SCHOOL, JGZ, CHILDCARE]), child=kid)
            for kid in children
            for _ in range(5)
        ]

        async def publish_while_killing() -> None:
            items = signed_items(backbone.settings.data_dir, events)
            await publish_all(backbone.url, items[:100])
            await asyncio.sleep(0.3)
            backbone.kill_service("signalling")
            await publish_all(backbone.url, items[100:])
            backbone.start_service("signalling")

        asyncio.run(publish_while_killing())

        def settled() -> bool:
            relayed = subject_counts(backbone.url, "SIGNALLING").get(
                SignalRegistered.outbound_subject(), 0
            )
            return relayed >= len(events) and consumer_idle(
                backbone.url, "SIGNALLING", "integral-plan"
            )

        wait_until(settled, what="both consumers to drain")
        backbone.stop_service("integral-plan")
        recorded = stream_events(backbone.url, "SIGNALLING")
        registered = [e for e in recorded if isinstance(e, SignalRegistered)]
        assert sorted(str(e.data.signal_id) for e in events) == sorted(
            str(e.data.signal_id) for e in registered
        )
        assert len(recorded) == len({e.id for e in recorded})
        assert rebuilt_plans(backbone.url) == live_plans(
            settings.model_copy(update={"nats_url": backbone.url}), children
        )


class TestSliceOnSQLite(SliceCase):
    store = "sqlite"


@pytest.mark.postgres
class TestSliceOnPostgres(SliceCase):
    store = "postgres"

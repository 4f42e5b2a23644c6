"""The integral plan on a real backbone: parties, sealed goals and actions, signed queries (NATS
and HTTP), worklists, the webhook bridge, handovers, arrangements and attendance from the other
domains' streams, rebuilding from the streams, and erasure.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.notificaties.bridge import Bridge
from adapters.notificaties.models import Abonnement
from adapters.notificaties.store import NotificatieStore
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionAgreedData,
    ActionDetails,
    GoalDetails,
    GoalSet,
    GoalSetData,
    Party,
    PartyJoined,
    PartyJoinedData,
    PlanQuery,
    sign_plan_query,
)
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import (
    SignalDetails,
    SignalRegistered,
)
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import query_plan
from ketenbus_partner.publish import DataDirKeys
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.portal import NatsPortal
from services.integral_plan.query import PlanAccess
from services.integral_plan.rebuild import rebuild, replay_events
from services.integral_plan.web import create_web_app
from services.integral_plan.web_forms import OnPlan, goal_form
from services.kluis.erasure import announce_erasure, destroy_keys
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.events import handover_started, signal, support_requested, thuiszitter_registered
from tests.integration.helpers import child, eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
SCHOOL = Party(partner="bs-de-regenboog", role="ib-er", contact="ib@regenboog.example")
JGZ = Party(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz@ggd.example")
WIJKTEAM = Party(partner="wijkteam-lingewaard", role="regisseur", contact="team@example")
OUTSIDER = "leerplicht-lingewaard"
GOAL = "Lotte gaat weer elke dag naar school."
ACTION = "Huisbezoek over slapen en eten."
ACTOR = "mw-" + "0" * 24  # a person of the wijkteam, as the web app names them
TODAY = datetime.now(UTC).date()


async def relay(nc: NatsClient, event: CloudEvent[Any]) -> None:
    """As the event's own service records and relays it (`ketenbus.<domain>.<event>.v1`)."""
    subject = event.outbound_subject()
    await nc.jetstream().publish(subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})


async def sealed_signal(keyring: Keyring, party: Party, kid: str, on: date) -> SignalRegistered:
    event_id = uuid.uuid4()
    details = SignalDetails(concern=["thuissituatie"], notes="Zorgen.")
    sealed = await keyring.seal(details, child=kid, event_id=event_id)
    return signal(party, on, kid, sealed=sealed, event_id=event_id)


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers["Authorization"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/zaaksysteem"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.backbone("signalling", "integral-plan", "kluis")
class IntegralPlanCase(StoreBackend):
    def test_a_plan_is_made_read_notified_rebuilt_and_erased(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        receiver = Receiver()
        try:
            asyncio.run(self.story(backbone, tmp_path, receiver))
        finally:
            receiver.server.shutdown()

    async def story(self, backbone: Backbone, tmp_path: Path, receiver: Receiver) -> None:
        kid = child(8008)
        nc = await nats.connect(server_list(backbone.url))
        store = NotificatieStore(tmp_path / "notificaties.db")
        bridge = Bridge(store, "https://ketenbus.example")
        store.subscribe(
            Abonnement.model_validate(
                {
                    "callbackUrl": receiver.url,
                    "auth": "Bearer zaaksysteem",
                    "kanalen": [{"naam": "plan"}, {"naam": "privacy"}],
                    "partner": WIJKTEAM.partner,
                }
            ),
            0,
        )
        stop = asyncio.Event()
        bridging = asyncio.create_task(bridge.run(nc, stop))
        try:
            await self.plan_story(nc, backbone, kid, receiver, store)
        finally:
            stop.set()
            await bridging
            store.close()
            await nc.close()

    async def plan_story(
        self,
        nc: NatsClient,
        backbone: Backbone,
        kid: str,
        receiver: Receiver,
        store: NotificatieStore,
    ) -> None:
        data_dir = backbone.settings.data_dir
        js, signer = nc.jetstream(), DataDirKeys(data_dir)  # every partner signs its events
        school, jgz, wijkteam = (
            Keyring.for_partner(data_dir, p.partner, nc) for p in (SCHOOL, JGZ, WIJKTEAM)
        )
        as_school = school.keys
        # Two signals make a match; the school brings the wijkteam in, which sets a goal and
        # agrees an action for the JGZ that is already over its date.
        await signer.publish(
            js, await sealed_signal(school, SCHOOL, kid, TODAY - timedelta(days=12))
        )
        await signer.publish(js, await sealed_signal(jgz, JGZ, kid, TODAY - timedelta(days=11)))
        await eventually(lambda: _plan_with(nc, kid, as_school, "match"), "the match on the plan")
        await signer.publish(
            js,
            PartyJoined.create(
                source=SCHOOL.partner,
                subject=kid,
                data=PartyJoinedData(party=WIJKTEAM, joined_on=TODAY - timedelta(days=10)),
            ),
        )
        await eventually(
            lambda: _party(nc, kid, as_school, WIJKTEAM.partner), "the wijkteam on the plan"
        )
        goal_id = uuid.uuid4()
        await signer.publish(
            js,
            GoalSet.create(
                id=goal_id,
                source=WIJKTEAM.partner,
                subject=kid,
                data=GoalSetData(
                    goal_id=uuid.uuid4(),
                    domain="onderwijs",
                    set_on=TODAY - timedelta(days=10),
                    sealed=await wijkteam.seal(GoalDetails(text=GOAL), child=kid, event_id=goal_id),
                ),
            ),
        )
        action_id = uuid.uuid4()
        await signer.publish(
            js,
            ActionAgreed.create(
                id=action_id,
                source=WIJKTEAM.partner,
                subject=kid,
                data=ActionAgreedData(
                    action_id=uuid.uuid4(),
                    actor=JGZ.partner,
                    reports_to=WIJKTEAM.partner,
                    agreed_on=TODAY - timedelta(days=10),
                    due_on=TODAY - timedelta(days=3),
                    sealed=await wijkteam.seal(
                        ActionDetails(what=ACTION), child=kid, event_id=action_id
                    ),
                ),
            ),
        )
        await eventually(
            lambda: _plan_with(nc, kid, as_school, "actions"), "the action on the plan"
        )

        # Read as a party (NATS, signed): the sealed goal and action open with its own keys.
        # kluis learns relations from the streams on its own pace: ask again (a fresh portal,
        # so no cached refusal) until the JGZ's relation has arrived there.
        async def opened_for_jgz() -> dict[str, Any] | None:
            plan = await NatsPortal(nc, data_dir, JGZ.partner).plan(kid)
            return plan if plan and plan["goals"][0]["opened"] else None

        plan = await eventually(opened_for_jgz, "the plan opened for the JGZ")
        as_jgz = NatsPortal(nc, data_dir, JGZ.partner)
        assert [{"plan": {"text": GOAL}}] == [g["opened"] for g in plan["goals"]]
        assert {"plan": {"what": ACTION}} == plan["actions"][0]["opened"]
        assert "sealed" not in plan["goals"][0]
        # Someone not on the plan learns nothing, not even that there is one.
        assert None is await NatsPortal(nc, data_dir, OUTSIDER).plan(kid)

        worklist = await as_jgz.worklist()
        mine = [(i["kind"], i["child"]) for i in worklist["items"] if i["child"] == kid]
        assert [("overdue-action", kid), ("new-match", kid)] == mine

        # HTTP: the partner's own system signs its query; the plan comes back still sealed.
        access = PlanAccess.load(data_dir)
        site = create_web_app(NatsPortal(nc, data_dir, WIJKTEAM.partner), access)
        signing = load_or_create_partner_keys(data_dir, JGZ.partner).signing
        token = sign_plan_query(PlanQuery(partner=JGZ.partner, child=kid), signing)
        outsider = sign_plan_query(
            PlanQuery(partner=OUTSIDER, child=kid),
            load_or_create_partner_keys(data_dir, OUTSIDER).signing,
        )
        transport = httpx.ASGITransport(app=site)
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
            ok = await http.get(f"/api/plan/{kid}", headers={"Authorization": f"Bearer {token}"})
            anonymous = await http.get(f"/api/plan/{kid}")
            stranger = await http.get(
                f"/api/plan/{kid}", headers={"Authorization": f"Bearer {outsider}"}
            )
            forged = await http.get(
                f"/api/plan/{kid}", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}
            )
            anonymous_page = await http.get(f"/plan/{kid}")
        assert (200, 401, 404, 401) == (
            ok.status_code,
            anonymous.status_code,
            stranger.status_code,
            forged.status_code,
        )
        assert ["plan"] == list(ok.json()["goals"][0]["sealed"])
        # A page needs a person logged in (tests/browser/test_web_login.py); the wijkteam's
        # portal behind it opens the goal with the wijkteam's keys.
        assert (303, "/inloggen?next=") == (
            anonymous_page.status_code,
            anonymous_page.headers["location"][:15],
        )
        portal = NatsPortal(nc, data_dir, WIJKTEAM.partner)
        opened = await portal.plan(kid)
        assert opened is not None and GOAL in str(opened["goals"][0]["opened"])

        # A form of the web app: sealed and published by the portal as the wijkteam, with the
        # person's pseudonymous id in the signed envelope; ingress and the plan service take it.
        on = OnPlan(opened, TODAY, WIJKTEAM.partner, ACTOR)
        _, draft = goal_form({"domein": "gezin", "tekst": "Vast dagritme"}, on)
        assert draft is not None
        web_goal = uuid.uuid4()
        sealed = await portal.seal(draft.sealed, child=kid, event_id=web_goal)
        await portal.publish(draft.build(web_goal, sealed))
        await eventually(lambda: _goals(nc, kid, as_school, 2), "the web app's goal on the plan")

        # The municipal case system was told, thinly, on its callback.
        await eventually(lambda: _received(receiver, 3), "three plan notifications")
        bodies = b"".join(body for body, _ in receiver.received)
        assert GOAL.encode() not in bodies and ACTION.encode() not in bodies
        assert {"Bearer zaaksysteem"} == {auth for _, auth in receiver.received}

        # The other domains recorded a handover, a support request and a thuiszitter: the plan
        # notes them (as their services relay them) and the school's worklist shows them.
        started = handover_started(TODAY - timedelta(days=2), TODAY - timedelta(days=30), kid)
        # One at a time: the plan consumes each stream on its own, so only a plan that took
        # each before the next was stored took them in the order the rebuild below replays.
        await relay(nc, started)
        await eventually(
            lambda: _plan_with(nc, kid, as_school, "handovers"), "the handover on the plan"
        )
        await relay(nc, support_requested(TODAY - timedelta(days=9), kid))
        await eventually(lambda: _plan_with(nc, kid, as_school, "arrangements"), "the arrangement")
        await relay(nc, thuiszitter_registered(TODAY - timedelta(days=8), kid))
        await eventually(
            lambda: _attendance(nc, kid, as_school, "thuiszitter"), "the thuiszitter on the plan"
        )
        noted = await query_plan(nc, kid, as_school)
        assert noted is not None
        assert [(str(started.data.handover_id), "started")] == [
            (h["handover_id"], h["status"]) for h in noted["handovers"]
        ]
        assert ["support-requested"] == [a["kind"] for a in noted["arrangements"]]
        assert ["support"] == list(noted["arrangements"][0]["sealed"])
        school_list = await NatsPortal(nc, data_dir, SCHOOL.partner).worklist()
        assert {"stalled-handover", "thuiszitter-escalation"} <= {
            i["kind"] for i in school_list["items"] if i["child"] == kid
        }

        # Rebuilt from the streams, the plan is the live one: a party sees the same in both.
        live = await query_plan(nc, kid, as_school)
        fresh = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        rebuild(fresh, await replay_events(nc))
        assert live == access.visible_plan(fresh.plan_of(kid), SCHOOL.partner)

        # Erased: the plan is gone and the case system is told to drop its reference.
        assert 0 < destroy_keys(backbone.settings, kid)
        await announce_erasure(backbone.url, kid)
        await eventually(lambda: _gone(nc, kid, as_school), "the plan to be dropped")
        await eventually(lambda: _received_erasure(receiver), "the erasure notification")
        # The bridge marks a delivery after its callback answered: the receiver can be first.
        await eventually(lambda: _all_delivered(store), "every delivery marked delivered")
        assert [] == [d for d in store.deliveries() if d.status != "delivered"]


async def _plan_with(
    nc: NatsClient, kid: str, keys: PartnerKeys, key: str
) -> dict[str, Any] | None:
    plan = await query_plan(nc, kid, keys)
    return plan if plan and plan.get(key) else None


async def _attendance(nc: NatsClient, kid: str, keys: PartnerKeys, status: str) -> bool:
    plan = await query_plan(nc, kid, keys)
    return bool(plan) and plan["attendance"]["status"] == status  # type: ignore[index]


async def _party(nc: NatsClient, kid: str, keys: PartnerKeys, partner: str) -> bool:
    plan = await query_plan(nc, kid, keys)
    return bool(plan) and partner in {p["partner"] for p in plan["parties"]}  # type: ignore[index]


async def _gone(nc: NatsClient, kid: str, keys: PartnerKeys) -> bool:
    return await query_plan(nc, kid, keys) is None


async def _goals(nc: NatsClient, kid: str, keys: PartnerKeys, n: int) -> bool:
    plan = await query_plan(nc, kid, keys)
    return bool(plan) and len(plan["goals"]) >= n  # type: ignore[index]


async def _received(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _received_erasure(receiver: Receiver) -> bool:
    return any(b'"kanaal":"privacy"' in body for body, _ in receiver.received)


async def _all_delivered(store: NotificatieStore) -> bool:
    return all(d.status == "delivered" for d in store.deliveries())


class TestIntegralPlanOnSQLite(IntegralPlanCase):
    store = "sqlite"


@pytest.mark.postgres
class TestIntegralPlanOnPostgres(IntegralPlanCase):
    store = "postgres"

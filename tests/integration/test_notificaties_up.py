"""The webhook bridge as a process of `ketenbus up` (`KETENBUS_NOTIFICATIES=on`): a municipal
case system's subscription is delivered without a separate command, and the `resourceUrl` of a
delivered notification resolves in the HTTP API (200 for a partner on the plan, 401 without a
signed query); one test case per store backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest

from adapters.notificaties.models import Abonnement
from adapters.notificaties.store import NotificatieStore
from ketenbus_contracts.plan import PlanQuery, sign_plan_query
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import DataDirKeys
from services.integral_plan.portal import NatsPortal
from services.integral_plan.query import PlanAccess
from services.integral_plan.web import create_web_app
from services.runtime.settings import Settings, server_list
from services.runtime.supervisor import BRIDGE, Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.integration.helpers import child, eventually
from tests.integration.test_integral_plan import SCHOOL, Receiver, sealed_signal

pytestmark = pytest.mark.integration

API = "http://ketenbus-web.example"


class SupervisedBridgeCase(StoreBackend):
    @pytest.fixture
    def receiver(self) -> Iterator[Receiver]:
        receiver = Receiver()
        yield receiver
        receiver.server.shutdown()

    @pytest.fixture
    def backbone(
        self, settings: Settings, receiver: Receiver, start_backbone: StartBackbone
    ) -> Backbone:
        # `up` supervises the bridge as a process beside the services' processes.
        settings = settings.model_copy(update={"notificaties": "on", "api_base_url": API})
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = NotificatieStore(settings.data_dir / "notificaties.db")
        subscription = {
            "callbackUrl": receiver.url,
            "auth": "Bearer zaaksysteem",
            "kanalen": [{"naam": "signalering"}],
            "partner": SCHOOL.partner,
        }
        store.subscribe(Abonnement.model_validate(subscription), 0)
        store.close()
        return start_backbone(settings, ["signalling", "integral-plan", "kluis"], processes=True)

    def test_up_runs_the_bridge_and_a_delivered_resource_url_resolves(
        self, backbone: Backbone, receiver: Receiver
    ) -> None:
        assert BRIDGE in backbone.processes
        asyncio.run(self.story(backbone, receiver))

    async def story(self, backbone: Backbone, receiver: Receiver) -> None:
        data_dir = backbone.settings.data_dir
        kid = child(4242)
        nc = await nats.connect(server_list(backbone.url))
        try:
            school = Keyring.for_partner(data_dir, SCHOOL.partner, nc)
            today = datetime.now(UTC).date()
            signal = await sealed_signal(school, SCHOOL, kid, today - timedelta(days=1))
            await DataDirKeys(data_dir).publish(nc.jetstream(), signal)

            async def delivered() -> list[dict[str, Any]]:
                return [json.loads(body) for body, _ in receiver.received]

            [notificatie] = await eventually(delivered, "the notification on the callback")
            url = notificatie["resourceUrl"]
            assert url.startswith(f"{API}/api/plan/{kid}?")
            assert "Bearer zaaksysteem" == receiver.received[0][1]

            site = create_web_app(
                NatsPortal(nc, data_dir, SCHOOL.partner), PlanAccess.load(data_dir)
            )
            signing = load_or_create_partner_keys(data_dir, SCHOOL.partner).signing
            token = sign_plan_query(PlanQuery(partner=SCHOOL.partner, child=kid), signing)
            transport = httpx.ASGITransport(app=site)
            async with httpx.AsyncClient(transport=transport, base_url=API) as http:

                async def resolved() -> httpx.Response | None:
                    response = await http.get(url, headers={"Authorization": f"Bearer {token}"})
                    return response if response.status_code == 200 else None

                ok = await eventually(resolved, "the resource URL to resolve")
                anonymous = await http.get(url)
            assert kid == ok.json()["child"]
            assert [str(signal.data.signal_id)] == [s["signal_id"] for s in ok.json()["signals"]]
            assert 401 == anonymous.status_code
        finally:
            await nc.close()


class TestSupervisedBridgeOnSQLite(SupervisedBridgeCase):
    store = "sqlite"


class TestSupervisedBridgeOnPostgres(SupervisedBridgeCase):
    store = "postgres"

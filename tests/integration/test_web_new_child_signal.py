"""A professional's signal about a child new to ketenbus, as the web app sends it, end to end
over a real nats-server under the registry's authorization (`KETENBUS_NATS_AUTH=registry`): the
school's portal (its own NATS user, its keys) asks the pseudonym service for the child's
pseudonym by BSN, has kluis seal both sections (it has no relation with the child yet), signs
and publishes; the signalling service records the signal and the plan service puts it on the
child's plan, where the school opens the identity it sealed. A BSN failing the elfproef goes
back onto the form and asks nothing. Canary: the BSN and the name are in no subject, header or
payload on a stream, no log line, no file name or file of the data directory, no PostgreSQL
row."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from services.integral_plan.portal import NatsPortal
from services.integral_plan.web_casework import send_new_child_signal
from services.integral_plan.web_forms import OnPlan, identity_of
from services.runtime import nats_auth
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import PO
from tests.integration.helpers import eventually
from tests.integration.test_privacy import postgres_dump

pytestmark = pytest.mark.integration

ACTOR = "mw-" + "5" * 24
BSN = "273910127"
NAME = "Ottoline Kanarievogel"
FORM = {
    "bsn": BSN,
    "naam": NAME,
    "geboortedatum": "2016-02-03",
    "zorg": ["gedrag", "thuissituatie"],
    "toelichting": "Komt vaak zonder ontbijt naar school.",
    "contact": "IB'er, 026-1234567",
}


async def every_message(nc: Any) -> list[bytes]:
    """Each message on every stream: its subject, headers and payload."""
    js, found = nc.jetstream(), []
    for stream in await js.streams_info():
        state = stream.state
        for sequence in range(state.first_seq, state.last_seq + 1 if state.messages else 0):
            try:
                msg = await js.get_msg(stream.config.name, sequence)
            except NotFoundError:  # taken off a work queue
                continue
            headers = repr(msg.headers or {}).encode()
            found.append(f"{msg.subject}".encode() + b"\n" + headers + b"\n" + (msg.data or b""))
    return found


class NewChildSignalCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["pseudonym", "kluis", "signalling", "integral-plan"])

    def test_the_school_signals_a_new_child_by_bsn_which_is_nowhere_in_clear(
        self, backbone: Backbone, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        settings, url = backbone.settings, backbone.url
        wire: list[bytes] = []

        async def story() -> tuple[list[str], str, list[Any], dict[str, Any]]:
            school_nc = await partner_connect(settings, PO, url)
            operator = await nats_auth.connect(settings, nats_auth.SUPERVISOR_USER, url)
            try:
                portal = NatsPortal(school_nc, settings.data_dir, PO)
                on = OnPlan({}, date.today(), PO, ACTOR, "", "Intern begeleider")
                refused, _, none = await send_new_child_signal(
                    portal, FORM | {"bsn": "123456789"}, on
                )
                assert [] == none
                checked, child, events = await send_new_child_signal(portal, FORM, on)
                assert child is not None, checked.errors

                async def on_plan() -> dict[str, Any] | None:
                    plan = await portal.plan(child)
                    return plan if plan and plan.get("signals") else None

                plan = await eventually(on_plan, "the signal on the new child's plan")
                wire.extend(await every_message(operator))
                return list(refused.errors), child, events, plan
            finally:
                await operator.close()
                await school_nc.close()

        refused, child, events, plan = asyncio.run(story())
        written = capfd.readouterr()

        assert ["bsn"] == refused
        [event] = events
        assert (child, PO, ACTOR) == (event.subject, event.source, event.ketenbusactor)
        assert ["identity", "signalling"] == [p.value for p in event.purposes]
        [signal] = plan["signals"]
        opened = signal["opened"]
        assert ["gedrag", "thuissituatie"] == opened["signalling"]["concern"]
        assert {"name": NAME, "birth_date": "2016-02-03"} == identity_of(plan)
        assert BSN == opened["identity"]["bsn"]
        assert any(b"signal-registered" in message for message in wire)  # the streams were read
        clear = [BSN.encode(), NAME.encode()]
        assert [] == [m[:80] for m in wire if any(value in m for value in clear)]
        assert [] == [v for v in (BSN, NAME) if v in written.out + written.err]
        backbone.stop()  # flush and close every store and the JetStream files
        files = [path for path in tmp_path.rglob("*") if path.is_file()]
        assert [] == [str(p) for p in files if BSN in str(p)]
        assert [] == [str(p) for p in files if any(v in p.read_bytes() for v in clear)]
        if self.store == "postgres":  # and every row the services wrote
            rows = postgres_dump(settings.postgres_schema)
            assert rows and [] == [v for v in clear if v in rows]


class TestNewChildSignalOnSQLite(NewChildSignalCase):
    store = "sqlite"


class TestNewChildSignalOnPostgres(NewChildSignalCase):
    store = "postgres"

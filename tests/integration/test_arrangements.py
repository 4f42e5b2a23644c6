"""arrangements end to end: real nats-server, the arrangements and kluis processes, on SQLite
and PostgreSQL.

The scripted scenario runs through JetStream with sealed content: a school's TLV is refused
(dead-lettered with its reason), the SWV's is recorded, a funding dispute is escalated to the
region's holders of doorzettingsmacht and decided; the school sees THAT there is youth care and
whom to call but cannot open its content, the access team can. The service's clock sends the
TLV renewal reminder.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest

from demo import arrangements as ev
from demo.arrangements import run_arrangement_scenario
from ketenbus_contracts.arrangements import ReminderDue
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.integration.helpers import (
    child,
    consumer_idle,
    publish_events,
    read_stream,
    stream_events,
    wait_until,
)
from tests.integration.test_kluis import _kluis_ready

pytestmark = pytest.mark.integration


class ArrangementsCase(StoreBackend):
    @pytest.fixture
    def backbone(
        self, settings: Settings, start_backbone: StartBackbone, monkeypatch: pytest.MonkeyPatch
    ) -> Backbone:
        # The services read their settings from the environment: the clock every half second.
        monkeypatch.setenv("KETENBUS_ARRANGEMENTS_TICK_INTERVAL", "0.5")
        backbone = start_backbone(settings, ["arrangements", "kluis"])
        wait_until(
            lambda: asyncio.run(_kluis_ready(backbone.url, settings.data_dir)),
            what="kluis answering",
        )
        return backbone

    def test_a_disputed_arrangement_is_escalated_and_decided_and_the_school_sees_only_whom_to_call(
        self, backbone: Backbone
    ) -> None:
        today = date.today()
        result = asyncio.run(
            run_arrangement_scenario(backbone.url, backbone.settings.data_dir, child(61), today)
        )
        # Ten days from the day the service escalated: a run that passes midnight has the
        # escalation on the next day.
        escalated_on = {today, date.today()}

        assert ["swv-lingewaard", "gemeente-lingewaard"] == result["escalated"]["holders"]
        assert result["escalated"]["deadline"] in {
            (day + timedelta(days=10)).isoformat() for day in escalated_on
        }
        assert ["deadline", "holders"] == sorted(result["escalated"])
        assert {
            "by": "gemeente-lingewaard",
            "funding": {"swv": 30, "municipality": 70},
        } == result["decided"]
        school = result["youth_care_for_school"]
        assert ({}, {"youth_care": "role-not-permitted"}) == (school["opened"], school["refused"])
        assert "Wijkteam Huissen, 026-2223344" == school["whom_to_call"]
        opened = result["youth_care_for_wijkteam"]["opened"]
        assert "45A53 ambulante jeugdhulp" == opened["youth_care"]["product"]
        dead = [json.loads(payload) for _, payload, _ in read_stream(backbone.url, "DEADLETTER")]
        assert [
            ("NotEntitledError", "bs-de-regenboog (role school) may not decide tlv: only swv may")
        ] == [(d["reason"], d["details"][0]["msg"]) for d in dead]
        published = [type(e).name for e in stream_events(backbone.url, "ARRANGEMENTS")]
        expected = [
            "support-requested",
            "tlv-issued",
            "opp-drawn-up",
            "youth-care-decided",
            "arrangement-agreed",
            "funding-disputed",
            "dispute-escalated",
            "dispute-decided",
        ]
        assert expected == [name for name in published if name != "reminder-due"]

    def test_the_clock_sends_the_tlv_renewal_reminder_ahead_of_expiry(
        self, backbone: Backbone
    ) -> None:
        kid = child(62)
        today = date.today()
        tlv = ev.tlv(kid, today - timedelta(days=300), today + timedelta(days=60))
        publish_events(backbone.url, [tlv], backbone.settings.data_dir)
        wait_until(lambda: consumer_idle(backbone.url, "INBOUND", "arrangements"), what="idle")

        def reminders() -> list[ReminderDue]:
            events = stream_events(backbone.url, "ARRANGEMENTS")
            # Not placed anywhere, the TLV also waits for a place (tlv-waiting).
            return [
                e for e in events if isinstance(e, ReminderDue) and e.data.about == "tlv-renewal"
            ]

        [reminder] = wait_until(reminders, what="the renewal reminder")
        assert ("tlv-renewal", tlv.data.tlv_id, tlv.data.end_on, kid) == (
            reminder.data.about,
            reminder.data.ref_id,
            reminder.data.due_on,
            reminder.subject,
        )

    def test_the_cli_verbs_publish_the_decisions_and_the_monitor_counts_the_tlv(
        self, backbone: Backbone
    ) -> None:
        from typer.testing import CliRunner

        from services.cli import app

        settings = backbone.settings
        env = {"KETENBUS_NATS_URL": backbone.url, "KETENBUS_DATA_DIR": str(settings.data_dir)}
        env |= {"KETENBUS_STORE": settings.store, "KETENBUS_POSTGRES_HOST": settings.postgres_host}
        env |= {
            "KETENBUS_POSTGRES_DBNAME": settings.postgres_dbname,
            "KETENBUS_POSTGRES_SCHEMA": settings.postgres_schema,
            "KETENBUS_POSTGRES_USER": settings.postgres_user,
        }
        runner = CliRunner()

        def ketenbus(*args: str) -> str:
            result = runner.invoke(app, ["arrangements", *args], env=env)
            assert 0 == result.exit_code, result.output
            return result.stdout.strip().splitlines()[-1].split()[-1]

        kid = child(63)
        today = date.today()
        period = ["--start", today.isoformat(), "--end", (today + timedelta(days=365)).isoformat()]
        tlv = ["tlv", kid, "--number", "TLV-CLI-1", "--category", "H", *period]
        ketenbus(*tlv, "--as", "bs-de-regenboog")
        experts = ["--expert", f"orthopedagoog:{today}", "--expert", f"kinderarts:{today}"]
        ketenbus(*tlv, "--as", "swv-lingewaard", "--grounds", "Zwaar", *experts)
        parties = ["--party", "bs-de-regenboog|ib-er|IB", "--party", "swv-lingewaard|loket|SWV"]
        arrangement = ketenbus(
            "agree", kid, "--as", "bs-de-regenboog", "--kind", "adl-op-school", *parties, *period
        )
        dispute = ketenbus("dispute", kid, arrangement, "--as", "swv-lingewaard")
        wait_until(lambda: consumer_idle(backbone.url, "INBOUND", "arrangements"), what="idle")
        ketenbus(
            "decide", kid, dispute, arrangement, "--as", "swv-lingewaard", "--split", "swv=100"
        )

        # The school's zorgplicht and the parents' answer on the OPP, as a school publishes them.
        vo = ("--as", "vo-het-lyceum")
        aanmelding = ketenbus("aanmelding", kid, *vo, "--transition", "po-vo")
        ketenbus("extend", kid, aanmelding, *vo)
        wait_until(lambda: consumer_idle(backbone.url, "INBOUND", "arrangements"), what="idle")
        ketenbus("place", kid, aanmelding, *vo, "--start", today.isoformat())
        opp = ketenbus("opp", kid, *vo, "--review", (today + timedelta(days=90)).isoformat())
        wait_until(lambda: consumer_idle(backbone.url, "INBOUND", "arrangements"), what="idle")
        ketenbus("handelingsdeel", kid, opp, *vo)

        def decided() -> bool:
            names = [type(e).name for e in stream_events(backbone.url, "ARRANGEMENTS")]
            steps = {"dispute-decided", "placement-decided", "handelingsdeel-consented"}
            return steps <= set(names) and "decision-period-extended" in names

        wait_until(decided, what="the decision")
        dead = [json.loads(payload) for _, payload, _ in read_stream(backbone.url, "DEADLETTER")]
        assert ["NotEntitledError"] == [d["reason"] for d in dead]
        monitor = runner.invoke(app, ["arrangements", "monitor"], env=env)
        quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        assert {quarter: {"H": 1}} == json.loads(monitor.stdout)


class TestArrangementsOnSQLite(ArrangementsCase):
    store = "sqlite"


@pytest.mark.postgres
class TestArrangementsOnPostgres(ArrangementsCase):
    store = "postgres"

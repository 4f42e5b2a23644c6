"""Signalling's rules end to end: real nats-server, service processes, SQLite and PostgreSQL.

The signalling service runs with a rules file whose contact reminder and escalation come after
seconds, and a tick every half second, so the time-driven rules show within the test.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from typer.testing import CliRunner

from ketenbus_contracts.signalling import (
    ContactEscalated,
    ContactMade,
    ContactMadeData,
    ContactReminder,
    Coordinator,
    CoordinatorAssigned,
    CoordinatorChanged,
    CoordinatorChangedData,
    MatchFound,
    ParentsInformed,
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
)
from services.cli import app as cli
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from services.signalling.rules import RULES_PATH
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import (
    CHILDCARE,
    JGZ,
    SCHOOL,
    child,
    consumer_idle,
    publish_events,
    read_stream,
    stream_events,
    wait_until,
)

pytestmark = pytest.mark.integration

SERVICES = ["signalling", "integral-plan", "kluis", "pseudonym"]
LEERPLICHT = Signaller(partner="leerplicht-lingewaard", role="leerplichtambtenaar", contact="lp")
E = TypeVar("E")


def recorded(url: str, kind: type[E]) -> list[E]:
    return [e for e in stream_events(url, "SIGNALLING") if isinstance(e, kind)]


def dead_letters(url: str) -> list[str]:
    return [json.loads(payload)["reason"] for _, payload, _ in read_stream(url, "DEADLETTER")]


class SignallingCase(StoreBackend):
    @pytest.fixture
    def backbone(
        self,
        settings: Settings,
        start_backbone: StartBackbone,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Backbone:
        rules = yaml.safe_load(RULES_PATH.read_text())
        rules["contact"] = {"reminder_after": "PT1S", "escalation_after": "PT3S"}
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(rules))
        monkeypatch.setenv("KETENBUS_SIGNALLING_RULES_PATH", str(path))
        monkeypatch.setenv("KETENBUS_SIGNALLING_TICK_INTERVAL", "0.5")
        return start_backbone(settings, SERVICES)

    def test_a_match_tells_the_signallers_and_coordinators_then_escalates_not_a_household(
        self, backbone: Backbone
    ) -> None:
        kid, sibling, household = child(11), child(12), child(13)
        today = date.today()
        publish_events(
            backbone.url,
            [
                signal(SCHOOL, today, kid, household=household, municipality="1705"),
                signal(JGZ, today, sibling, household=household, age_band="12-15"),
                signal(JGZ, today, kid, municipality="1705"),
            ],
            backbone.settings.data_dir,
        )

        [escalation] = wait_until(
            lambda: recorded(backbone.url, ContactEscalated), what="the escalation"
        )

        url = backbone.url
        # Household matching has no legal basis recorded in the register: off.
        matches = recorded(url, MatchFound)
        assert [("child", None, kid)] == [
            (m.data.scope, m.data.household, m.subject) for m in matches
        ]
        assert "wijkteam-lingewaard" == matches[0].data.municipal_coordinator
        coordinators = recorded(url, CoordinatorAssigned)
        assert {"jgz-gelderland-zuid"} == {c.data.coordinator.partner for c in coordinators}
        assert 1 == len(recorded(url, ContactReminder))
        assert "wijkteam-lingewaard" == escalation.data.municipal_coordinator
        assert [["parents"], ["parents"], ["parents", "child"]] == sorted(
            e.data.audience for e in recorded(url, ParentsInformed)
        )
        # The plan and kluis take every new event type: nothing was refused downstream.
        wait_until(lambda: consumer_idle(url, "SIGNALLING", "integral-plan"), what="plan idle")
        wait_until(lambda: consumer_idle(url, "SIGNALLING", "kluis"), what="kluis idle")
        assert [] == dead_letters(url)

    def test_commands_without_relation_or_with_unknown_codes_are_dead_lettered_alone(
        self, backbone: Backbone
    ) -> None:
        kid = child(21)
        url = backbone.url
        publish_events(
            url,
            [signal(SCHOOL, date.today(), kid), signal(LEERPLICHT, date.today(), kid)],
            backbone.settings.data_dir,
        )
        [match] = wait_until(lambda: recorded(url, MatchFound), what="a match")

        def change(by: str, to: str) -> CoordinatorChanged:
            data = CoordinatorChangedData(
                match_id=match.data.match_id, coordinator=Coordinator(partner=to, contact="regie")
            )
            return CoordinatorChanged.create(source=by, subject=kid, data=data)

        contact = ContactMade.create(
            source=SCHOOL.partner,
            subject=kid,
            data=ContactMadeData(
                match_id=match.data.match_id, partner=SCHOOL.partner, contacted_on=date.today()
            ),
        )
        publish_events(
            url,
            [
                change(by=CHILDCARE.partner, to=CHILDCARE.partner),  # no relation with the match
                signal(CHILDCARE, date.today(), kid, age_band="23-30"),  # unknown code
                contact,
                change(by=SCHOOL.partner, to="wijkteam-lingewaard"),
            ],
            backbone.settings.data_dir,
        )

        wait_until(lambda: consumer_idle(url, "INBOUND", "signalling"), what="signalling idle")
        wait_until(lambda: len(dead_letters(url)) == 2, what="two dead letters")
        assert ["NotAPartyError", "UnknownCodeError"] == dead_letters(url)
        # Recorded is not yet relayed: the relay publishes on its own clock.
        contacts = wait_until(lambda: recorded(url, ContactMade), what="the contact relayed")
        assert [SCHOOL.partner] == [c.data.partner for c in contacts]
        changed = wait_until(
            lambda: [c for c in recorded(url, CoordinatorAssigned) if c.data.rule == "changed"],
            what="the coordinator changed",
        )
        assert "wijkteam-lingewaard" == changed[0].data.coordinator.partner
        assert 2 == len(recorded(url, SignalRegistered))

    def test_the_tick_ends_signals_at_their_removal_date_and_at_the_two_year_cap(
        self, backbone: Backbone
    ) -> None:
        today = date.today()
        planned = signal(SCHOOL, today - timedelta(days=30), child(31), until=today)
        capped = signal(
            JGZ, today - timedelta(days=800), child(32), until=today + timedelta(days=100)
        )
        current = signal(SCHOOL, today, child(33))
        publish_events(backbone.url, [planned, capped, current], backbone.settings.data_dir)

        ended = wait_until(
            lambda: len(found := recorded(backbone.url, SignalWithdrawn)) == 2 and found,
            what="two expired signals",
        )

        assert {planned.data.signal_id, capped.data.signal_id} == {e.data.signal_id for e in ended}
        assert {"expired"} == {e.data.reason for e in ended}

    def test_the_cli_registers_sealed_signals_and_lists_the_match_and_coordinator(
        self, backbone: Backbone
    ) -> None:
        runner = CliRunner()
        env = backbone.service_env() | {"KETENBUS_LOG_FORMAT": "json"}

        def ketenbus(*args: str) -> Any:
            return runner.invoke(cli, list(args), env=env)

        common = ["--bsn", "123456782", "--birth-date", "2019-03-04", "--municipality", "1705"]
        first = ketenbus(
            "signal", "register", "--as", SCHOOL.partner, "--role", "ib-er",
            "--contact", "IB'er", "--concern", "taalontwikkeling", *common,
        )  # fmt: skip
        unknown = ketenbus(
            "signal", "register", "--as", JGZ.partner, "--role", "jeugdarts",
            "--contact", "JGZ", "--concern", "bijna-alles", *common,
        )  # fmt: skip
        second = ketenbus(
            "signal", "register", "--as", JGZ.partner, "--role", "jeugdarts",
            "--contact", "JGZ", "--concern", "thuissituatie", "--notes", "Slaapt slecht",
            "--vindplaats", "cb-huissen", *common,
        )  # fmt: skip

        assert (0, 2, 0) == (first.exit_code, unknown.exit_code, second.exit_code), (
            first.stderr + unknown.stderr + second.stderr
        )
        assert "unknown concern code(s): bijna-alles" in unknown.stderr
        kid = first.stdout.split()[3]
        [match] = wait_until(lambda: recorded(backbone.url, MatchFound), what="a match")
        assert kid == match.subject
        # From the vindplaatsen: the JGZ names its own, the school has one.
        assert ["026-1234567", "088-0000002"] == [c.phone for c in match.data.contacts]
        [registered_event, *_] = recorded(backbone.url, SignalRegistered)
        assert {"signalling", "identity"} == set(registered_event.data.sealed)
        assert "4-11" == registered_event.data.age_band
        assert b"Slaapt" not in b"".join(p for _, p, _ in read_stream(backbone.url, "INBOUND"))

        listed = wait_until(
            lambda: (
                (r := ketenbus("signal", "list", "--child", kid, "--json")).exit_code == 0
                and json.loads(r.stdout)["match"]
                and json.loads(r.stdout)
            ),
            what="the match in the list",
        )
        assert "jgz-gelderland-zuid" == listed["match"]["coordinator"]["partner"]
        assert listed["match"]["contact_complete"] is False
        text = ketenbus("signal", "list", "--child", kid).stdout
        assert "coordinator: jgz-gelderland-zuid" in text


class TestSignallingOnSQLite(SignallingCase):
    store = "sqlite"


@pytest.mark.postgres
class TestSignallingOnPostgres(SignallingCase):
    store = "postgres"

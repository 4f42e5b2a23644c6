"""The Verwijsindex as the law has it (Jeugdwet afdeling 7.1): the index holds the fact of a
signal; a lone signal is seen by no other partner; a match tells the signallers and the
coordinators who else signalled and how to reach them, never what about."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import fields_by_purpose
from ketenbus_contracts.signalling import (
    ContactMade,
    ContactMadeData,
    MatchContact,
    MatchEnded,
    MatchEndedData,
    MatchFound,
    MatchFoundData,
    Signaller,
    SignalRegistered,
)
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.query import NotOnPlanError, PlanAccess
from services.runtime.outbox import outbound_event_id
from services.signalling.application import SignallingApplication, UnknownCodeError
from services.signalling.translation import apply_inbound, to_contract
from tests import events
from tests.events import CHILD, JGZ, SCHOOL, WIJKTEAM, enrolled, joined

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
D = date(2026, 11, 1)
CANARY = "canary-7f3a-verwijsindex"
TRACKING = "INBOUND:signalling"


def signal(signaller: Signaller, concern_token: str = CANARY) -> SignalRegistered:
    return events.signal(signaller, D, CHILD, {Purpose.SIGNALLING: concern_token})


SCHOOL_SIGNAL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="IB'er groep 4")
JGZ_SIGNAL = Signaller(
    partner="jgz-gelderland-zuid",
    role="jeugdarts",
    contact="JGZ-team Huissen",
    vindplaats="cb-huissen",
)


def matched() -> MatchFound:
    app = SignallingApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW, inbound=apply_inbound
    )
    app.process_batch(TRACKING, [(1, signal(SCHOOL_SIGNAL)), (2, signal(JGZ_SIGNAL))])
    events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100)]
    contracts = [to_contract(e, outbound_event_id(app.name, e)) for e in events]
    [match] = [c for c in contracts if isinstance(c, MatchFound)]
    return match


def test_a_match_event_carries_the_signallers_contacts_and_the_coordinator() -> None:
    match = matched()

    assert [
        MatchContact(partner="bs-de-regenboog", role="ib-er", contact="IB'er groep 4",
                     vindplaats="Basisschool De Regenboog", function="Intern begeleider (IB'er)",
                     phone="026-1234567", email="ib@regenboog.example"),
        MatchContact(partner="jgz-gelderland-zuid", role="jeugdarts", contact="JGZ-team Huissen",
                     vindplaats="Consultatiebureau Huissen",
                     function="Jeugdverpleegkundige, contactpersoon vroegsignalering",
                     phone="088-0000002", email="cb-huissen@ggdgelderlandzuid.example"),
    ] == match.data.contacts  # fmt: skip
    assert match.data.coordinator is not None
    assert "jgz-gelderland-zuid" == match.data.coordinator.partner  # role priority: jgz first
    assert ["bs-de-regenboog", "jgz-gelderland-zuid", "wijkteam-lingewaard"] == match.data.notify


def test_a_match_event_carries_no_concern() -> None:
    match = matched()

    assert {} == fields_by_purpose(MatchFoundData)  # the contract has no field for one
    assert {} == match.data.sealed
    assert [] == match.purposes
    assert CANARY not in match.model_dump_json()
    assert set() == {"concern", "notes"} & property_names(MatchFoundData.model_json_schema())


def property_names(schema: object) -> set[str]:
    """Every property name anywhere in a JSON schema (nested models included)."""
    if isinstance(schema, dict):
        names = set(schema.get("properties", {}))
        return names.union(*(property_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(property_names(v) for v in schema))
    return set()


def test_a_signal_may_name_only_a_vindplaats_of_its_own_partner() -> None:
    app = SignallingApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW, inbound=apply_inbound
    )
    borrowed = SCHOOL_SIGNAL.model_copy(update={"vindplaats": "cb-huissen"})

    [(seq, refusal)] = app.process_batch(TRACKING, [(1, signal(borrowed))])

    assert (1, UnknownCodeError) == (seq, type(refusal))


# the plan's read model


def plan_app(*events: object) -> IntegralPlanApplication:
    app = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for e in events:
        app.apply(e)
    return app


def test_a_lone_signal_is_in_no_other_partners_plan_view(tmp_path: Path) -> None:
    lone = signal(JGZ_SIGNAL)
    app = plan_app(enrolled(SCHOOL.partner, D), lone)
    access = PlanAccess.load(tmp_path)
    plan = app.plan_of(CHILD)

    school = access.visible_plan(plan, SCHOOL.partner)
    jgz = access.visible_plan(plan, JGZ.partner)

    assert [] == school["signals"]
    assert None is school["match"]
    assert "jgz-gelderland-zuid" not in json.dumps(school)
    assert str(lone.data.signal_id) not in json.dumps(school)
    assert [str(lone.data.signal_id)] == [s["signal_id"] for s in jgz["signals"]]
    assert {"signalling": CANARY} == jgz["signals"][0]["sealed"]
    with pytest.raises(NotOnPlanError):
        access.visible_plan(plan, WIJKTEAM.partner)


def test_a_partner_admitted_to_the_plan_does_not_see_a_lone_signal(tmp_path: Path) -> None:
    app = plan_app(signal(SCHOOL_SIGNAL), joined(SCHOOL, WIJKTEAM, D), signal(JGZ_SIGNAL))

    seen = PlanAccess.load(tmp_path).visible_plan(app.plan_of(CHILD), WIJKTEAM.partner)

    assert [] == seen["signals"]
    assert ["bs-de-regenboog", "wijkteam-lingewaard"] == [p["partner"] for p in seen["parties"]]
    assert [] == [t for t in seen["timeline"] if t["kind"].startswith("signal")]


def test_after_a_match_each_signaller_sees_who_else_signalled_and_how_to_reach_them(
    tmp_path: Path,
) -> None:
    school_signal, jgz_signal = signal(SCHOOL_SIGNAL, "school-token"), signal(JGZ_SIGNAL)
    app = plan_app(school_signal, jgz_signal, matched())
    access = PlanAccess.load(tmp_path)
    plan = app.plan_of(CHILD)

    school = access.visible_plan(plan, SCHOOL.partner)
    municipal = access.visible_plan(plan, "wijkteam-lingewaard")

    assert [("bs-de-regenboog", {"signalling": "school-token"}),
            ("jgz-gelderland-zuid", {})] == [
        (s["partner"], s["sealed"]) for s in school["signals"]
    ]  # fmt: skip
    assert "with-signaller" == school["signals"][1]["concern"]
    assert CANARY not in json.dumps(school)
    jgz_contact = next(c for c in school["match"]["contacts"] if c["partner"] == JGZ.partner)
    assert "088-0000002" == jgz_contact["phone"]
    # The municipal coordinator is told of the match: who and how to reach, no concern.
    assert ["bs-de-regenboog", "jgz-gelderland-zuid"] == municipal["match"]["partners"]
    assert [{}, {}] == [s["sealed"] for s in municipal["signals"]]


def test_the_match_shows_who_made_contact_and_once_it_ends_the_signals_are_lone_again(
    tmp_path: Path,
) -> None:
    found = matched()
    contact = ContactMade.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=ContactMadeData(match_id=found.data.match_id, partner=SCHOOL.partner, contacted_on=D),
    )
    ended = MatchEnded.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=MatchEndedData(match_id=found.data.match_id, ended_on=date(2026, 12, 1)),
    )
    app = plan_app(signal(SCHOOL_SIGNAL), signal(JGZ_SIGNAL), found, contact)
    access = PlanAccess.load(tmp_path)
    during = access.visible_plan(app.plan_of(CHILD), JGZ.partner)
    app.apply(ended)

    after = access.visible_plan(app.plan_of(CHILD), JGZ.partner)

    assert [SCHOOL.partner] == during["match"]["contacted"]
    assert (None, [JGZ.partner]) == (after["match"], [s["partner"] for s in after["signals"]])

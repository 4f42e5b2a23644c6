"""The integral plan on an in-memory store: parties, regie, goals, actions, worklists, erasure."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ketenbus_contracts.envelope import RelationChange
from ketenbus_contracts.plan import (
    ActionAgreed,
    GoalSet,
    ParentLinked,
    PartyJoined,
    RegieAssigned,
)
from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import ContactMade, ContactMadeData
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.integral_plan.domain import (
    ActionClosedError,
    AlreadyOnPlanError,
    InvalidDueDateError,
    NotAPartyError,
    NotARecorderError,
    NotTheActorError,
    ParentConsentMissingError,
    Plan,
    PlanError,
)
from services.integral_plan.translation import to_contract
from services.runtime.outbox import outbound_event_id
from tests.events import (
    CHILD,
    JGZ,
    NOW,
    PARENT,
    SCHOOL,
    WIJKTEAM,
    action,
    agreement,
    done,
    goal,
    joined,
    match,
    parent_linked,
    regie,
    signal,
)

D = date(2026, 11, 1)


def application() -> IntegralPlanApplication:
    return IntegralPlanApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW
    )


def started(app: IntegralPlanApplication) -> None:
    """School and JGZ signalled and matched; the wijkteam joined and holds regie."""
    app.apply(signal(SCHOOL, D))
    app.apply(signal(JGZ, D + timedelta(days=2)))
    app.apply(match([SCHOOL, JGZ], datetime(2026, 11, 20, 9, tzinfo=NOW.tzinfo)))
    app.apply(joined(SCHOOL, WIJKTEAM, D + timedelta(days=20)))
    app.apply(regie(SCHOOL, WIJKTEAM, D + timedelta(days=20)))


def test_a_plan_has_parties_regie_goals_agreements_and_ot_bt_actions() -> None:
    app = application()
    started(app)
    g = goal(WIJKTEAM, D + timedelta(days=21))
    a = action(WIJKTEAM, JGZ, WIJKTEAM, D + timedelta(days=21), D + timedelta(days=35))
    app.apply(g)
    app.apply(agreement(WIJKTEAM, [SCHOOL, JGZ, WIJKTEAM], D + timedelta(days=21)))
    app.apply(a)

    plan = app.plan_of(CHILD)

    assert [p["partner"] for p in plan["parties"]] == [
        "bs-de-regenboog",
        "jgz-gelderland-zuid",
        "wijkteam-lingewaard",
    ]
    assert plan["regie"] == [
        {"domain": "integraal", "regisseur": "wijkteam-lingewaard", "since": "2026-11-21"}
    ]
    assert [x["goal_id"] for x in plan["goals"]] == [str(g.data.goal_id)]
    assert plan["goals"][0]["sealed"] == {"plan": g.data.sealed[Purpose.PLAN]}
    expected_action = {
        "action_id": str(a.data.action_id),
        "actor": "jgz-gelderland-zuid",
        "reports_to": "wijkteam-lingewaard",
        "due_on": "2026-12-06",
        "agreed_on": "2026-11-22",
        "goal_id": None,
        "status": "open",
        "done_on": None,
        "by": "wijkteam-lingewaard",
        "event_id": str(a.id),
        "sealed": {"plan": a.data.sealed[Purpose.PLAN]},
        "report": None,
    }
    assert plan["actions"] == [expected_action]
    assert [t["kind"] for t in plan["timeline"]] == [
        "signal",
        "signal",
        "match",
        "party-joined",
        "regie-assigned",
        "action-agreed",
        "agreement-made",
        "goal-set",
    ]


def test_the_actor_reports_an_action_done_once() -> None:
    app = application()
    started(app)
    a = action(WIJKTEAM, JGZ, WIJKTEAM, D + timedelta(days=21), D + timedelta(days=35))
    app.apply(a)

    with pytest.raises(NotTheActorError):
        app.apply(done(SCHOOL, a, D + timedelta(days=30)))
    reported = done(JGZ, a, D + timedelta(days=30))
    app.apply(reported)
    with pytest.raises(ActionClosedError):
        app.apply(done(JGZ, a, D + timedelta(days=31)))

    action_view = app.plan_of(CHILD)["actions"][0]
    assert (action_view["status"], action_view["done_on"]) == ("done", "2026-12-01")
    assert action_view["report"]["sealed"] == {"plan": reported.data.sealed[Purpose.PLAN]}


def test_only_parties_change_the_plan_and_act_on_it() -> None:
    app = application()
    started(app)
    stranger = WIJKTEAM.model_copy(update={"partner": "leerplicht-lingewaard"})

    with pytest.raises(NotAPartyError):
        app.apply(goal(stranger, D))
    with pytest.raises(NotAPartyError):
        app.apply(action(SCHOOL, stranger, SCHOOL, D, D + timedelta(days=3)))
    with pytest.raises(NotAPartyError):
        app.apply(joined(stranger, stranger, D))


def test_the_regie_holder_admits_a_signaller_known_by_its_signal_and_only_once() -> None:
    app = application()
    started(app)

    app.apply(joined(WIJKTEAM, SCHOOL, D + timedelta(days=21)))

    plan = app._plan(CHILD)
    assert (True, ("plan", "plan-party", "signal")) == (
        plan.is_admitted(SCHOOL.partner),
        plan.parties[SCHOOL.partner].bases,
    )
    assert False is plan.is_admitted(JGZ.partner)
    with pytest.raises(AlreadyOnPlanError):
        app.apply(joined(WIJKTEAM, SCHOOL, D + timedelta(days=22)))


def test_the_first_party_may_start_a_plan_by_joining_itself() -> None:
    app = application()
    app.apply(joined(WIJKTEAM, WIJKTEAM, D))

    assert [p["partner"] for p in app.plan_of(CHILD)["parties"]] == ["wijkteam-lingewaard"]


def test_an_action_is_not_due_before_it_was_agreed() -> None:
    app = application()
    started(app)

    with pytest.raises(InvalidDueDateError):
        app.apply(action(SCHOOL, SCHOOL, WIJKTEAM, D, D - timedelta(days=1)))


def test_the_worklist_shows_new_matches_and_overdue_actions_to_whom_they_concern() -> None:
    app = application()
    started(app)
    late = action(WIJKTEAM, JGZ, WIJKTEAM, D, D + timedelta(days=10))
    soon = action(WIJKTEAM, SCHOOL, WIJKTEAM, D, NOW.date() + timedelta(days=2))
    later = action(WIJKTEAM, SCHOOL, WIJKTEAM, D, NOW.date() + timedelta(days=30))
    for a in (late, soon, later):
        app.apply(a)

    jgz = app.worklist("jgz-gelderland-zuid")
    wijkteam = app.worklist("wijkteam-lingewaard")
    school_later = app.worklist("bs-de-regenboog", NOW + timedelta(days=40))

    assert [(i["kind"], i["ref"]) for i in jgz["items"]] == [
        ("overdue-action", str(late.data.action_id)),
        ("new-match", jgz["items"][1]["ref"]),
    ]
    assert jgz["items"][0]["days_overdue"] == 13
    assert [i["kind"] for i in wijkteam["items"]] == ["overdue-action", "due-soon-action"]
    assert [i["kind"] for i in school_later["items"]] == ["overdue-action", "overdue-action"]


def test_a_new_match_leaves_the_werklijst_of_a_signaller_that_made_contact() -> None:
    app = application()
    started(app)
    found = app.plan_of(CHILD)["match"]
    made = ContactMade.create(
        source=SCHOOL.partner,
        subject=CHILD,
        data=ContactMadeData(
            match_id=found["match_id"], partner=SCHOOL.partner, contacted_on=NOW.date()
        ),
    )

    app.apply(made)

    assert [] == [i for i in app.worklist(SCHOOL.partner)["items"] if i["kind"] == "new-match"]
    assert ["new-match"] == [i["kind"] for i in app.worklist(JGZ.partner)["items"]]


def test_an_erased_childs_plan_is_gone(tmp_path: Path) -> None:
    # Erasure deletes stored events, which the in-memory store cannot: SQLite in a file.
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "p.db")}
    app = IntegralPlanApplication(env=env, clock=lambda: NOW)
    started(app)
    erased = ChildErased.create(source="kluis", subject=CHILD, data=ChildErasedData(erased_at=NOW))

    app.apply(erased)

    with pytest.raises(UnknownPlanError):
        app.plan_of(CHILD)
    assert list(app.plans()) == []


def test_the_plans_own_events_go_out_under_the_partners_event_id() -> None:
    app = application()
    started(app)
    g = goal(WIJKTEAM, D)
    a = action(WIJKTEAM, JGZ, WIJKTEAM, D, D + timedelta(days=3))
    app.apply(g)
    app.apply(a)

    notifications = app.recorder.select_notifications(1, 100)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    published = [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]

    assert [type(c) for c in published] == [PartyJoined, RegieAssigned, GoalSet, ActionAgreed]
    assert [c.id for c in published[2:]] == [g.id, a.id]
    assert published[2].data.sealed == g.data.sealed
    assert published[0].relation_changes()[0].partner == "wijkteam-lingewaard"
    assert all(c.source == "ketenbus.integral-plan" for c in published)


def test_a_plan_id_is_derived_from_the_child() -> None:
    assert Plan.create_id(CHILD) == Plan.create_id(CHILD)
    assert Plan.create_id(CHILD) != Plan.create_id("d" * 32)
    assert isinstance(Plan.create_id(CHILD), uuid.UUID)


def refusal_of(app: IntegralPlanApplication, event: ParentLinked) -> type[PlanError] | None:
    try:
        app.apply(event)
    except PlanError as refused:
        return type(refused)
    return None


def test_a_parent_linking_itself_to_a_child_is_refused() -> None:
    app = application()

    refused = refusal_of(app, parent_linked(PARENT, consent_on=D))

    assert NotARecorderError is refused


def test_a_partner_the_rules_do_not_name_may_not_link_a_parent() -> None:
    app = application()

    refused = [refusal_of(app, parent_linked(p, consent_on=D)) for p in (JGZ.partner, "nobody-x")]

    assert [NotARecorderError, NotARecorderError] == refused


def test_a_schools_link_needs_the_parents_consent_and_the_municipalitys_does_not() -> None:
    app = application()

    refused = refusal_of(app, parent_linked(SCHOOL.partner))
    by_school = refusal_of(app, parent_linked(SCHOOL.partner, consent_on=D))
    by_municipality = refusal_of(app, parent_linked("gemeente-lingewaard"))

    assert (ParentConsentMissingError, None, None) == (refused, by_school, by_municipality)


def test_a_recorded_parent_link_goes_out_and_gives_the_parent_its_relation() -> None:
    app = application()
    link = parent_linked(SCHOOL.partner, consent_on=D)
    app.apply(link)

    [notification] = app.recorder.select_notifications(1, 100)[-1:]
    published = to_contract(app.mapper.to_domain_event(notification), uuid.uuid4())

    assert isinstance(published, ParentLinked)
    assert (link.id, SCHOOL.partner) == (published.id, published.data.recorded_by)
    assert [RelationChange(PARENT, "parent", str(link.data.link_id), active=True)] == (
        published.relation_changes()
    )

"""The worklist index: a partner's worklist reads only its plans and says what reading every
plan says; the index is written with the plans, rebuilt by a replay, and left by an erased child."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from services.integral_plan.application import WORK_ITEMS, IntegralPlanApplication
from services.integral_plan.domain import Plan
from tests.events import (
    JGZ,
    LEERPLICHT,
    NOW,
    PO,
    PROVIDER,
    SCHOOL,
    SWV,
    VO,
    action,
    done,
    every_kind,
    joined,
    match,
    signal,
)
from tests.events import WIJKTEAM as WIJKTEAM_PARTY
from tests.events import WIJKTEAM_ID as WIJKTEAM
from tests.events import dossier_delivered as delivery
from tests.events import handover_escalated as escalation
from tests.events import handover_started as handover
from tests.events import offer_made as offer
from tests.events import three_month_rule as three_months
from tests.events import thuiszitter_registered as at_home

D = date(2026, 11, 2)
CHILDREN = [c * 32 for c in "abcdef"]
PARTNERS = [PO, VO, SWV, LEERPLICHT, PROVIDER, WIJKTEAM, JGZ.partner]  # PO is SCHOOL


def sqlite_app(path: Path) -> IntegralPlanApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    return IntegralPlanApplication(env=env, clock=lambda: NOW)


def events() -> list[Any]:
    """Six children, each with work of another kind (some done, delivered or offered)."""
    a, b, c, d, e, f = CHILDREN
    late = handover(NOW.date() - timedelta(days=3), D, b)
    escalated = handover(NOW.date() + timedelta(days=3), D, c)
    delivered = handover(NOW.date() - timedelta(days=3), D, c)
    since = NOW.date() - timedelta(days=80)
    agreed = action(SCHOOL, WIJKTEAM_PARTY, SCHOOL, D, NOW.date() - timedelta(days=2), child=f)
    return [
        *every_kind(D, a),
        late,
        escalated,
        escalation(escalated, D),
        delivered,
        delivery(delivered, NOW.date()),
        at_home(since, d),
        three_months(since, NOW.date(), d),
        at_home(NOW.date() - timedelta(days=10), e),
        offer(NOW.date() - timedelta(days=1), child=e),
        signal(SCHOOL, D, f),
        signal(JGZ, D, f),
        match([SCHOOL, JGZ], datetime(2026, 11, 20, 9, tzinfo=NOW.tzinfo), f),
        joined(SCHOOL, WIJKTEAM_PARTY, D, f),
        agreed,
        action(SCHOOL, JGZ, SCHOOL, D, NOW.date() + timedelta(days=1), child=f),
        action(SCHOOL, SCHOOL, WIJKTEAM_PARTY, D, NOW.date() - timedelta(days=1), child=f),
        done(WIJKTEAM_PARTY, agreed, NOW.date()),
    ]


def applied(app: IntegralPlanApplication) -> IntegralPlanApplication:
    for event in events():
        app.apply(event)
    return app


def read_every_plan(app: IntegralPlanApplication, partner: str, now: datetime) -> list[Any]:
    """The worklist's items as reading every plan finds them (what it did before the index)."""
    items = [
        item
        for plan in app.plans()
        for source in WORK_ITEMS
        for item in source.items(plan, app.view_of(plan.id), partner, now.date(), app.rules)
    ]
    return sorted(items, key=lambda i: (i["kind"], i["since"], i["child"], i["ref"]))


def listed(app: IntegralPlanApplication) -> dict[str, list[Any]]:
    return {p: app.index.plans_of(p) for p in PARTNERS}


@pytest.mark.parametrize("days_later", [0, 2, 5, 20, 100])
def test_a_worklist_from_the_index_says_what_reading_every_plan_says(
    tmp_path: Path, days_later: int
) -> None:
    app = applied(sqlite_app(tmp_path / "plan.db"))
    now = NOW + timedelta(days=days_later)

    for partner in PARTNERS:
        items = app.worklist(partner, now)["items"]
        expected = read_every_plan(app, partner, now)
        assert expected == sorted(
            items, key=lambda i: (i["kind"], i["since"], i["child"], i["ref"])
        )


def test_a_worklist_reads_only_the_plans_that_name_the_partner(tmp_path: Path) -> None:
    app = applied(sqlite_app(tmp_path / "plan.db"))
    a, b, c, d, _, f = (Plan.create_id(child) for child in CHILDREN)

    # a: an OPP without the parents' consent on its handelingsdeel (PO), a TLV waiting (SWV)
    assert sorted([a, b, c, d, f]) == app.index.plans_of(PO)  # sender, thuiszitter, actions
    assert sorted([a, b, c, d]) == app.index.plans_of(SWV)  # open handovers, thuiszitter
    # notified of the thuiszitter; a verzuimmelding to decide a signal on
    assert sorted([a, d]) == app.index.plans_of(LEERPLICHT)
    assert [f] == app.index.plans_of(JGZ.partner)  # matched, an action
    assert [f] == app.index.plans_of(WIJKTEAM)  # reported to (its own action is done)
    assert [] == app.index.plans_of(PROVIDER)  # a party, with nothing that could be work
    assert [] == app.index.plans_of("nobody")


def test_the_in_memory_and_the_sqlite_index_agree(tmp_path: Path) -> None:
    memory = applied(IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))

    assert listed(memory) == listed(applied(sqlite_app(tmp_path / "plan.db")))


def test_a_replay_into_a_fresh_store_rebuilds_the_same_index(tmp_path: Path) -> None:
    live = applied(sqlite_app(tmp_path / "live.db"))

    assert listed(live) == listed(applied(sqlite_app(tmp_path / "replayed.db")))


def test_a_batch_writes_the_index_with_its_plans_and_its_position(tmp_path: Path) -> None:
    app = sqlite_app(tmp_path / "plan.db")
    batch = list(enumerate(events(), start=1))

    app.process_batch("feed", batch)
    again = app.process_batch("feed", batch)  # redelivered: already processed

    assert [] == again
    assert len(batch) == app.position("feed")
    assert listed(applied(sqlite_app(tmp_path / "one-by-one.db"))) == listed(app)


def test_an_erased_child_leaves_the_index(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    app = applied(sqlite_app(path))
    erased = [
        ChildErased.create(source="kluis", subject=c, data=ChildErasedData(erased_at=NOW))
        for c in CHILDREN
    ]

    for event in erased:
        app.apply(event)

    assert {p: [] for p in PARTNERS} == listed(app)
    with sqlite3.connect(path) as db:
        assert [(0,)] == db.execute("SELECT count(*) FROM worklist_index").fetchall()
    assert [] == app.worklist(SWV)["items"]


def test_a_store_recorded_before_the_index_gets_it_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    live = listed(applied(sqlite_app(path)))
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM worklist_index")  # as a store from before the index

    assert live == listed(sqlite_app(path))

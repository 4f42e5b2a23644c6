"""Retention from the register: a scope's keys expire by themselves once its relations ended."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from demo.arrangements import arrangement as arrangement_event
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import KeyRequest, PartnerKeys, sign_request
from services.kluis.application import KluisApplication
from services.kluis.domain import ChildRelations, retention_end
from services.kluis.keystore import Keystore, StaticMasterKey
from services.kluis.translation import to_contract
from services.ldv import Decision
from services.policy.loading import load_register
from services.runtime.outbox import outbound_event_id
from services.runtime.partners import PartnerEntry, PartnerRegistry

CHILD = "c" * 32
SIGNAL = str(uuid.uuid4())
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def app() -> Iterator[KluisApplication]:
    application = KluisApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        register=load_register(),
        directory=PartnerRegistry([], data_dir=Path("/nonexistent")),
        keystore=Keystore.sqlite(Path(":memory:"), StaticMasterKey(os.urandom(32))),
        own_keys=PartnerKeys.generate("kluis"),
        clock=lambda: START,
    )
    yield application
    application.close()


def child_with_ended_signal(app: KluisApplication, ended: datetime) -> None:
    for purpose in Purpose:
        app.keystore.sealing_key(CHILD, purpose, "child")
    relations = ChildRelations(CHILD)
    relations.add("bs-de-regenboog", "signal", SIGNAL, START)
    relations.end("bs-de-regenboog", "signal", SIGNAL, ended)
    app.save(relations)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        ("2024-02-29", "P2Y", "2026-02-28"),
        ("2026-08-31", "P6M", "2027-02-28"),
        ("2026-01-15", "P5Y6M10D", "2031-07-25"),
    ],
)
def test_retention_periods_add_years_months_and_days(
    start: str, period: str, expected: str
) -> None:
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert expected == retention_end(begin, period).date().isoformat()


def test_nothing_expires_while_a_partner_has_a_relation(app: KluisApplication) -> None:
    for purpose in Purpose:
        app.keystore.sealing_key(CHILD, purpose, "child")
    relations = ChildRelations(CHILD)
    relations.add("bs-de-regenboog", "signal", SIGNAL, START)
    app.save(relations)

    assert [] == app.expire_retention(datetime(2060, 1, 1, tzinfo=UTC))


def test_purposes_expire_one_by_one_after_the_last_relation_ended(
    app: KluisApplication,
) -> None:
    child_with_ended_signal(app, ended=START)

    after_three_years = app.expire_retention(datetime(2029, 1, 16, tzinfo=UTC))

    # The P2Y purposes (signalling, handover, support) go; P5Y and P20Y ones stay.
    expected = {Purpose.SIGNALLING, Purpose.HANDOVER, Purpose.SUPPORT}
    assert expected == {purpose for _, purpose, _ in after_three_years}
    assert {Purpose.IDENTITY, Purpose.YOUTH_CARE, Purpose.ATTENDANCE, Purpose.PLAN} == (
        app.keystore.purposes_by_child()[CHILD]
    )
    assert not app.keystore.is_erased(CHILD)


def test_a_child_whose_every_purpose_expired_is_erased_and_announced(
    app: KluisApplication,
) -> None:
    child_with_ended_signal(app, ended=START)

    app.expire_retention(datetime(2050, 1, 1, tzinfo=UTC))

    assert {} == app.keystore.purposes_by_child()
    assert app.keystore.is_erased(CHILD)
    notifications = app.recorder.select_notifications(1, 100)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    published = [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]
    assert [(ChildErased, CHILD, "retention")] == [
        (type(c), c.subject, c.data.reason) for c in published
    ]


SCHOOL, JGZ = "bs-de-regenboog", "jgz-gelderland-zuid"
SCHOOL_KEYS = PartnerKeys.generate(SCHOOL)


class MovedClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> MovedClock:
    return MovedClock()


@pytest.fixture
def scoped(clock: MovedClock) -> Iterator[KluisApplication]:
    entry = PartnerEntry(
        id=SCHOOL,
        name=SCHOOL,
        role="school",
        keys="inline",
        public_jwks=SCHOOL_KEYS.to_jwks(private=False),
    )
    application = KluisApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        register=load_register(),
        directory=PartnerRegistry([entry], data_dir=Path("/nonexistent")),
        keystore=Keystore.sqlite(Path(":memory:"), StaticMasterKey(os.urandom(32))),
        own_keys=PartnerKeys.generate("kluis"),
        clock=clock,
        retention_interval=3600.0,
    )
    yield application
    application.close()


def two_signallers_the_school_withdrew(app: KluisApplication) -> None:
    """The school's and the JGZ's signal on the child; the school withdrew its own at START."""
    for partner in (SCHOOL, JGZ):
        app.keystore.sealing_key(CHILD, Purpose.SIGNALLING, partner)
        app.add_relation(CHILD, partner, basis="signal", basis_id=f"signal-{partner}")
    app.end_relation(CHILD, SCHOOL, basis="signal", basis_id=f"signal-{SCHOOL}")


def ask_own(
    app: KluisApplication,
    version: int | None,
    purpose: Purpose = Purpose.SIGNALLING,
    scope: str = SCHOOL,
) -> str | None:
    request = KeyRequest(
        partner=SCHOOL,
        child=CHILD,
        purpose=purpose,
        scope=scope,
        version=version,
        issued_at=int(app.clock().timestamp()),
    )
    answer = app.answer(sign_request(request, SCHOOL_KEYS.signing))
    return answer.refusal.code if answer.refusal else None


def test_a_scope_is_destroyed_by_the_scheduled_check_once_its_period_passed(
    scoped: KluisApplication, clock: MovedClock
) -> None:
    two_signallers_the_school_withdrew(scoped)

    # P2Y from START (2026-01-15 09:00); the check runs at most once an hour.
    clock.now = datetime(2028, 1, 15, 8, 30, tzinfo=UTC)
    before = scoped.retention_due(clock.now)
    clock.now = datetime(2028, 1, 15, 9, 15, tzinfo=UTC)
    too_soon = scoped.retention_due(clock.now)
    clock.now = datetime(2028, 1, 15, 9, 31, tzinfo=UTC)
    due = scoped.retention_due(clock.now)

    assert ([], []) == (before, too_soon)
    assert [(CHILD, Purpose.SIGNALLING, SCHOOL)] == due
    assert ([], [1]) == (
        scoped.keystore.versions(CHILD, Purpose.SIGNALLING, SCHOOL),
        scoped.keystore.versions(CHILD, Purpose.SIGNALLING, JGZ),
    )


def test_each_destruction_is_a_processing_record_of_kluis(
    scoped: KluisApplication, clock: MovedClock
) -> None:
    two_signallers_the_school_withdrew(scoped)
    clock.now = datetime(2028, 2, 1, tzinfo=UTC)

    scoped.retention_due(clock.now)
    [record] = scoped.processing_records(data_subject=CHILD)

    assert (
        "destroy",
        Decision.DESTROYED,
        "kluis",
        "pa-signalling",
        f"{CHILD}/signalling/{SCHOOL}/1",
    ) == (
        record.operation.value,
        record.decision,
        record.requester,
        record.processing_activity_id,
        record.kid,
    )
    assert "OK" == record.as_ldv()["status_code"]


def test_after_retention_no_key_and_the_old_sections_stay_shut_even_on_a_new_relation(
    scoped: KluisApplication, clock: MovedClock
) -> None:
    two_signallers_the_school_withdrew(scoped)
    clock.now = datetime(2028, 2, 1, tzinfo=UTC)
    scoped.retention_due(clock.now)

    after = ask_own(scoped, 1)
    scoped.add_relation(CHILD, SCHOOL, basis="signal", basis_id="signal-again")
    old_version = ask_own(scoped, 1)
    new_key = scoped.keystore.sealing_key(CHILD, Purpose.SIGNALLING, SCHOOL)

    assert ("relation-ended", "unknown-key") == (after, old_version)
    assert f"{CHILD}/signalling/{SCHOOL}/2" == new_key.kid


def test_an_arrangement_opens_its_support_key_until_its_end_date_then_relation_ended(
    scoped: KluisApplication, clock: MovedClock
) -> None:
    end = date(2026, 6, 30)
    agreed = arrangement_event(CHILD, date(2026, 1, 15), end)
    scoped.process_batch("ARRANGEMENTS:kluis", [(1, agreed)])
    scope = f"arrangement/{agreed.data.arrangement_id}"

    clock.now = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    last_day = ask_own(scoped, None, Purpose.SUPPORT, scope)
    clock.now = datetime(2026, 7, 1, 0, 1, tzinfo=UTC)
    after = ask_own(scoped, None, Purpose.SUPPORT, scope)

    assert (None, "relation-ended") == (last_day, after)


def test_keys_from_before_scopes_are_adopted_under_the_empty_scope_and_still_unwrap(
    tmp_path: Path,
) -> None:
    import sqlite3

    master = StaticMasterKey(os.urandom(32))
    path = tmp_path / "kluis-keys.sqlite"
    legacy_kid = f"{CHILD}/signalling/1"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE kluis_data_keys (child TEXT NOT NULL, purpose TEXT NOT NULL, "
            "version INTEGER NOT NULL, wrapped BLOB NOT NULL, master_key_id TEXT NOT NULL, "
            "created_at TEXT NOT NULL, PRIMARY KEY (child, purpose, version))"
        )
        conn.execute(
            "INSERT INTO kluis_data_keys VALUES (?, 'signalling', 1, ?, 'static', 'then')",
            (CHILD, master.wrap(bytes(32), aad=legacy_kid.encode())),
        )
    keystore = Keystore.sqlite(path, master)
    try:
        adopted = keystore.key(CHILD, Purpose.SIGNALLING, "", 1)
    finally:
        keystore.close()

    assert (legacy_kid, bytes(32)) == (adopted.kid if adopted else None, adopted and adopted.key)

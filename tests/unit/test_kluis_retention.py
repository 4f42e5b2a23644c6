"""Retention from the register: keys of a child nobody has business with any more expire."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import PartnerKeys
from services.kluis.application import KluisApplication
from services.kluis.domain import ChildRelations, retention_end
from services.kluis.keystore import Keystore, StaticMasterKey
from services.kluis.policy import PartnerDirectory, load_register
from services.kluis.translation import to_contract
from services.runtime.outbox import outbound_event_id

CHILD = "c" * 32
SIGNAL = str(uuid.uuid4())
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def app() -> Iterator[KluisApplication]:
    application = KluisApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        register=load_register(),
        directory=PartnerDirectory([], data_dir=Path("/nonexistent")),
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
    assert expected == {purpose for _, purpose in after_three_years}
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

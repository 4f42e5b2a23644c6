"""The due-at table: written with the events of a batch, read by the tick, built once for a
store recorded before it (signalling's with its retired `Agenda` aggregate, handover's with its
retired `OpenHandovers`)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ketenbus_contracts.handover import HandoverEscalated
from services.handover.application import HandoverApplication
from services.handover.translation import to_contract as handover_contract
from services.runtime.outbox import outbound_event_id
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.signalling.application import SignallingApplication
from services.signalling.domain import ChildSignals
from services.signalling.translation import apply_inbound, to_contract
from tests.conftest import StoreBackend
from tests.unit.test_signalling_rules import CHILD, JGZ, SCHOOL, SIBLING, signal

pytestmark = pytest.mark.integration

# Made by the signalling service before the due-at table (main at 4d43b8d): the school's signal
# on CHILD (until 2027-01-01) and the JGZ's make a match whose contact reminder is due on
# 2026-11-12 09:00; the school's signal on SIBLING; the schedule in an `Agenda` aggregate.
BEFORE = Path(__file__).parents[1] / "fixtures" / "stores" / "signalling-before-due-at.sqlite"
FOUND_AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
REMINDER_DUE = datetime(2026, 11, 12, 9, tzinfo=UTC)


def sqlite_app(path: Path, now: datetime = FOUND_AT) -> SignallingApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    return SignallingApplication(env=env, clock=lambda: now, inbound=apply_inbound)


def contact_reminders(app: SignallingApplication) -> list[str]:
    events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 1000)]
    published = [to_contract(e, outbound_event_id(app.name, e)) for e in events]
    return [c.subject for c in published if c and c.type.endswith("contact-reminder.v1")]


class DueAtCase(StoreBackend):
    @pytest.fixture
    def app(self, settings: Settings) -> SignallingApplication:
        return SignallingApplication(
            env=store_env(settings, "signalling"), clock=lambda: FOUND_AT, inbound=apply_inbound
        )

    def test_a_batch_writes_when_its_aggregates_are_due(self, app: SignallingApplication) -> None:
        app.process_batch("inbound", [(1, signal(SCHOOL, until=date(2027, 1, 1)))])
        app.process_batch(
            "inbound",
            [(2, signal(JGZ)), (3, signal(SCHOOL, child=SIBLING, until=date(2027, 11, 1)))],
        )

        due = [app.due_by(REMINDER_DUE), app.due_by(datetime(2027, 11, 1, tzinfo=UTC))]

        child, sibling = ChildSignals.create_id(CHILD), ChildSignals.create_id(SIBLING)
        assert [[child], [child, sibling]] == due

    def test_the_tick_acts_on_what_is_due_and_reschedules_it(
        self, app: SignallingApplication
    ) -> None:
        app.process_batch("inbound", [(1, signal(SCHOOL)), (2, signal(JGZ))])

        app.tick(REMINDER_DUE)

        assert [CHILD] == contact_reminders(app)
        assert [] == app.due_by(REMINDER_DUE)

    def test_an_empty_store_is_scheduled_with_nothing_due(self, app: SignallingApplication) -> None:
        assert [] == app.due_by(datetime(2100, 1, 1, tzinfo=UTC))
        assert app.due_table.is_scheduled()


class TestDueAtSQLite(DueAtCase):
    store = "sqlite"


@pytest.mark.postgres
class TestDueAtPostgres(DueAtCase):
    store = "postgres"


def test_a_store_from_before_the_table_is_scheduled_once_from_its_aggregates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "signalling.sqlite"
    shutil.copy(BEFORE, path)
    app = sqlite_app(path, REMINDER_DUE)

    app.tick(REMINDER_DUE)

    assert [CHILD] == contact_reminders(app)
    child, sibling = ChildSignals.create_id(CHILD), ChildSignals.create_id(SIBLING)
    assert [child, sibling] == app.due_by(datetime(2027, 11, 1, tzinfo=UTC))
    assert app.due_table.is_scheduled()


# Made by the handover service before the due-at table (main at 4d43b8d): one po-vo handover
# planned for 2026-06-01, started and not delivered; its schedule in `OpenHandovers`.
HANDOVER_BEFORE = BEFORE.with_name("handover-before-due-at.sqlite")


def test_a_handover_store_from_before_the_table_still_escalates(tmp_path: Path) -> None:
    path = tmp_path / "handover.sqlite"
    shutil.copy(HANDOVER_BEFORE, path)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    app = HandoverApplication(env=env, clock=lambda: FOUND_AT)

    app.escalate_overdue(datetime(2026, 12, 1, tzinfo=UTC))

    events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100)]
    published = [handover_contract(e, outbound_event_id(app.name, e)) for e in events]
    escalated = [c.data.level for c in published if isinstance(c, HandoverEscalated)]
    assert [1, 2] == escalated
    assert [] == app.due_by(datetime(2100, 1, 1, tzinfo=UTC))

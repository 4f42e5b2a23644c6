"""Tamper evidence: one changed byte in a stored event is named by service and notification id."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest

from services.audit.verify import verify_stores
from services.runtime.settings import Settings
from services.signalling.bootstrap import create_application
from tests.conftest import StoreBackend
from tests.integration.helpers import JGZ, SCHOOL, child, signal

pytestmark = pytest.mark.integration

FACTORIES: dict[str, Any] = {"signalling": create_application}


def record_signals(settings: Settings, count: int) -> None:
    app = create_application(settings)
    try:
        items = [(n + 1, signal(child(n // 2), SCHOOL if n % 2 else JGZ)) for n in range(count)]
        assert [] == app.process_batch("INBOUND:signalling", items)
    finally:
        app.close()


def flip_state_byte(settings: Settings, notification_id: int) -> None:
    """Change one byte of one stored event's state, behind the application's back."""
    if settings.store == "sqlite":
        with sqlite3.connect(settings.store_dir / "signalling.sqlite") as conn:
            # eventsourcing's SQLite recorder: the notification id is the rowid.
            (state,) = conn.execute(
                "SELECT state FROM stored_events WHERE rowid = ?", (notification_id,)
            ).fetchone()
            changed = bytes(state[:10]) + bytes([state[10] ^ 0x01]) + bytes(state[11:])
            conn.execute(
                "UPDATE stored_events SET state = ? WHERE rowid = ?",
                (changed, notification_id),
            )
        return
    schema = settings.postgres_schema
    with psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_dbname,
        user=settings.postgres_user,
        autocommit=True,
    ) as conn:
        table = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name LIKE %s",
            (schema, "signalling%events"),
        ).fetchone()[0]
        conn.execute(
            f"UPDATE {schema}.{table} SET state = overlay(state placing "
            "set_byte(substring(state from 11 for 1), 0, get_byte(state, 10) # 1) "
            "from 11 for 1) WHERE notification_id = %s",
            (notification_id,),
        )


class AuditChainCase(StoreBackend):
    def test_untouched_store_verifies_and_is_checkpointed(self, settings: Settings) -> None:
        record_signals(settings, 6)
        first = verify_stores(settings, factories=FACTORIES)[0]
        second = verify_stores(settings, factories=FACTORIES)[0]
        assert (first.checked, first.appended, first.findings) == (first.checked, first.checked, [])
        assert (0, []) == (second.appended, second.findings)
        assert first.checked > 0

    def test_one_changed_byte_is_named_by_service_and_notification_id(
        self, settings: Settings
    ) -> None:
        record_signals(settings, 6)
        verify_stores(settings, factories=FACTORIES)
        flip_state_byte(settings, 3)
        report = verify_stores(settings, factories=FACTORIES)[0]
        assert [("signalling", 3, "changed")] == [
            (f.service, f.notification_id, f.kind) for f in report.failed()
        ]

    def test_new_events_extend_the_chain(self, settings: Settings) -> None:
        record_signals(settings, 2)
        verify_stores(settings, factories=FACTORIES)
        app = create_application(settings)
        try:
            app.process_batch("INBOUND:signalling", [(3, signal(child(9), SCHOOL))])
        finally:
            app.close()
        report = verify_stores(settings, factories=FACTORIES)[0]
        assert ([], True) == (report.findings, report.appended > 0)


class TestAuditChainOnSQLite(AuditChainCase):
    store = "sqlite"


@pytest.mark.postgres
class TestAuditChainOnPostgres(AuditChainCase):
    store = "postgres"

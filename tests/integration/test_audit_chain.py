"""Tamper evidence: one changed byte in a stored event is named by service and notification id,
one changed byte in a kluis processing or erasure record by its table and id."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from services.audit.chain import chain_path
from services.audit.verify import audit_key, verify_stores, witness_service
from services.cli import app as cli
from services.kluis.bootstrap import create_application as create_kluis
from services.kluis.domain import Decision
from services.kluis.keystore import Keystore
from services.runtime.settings import Settings
from services.signalling.bootstrap import create_application
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import (
    JGZ,
    SCHOOL,
    add_processing_record,
    child,
    publish_events,
    wait_until,
)

pytestmark = pytest.mark.integration

FACTORIES: dict[str, Any] = {"signalling": create_application}
KLUIS: dict[str, Any] = {"kluis": create_kluis}


def record_signals(settings: Settings, count: int) -> None:
    app = create_application(settings)
    try:
        items = [
            (n + 1, signal(SCHOOL if n % 2 else JGZ, child=child(n // 2))) for n in range(count)
        ]
        assert [] == app.process_batch("INBOUND:signalling", items)
    finally:
        app.close()


def record_processing(settings: Settings, count: int, erase: str | None = None) -> None:
    for n in range(count):
        add_processing_record(settings, child(n), Decision.REFUSED, datetime.now(UTC))
    if erase is not None:
        keystore = Keystore.open(settings)
        try:
            keystore.erase(erase)
        finally:
            keystore.close()


def pg_connect(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_dbname,
        user=settings.postgres_user,
        autocommit=True,
    )


def tamper_kluis(settings: Settings, sql: str, params: tuple[Any, ...]) -> None:
    """Change a row of kluis's own tables behind its back (`{t}` is the table prefix)."""
    if settings.store == "sqlite":
        with sqlite3.connect(settings.store_dir / "kluis-keys.sqlite") as conn:
            conn.execute(sql.format(t=""), params)
        return
    with pg_connect(settings) as conn:
        conn.execute(sql.format(t=f"{settings.postgres_schema}.").replace("?", "%s"), params)


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
    with pg_connect(settings) as conn:
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
            app.process_batch("INBOUND:signalling", [(3, signal(SCHOOL, child=child(9)))])
        finally:
            app.close()
        report = verify_stores(settings, factories=FACTORIES)[0]
        assert ([], True) == (report.findings, report.appended > 0)

    def test_a_changed_processing_record_is_named_by_kluis_and_its_id(
        self, settings: Settings
    ) -> None:
        record_processing(settings, 3)
        first = verify_stores(settings, factories=KLUIS)
        tamper_kluis(
            settings, "UPDATE {t}kluis_processing_records SET decision = ? WHERE id = ?",
            ("released", 2),
        )  # fmt: skip
        report = verify_stores(settings, factories=KLUIS)
        assert [3] == [r.appended for r in first if r.place == "processing record"]
        assert ["kluis processing record 2: changed (stored row differs)"] == [
            str(f) for r in report for f in r.failed()
        ]

    def test_cli_verify_fails_naming_the_changed_processing_record(
        self, settings: Settings
    ) -> None:
        record_processing(settings, 2)
        runner = CliRunner()
        first = runner.invoke(cli, ["audit", "verify"], env=settings.to_env())
        tamper_kluis(
            settings, "UPDATE {t}kluis_processing_records SET at = ? WHERE id = ?",
            ("2020-01-01T00:00:00+00:00", 2),
        )  # fmt: skip
        second = runner.invoke(cli, ["audit", "verify"], env=settings.to_env())
        assert (0, 1) == (first.exit_code, second.exit_code), first.output + second.output
        assert "kluis processing record 2: changed (stored row differs)" in second.output

    def test_records_kluis_witnessed_itself_are_caught_when_changed_before_any_verify(
        self, settings: Settings
    ) -> None:
        record_processing(settings, 2, erase=child(5))
        kluis = create_kluis(settings)
        try:  # what the running kluis does every interval (only new rows)
            witness_service(
                settings.data_dir, "kluis", kluis, audit_key(settings.data_dir), recheck=False
            )
        finally:
            kluis.close()
        tamper_kluis(
            settings, "UPDATE {t}kluis_processing_records SET requester = ? WHERE id = ?",
            ("someone-else", 1),
        )  # fmt: skip
        report = verify_stores(settings, factories=KLUIS)
        assert ["kluis processing record 1: changed (stored row differs)"] == [
            str(f) for r in report for f in r.failed()
        ]

    def test_erasures_registered_before_numbering_get_numbers_in_erasure_order(
        self, settings: Settings
    ) -> None:
        settings.store_dir.mkdir(parents=True, exist_ok=True)
        tamper_kluis(
            settings, "CREATE TABLE {t}kluis_erasures (child TEXT PRIMARY KEY, "
            "erased_at TEXT NOT NULL, keys_deleted INTEGER NOT NULL)", (),
        )  # fmt: skip
        for pseudonym, at in ((child(2), "2026-02-01"), (child(1), "2026-01-01")):
            tamper_kluis(
                settings, "INSERT INTO {t}kluis_erasures VALUES (?, ?, ?)", (pseudonym, at, 3)
            )
        keystore = Keystore.open(settings)
        try:
            keystore.erase(child(3))
            rows = keystore.erasure_rows(1, 10)
        finally:
            keystore.close()
        assert [(1, child(1)), (2, child(2)), (3, child(3))] == [(r[0], r[1]) for r in rows]

    def test_a_changed_erasure_record_is_named_and_a_deleted_one_is_missing(
        self, settings: Settings
    ) -> None:
        record_processing(settings, 1, erase=child(7))
        record_processing(settings, 0, erase=child(8))
        verify_stores(settings, factories=KLUIS)
        tamper_kluis(
            settings, "UPDATE {t}kluis_erasures SET keys_deleted = ? WHERE seq = ?", (5, 1)
        )
        tamper_kluis(settings, "DELETE FROM {t}kluis_erasures WHERE seq = ?", (2,))
        report = verify_stores(settings, factories=KLUIS)
        assert [("erasure record", 1, "changed"), ("erasure record", 2, "missing")] == [
            (f.place, f.notification_id, f.kind) for r in report for f in r.failed(strict=True)
        ]

    def test_rows_the_running_service_witnessed_are_caught_when_changed_before_any_verify(
        self, settings: Settings, start_backbone: StartBackbone
    ) -> None:
        running = settings.model_copy(update={"audit_witness_interval": 0.1})
        signals = [signal(SCHOOL if n % 2 else JGZ, child=child(n // 2)) for n in range(4)]
        backbone = start_backbone(running, ["signalling"])
        publish_events(backbone.url, signals, settings.data_dir)
        wait_until(
            lambda: witnessed(settings, "signalling") >= len(signals) or None,
            what="the running service witnessed its stored events",
        )
        backbone.stop()
        flip_state_byte(settings, 2)
        report = verify_stores(settings, factories=FACTORIES)[0]
        assert [("signalling", 2, "changed")] == [
            (f.service, f.notification_id, f.kind) for f in report.failed()
        ]
        assert 0 == report.appended  # the service witnessed its last rows before it stopped


def witnessed(settings: Settings, ledger: str) -> int:
    """How many rows the chain of `ledger` holds (0 before the first witness)."""
    path = chain_path(settings.data_dir, ledger)
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM chain").fetchone()[0])
        except sqlite3.OperationalError:  # the service is creating the table right now
            return 0


class TestAuditChainOnSQLite(AuditChainCase):
    store = "sqlite"


@pytest.mark.postgres
class TestAuditChainOnPostgres(AuditChainCase):
    store = "postgres"

"""The bridge's small store (SQLite): subscriptions, who is involved with which child, deliveries.

A delivery is written in the same transaction as the event that caused it, before the event is
acknowledged on the stream: at least once from the stream to the store (a redelivered event
finds its deliveries already there), then at least once from the store to the callback.
Failures stay visible with their last error and can be retried.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.notificaties.models import Abonnement, Notificatie, matches

SCHEMA = """
CREATE TABLE IF NOT EXISTS abonnementen (
    id TEXT PRIMARY KEY, partner TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS involved (
    child TEXT NOT NULL, partner TEXT NOT NULL, PRIMARY KEY (child, partner)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    abonnement_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    child TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL,
    UNIQUE (abonnement_id, event_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
"""
SELECT_DELIVERIES = (
    "SELECT d.id, d.abonnement_id, d.event_id, d.body, d.status, d.attempts,"
    " d.next_at, d.last_error, a.body FROM deliveries d"
    " JOIN abonnementen a ON a.id = d.abonnement_id WHERE "
)


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    abonnement_id: str
    event_id: str
    body: bytes
    status: str
    attempts: int
    next_at: float
    last_error: str | None
    callback_url: str
    auth: str

    def view(self) -> dict[str, Any]:
        """What an operator sees of a delivery (the notification is thin: no personal data)."""
        return {
            "id": self.id,
            "abonnement": self.abonnement_id,
            "event": self.event_id,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "notificatie": json.loads(self.body),
        }


class NotificatieStore:
    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # subscriptions

    def subscribe(self, abonnement: Abonnement, now: float) -> str:
        abonnement_id = str(uuid.uuid4())
        body = abonnement.model_dump_json(by_alias=True)
        with self._tx() as db:
            db.execute(
                "INSERT INTO abonnementen VALUES (?, ?, ?, ?)",
                (abonnement_id, abonnement.partner, body, now),
            )
        return abonnement_id

    def unsubscribe(self, abonnement_id: str) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM deliveries WHERE abonnement_id = ?", (abonnement_id,))
            return (
                db.execute("DELETE FROM abonnementen WHERE id = ?", (abonnement_id,)).rowcount > 0
            )

    def abonnementen(self) -> dict[str, Abonnement]:
        rows = self._db.execute("SELECT id, body FROM abonnementen ORDER BY created_at").fetchall()
        return {row[0]: Abonnement.model_validate_json(row[1]) for row in rows}

    # events in

    def record(
        self,
        *,
        event_id: str,
        child: str,
        involved: set[str],
        notificatie: Notificatie | None,
        erased: bool,
        now: float,
        audience: set[str] | None = None,
    ) -> int:
        """Note who is involved, queue the notification for every subscription that wants it
        (of the involved partners in `audience`, when the event names one).

        An erased child's involvement and queued notifications are dropped; only the erasure
        notification itself still goes out, so receivers drop their references too.
        """
        queued = 0
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO involved VALUES (?, ?)", [(child, p) for p in involved]
            )
            concerned = {
                row[0]
                for row in db.execute("SELECT partner FROM involved WHERE child = ?", (child,))
            }
            if audience is not None:
                concerned &= audience
            if notificatie is not None:
                body = notificatie.body().decode()
                for abonnement_id, abonnement in self.abonnementen().items():
                    if abonnement.partner in concerned and matches(abonnement, notificatie):
                        queued += db.execute(
                            "INSERT OR IGNORE INTO deliveries"
                            " (abonnement_id, event_id, child, body, next_at)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (abonnement_id, event_id, child, body, now),
                        ).rowcount
            if erased:
                db.execute("DELETE FROM involved WHERE child = ?", (child,))
                db.execute(
                    "DELETE FROM deliveries WHERE child = ? AND event_id != ?", (child, event_id)
                )
        return queued

    # deliveries out

    def _rows(self, where: str, params: tuple[Any, ...], limit: int = -1) -> list[DeliveryRow]:
        # `where` is one of this module's own constant clauses; values go in as parameters.
        sql = SELECT_DELIVERIES + where
        rows = self._db.execute(sql + " ORDER BY d.id LIMIT ?", (*params, limit)).fetchall()
        result = []
        for row in rows:
            abonnement = Abonnement.model_validate_json(row[8])
            result.append(
                DeliveryRow(
                    id=row[0],
                    abonnement_id=row[1],
                    event_id=row[2],
                    body=row[3].encode(),
                    status=row[4],
                    attempts=row[5],
                    next_at=row[6],
                    last_error=row[7],
                    callback_url=str(abonnement.callback_url),
                    auth=abonnement.auth,
                )
            )
        return result

    def due(self, now: float, limit: int = 100) -> list[DeliveryRow]:
        return self._rows("d.status = 'pending' AND d.next_at <= ?", (now,), limit)

    def deliveries(self, status: str | None = None) -> list[DeliveryRow]:
        if status is None:
            return self._rows("1 = 1", ())
        return self._rows("d.status = ?", (status,))

    def delivered(self, delivery_id: int, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1,"
                " delivered_at = ?, last_error = NULL WHERE id = ?",
                (now, delivery_id),
            )

    def attempt_failed(
        self, delivery_id: int, now: float, error: str, backoff: list[float], max_attempts: int
    ) -> str:
        """Count a failed attempt: wait per `backoff`, or give up after `max_attempts`."""
        with self._tx() as db:
            (attempts,) = db.execute(
                "SELECT attempts + 1 FROM deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()
            status = "failed" if attempts >= max_attempts else "pending"
            wait = backoff[min(attempts, len(backoff)) - 1]
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_error = ?"
                " WHERE id = ?",
                (status, attempts, now + wait, error[:500], delivery_id),
            )
        return status

    def retry(self, now: float, delivery_id: int | None = None) -> int:
        """Queue failed deliveries again (one, or all), with a fresh count of attempts."""
        with self._tx() as db:
            sql = "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?"
            if delivery_id is None:
                return db.execute(sql + " WHERE status = 'failed'", (now,)).rowcount
            return db.execute(
                sql + " WHERE status = 'failed' AND id = ?", (now, delivery_id)
            ).rowcount

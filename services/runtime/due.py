"""The due-at table: what a service's aggregates have due when, for its tick to read.

One row per (aggregate, what) with the moment it is due: a child's signals expire, a match's
contact reminder, a handover's next escalation, an arrangement's reminder. The rows live in the
service's own store beside its events (`<app>_due` on PostgreSQL, `due_at` in SQLite, a dict
in memory) and are written by the recorder in the same transaction as the events of a batch,
so they never disagree with the aggregates: whenever an aggregate records events, its rows are
replaced by what it has due now (`TrackedApplication.due_at`). The tick reads the aggregates
due by now (`due_by`) and loads only those. Rows hold an aggregate id, a short word and a time.

A store recorded before the table existed is scheduled from its aggregates once, the first
time the tick asks (`TrackedApplication.schedule_all`); a marker row says it was done.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOProcessRecorder

from services.runtime.sidetable import PostgresSideTable, SideTable, SQLiteSideTable

DUE = "due"
"""The keyword under which a recording passes its aggregates' due rows to the recorder."""

Due = Mapping[uuid.UUID, Mapping[str, datetime]]
"""Per aggregate, what it has due (a short word) and when; an empty mapping: nothing."""

# The marker row of a store whose aggregates were all scheduled: never due.
MARKER_ID = uuid.UUID(int=0)
MARKER = {"scheduled": datetime.max.replace(tzinfo=UTC)}


class DueTable(Protocol):
    def due_by(self, now: datetime) -> list[uuid.UUID]:
        """The aggregates with something due at or before `now`, the earliest first."""

    def reschedule(self, due: Due) -> None:
        """Replace these aggregates' rows, outside a recording."""

    def unschedule(self, aggregate_id: uuid.UUID) -> None:
        """Drop the aggregate's rows (it is purged)."""

    def is_scheduled(self) -> bool:
        """Every aggregate of the store was scheduled once (the marker row is there)."""


def _stamp(at: datetime) -> str:
    # One fixed-width UTC form, so text comparison is time order (SQLite).
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class POPODueRecorder(POPOProcessRecorder):
    """The in-memory store with the due-at table (unit tests)."""

    def __init__(self) -> None:
        super().__init__()
        self._due: dict[uuid.UUID, dict[str, datetime]] = {}

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        self._write(kwargs.get(DUE) or {})
        return notification_ids

    def _write(self, due: Due) -> None:
        for aggregate_id, items in due.items():
            self._due[aggregate_id] = dict(items)

    def due_by(self, now: datetime) -> list[uuid.UUID]:
        with self._database_lock:
            first = {a: min(items.values()) for a, items in self._due.items() if items}
        return sorted((a for a, at in first.items() if at <= now), key=lambda a: (first[a], a))

    def reschedule(self, due: Due) -> None:
        with self._database_lock:
            self._write(due)

    def unschedule(self, aggregate_id: uuid.UUID) -> None:
        with self._database_lock:
            self._due.pop(aggregate_id, None)

    def is_scheduled(self) -> bool:
        with self._database_lock:
            return MARKER_ID in self._due


class DueQueries(SideTable):
    """The due-at table's statements, the same on both databases (a subclass says how its
    database keeps ids and times)."""

    def key(self, aggregate_id: uuid.UUID) -> Any:
        return aggregate_id

    def at(self, moment: datetime) -> Any:
        return moment

    def _write(self, c: Any, due: Due) -> None:
        self.many(c, "DELETE FROM {t} WHERE aggregate_id = %s", [(self.key(a),) for a in due])
        rows = [
            (self.key(a), what, self.at(at))
            for a, items in due.items()
            for what, at in items.items()
        ]
        self.many(c, "INSERT INTO {t} VALUES (%s, %s, %s)", rows)

    def due_by(self, now: datetime) -> list[uuid.UUID]:
        statement = (
            "SELECT aggregate_id FROM {t} WHERE due_at <= %s "
            "GROUP BY aggregate_id ORDER BY MIN(due_at), aggregate_id"
        )
        return [
            uuid.UUID(str(row["aggregate_id"])) for row in self.query(statement, (self.at(now),))
        ]

    def reschedule(self, due: Due) -> None:
        self.write(due)

    def unschedule(self, aggregate_id: uuid.UUID) -> None:
        self.execute("DELETE FROM {t} WHERE aggregate_id = %s", (self.key(aggregate_id),))

    def is_scheduled(self) -> bool:
        statement = "SELECT 1 FROM {t} WHERE aggregate_id = %s"
        return bool(self.query(statement, (self.key(MARKER_ID),)))


class SQLiteDueRecorder(DueQueries, SQLiteSideTable):
    """SQLite with the due-at table (`due_at`): ids as text, times as UTC ISO text."""

    kwarg = DUE
    side_table = "due_at"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (aggregate_id TEXT NOT NULL, what TEXT NOT NULL, "
        "due_at TEXT NOT NULL, PRIMARY KEY (aggregate_id, what)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS {t}_at ON {t} (due_at)",
    )

    def key(self, aggregate_id: uuid.UUID) -> Any:
        return str(aggregate_id)

    def at(self, moment: datetime) -> Any:
        return _stamp(moment)


class PurgedMeanwhileError(IntegrityError):
    """A recording continues an aggregate whose earlier events are gone: another instance
    purged it after this one loaded it. Nothing is recorded; the batch is run again on what
    is stored now."""


class PostgresDueRecorder(DueQueries, PostgresSideTable):
    """PostgreSQL with the due-at table (`<app>_due`, beside `<app>_events`).

    A service with a due-at table has a tick that may purge an aggregate (a child's history
    past its retention) while, on a service run on many instances, another instance records
    events of that aggregate it loaded before the purge. The unique version catches a second
    write of one version, not a write after the earlier ones were deleted: a recording
    therefore checks, under the events table's write lock that `purge` takes too, that each
    aggregate it continues still has the version before its first new one."""

    kwarg = DUE
    side_suffix = "_due"
    index_suffix = "_at"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (aggregate_id uuid NOT NULL, what text NOT NULL, "
        "due_at timestamptz NOT NULL, PRIMARY KEY (aggregate_id, what))",
        "CREATE INDEX IF NOT EXISTS {i} ON {t} (due_at)",
    )

    def tables(self) -> dict[str, str]:
        return super().tables() | {"e": self.events_table_name}

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        continued: dict[uuid.UUID | str, int] = {}
        for stored in stored_events:
            first = continued.get(stored.originator_id, stored.originator_version)
            continued[stored.originator_id] = min(first, stored.originator_version)
        before = [(i, v - 1) for i, v in continued.items() if v > 1]
        if before:
            # Raised here, before the inserts, the error rolls the transaction back (the
            # inserts' own errors are kept and raised after it).
            self._lock_table(curs)
            curs.execute(
                self.sql(
                    "SELECT COUNT(*) AS found FROM {e} AS e JOIN unnest(%s::uuid[], "
                    "%s::bigint[]) AS p(id, v) ON e.originator_id = p.id "
                    "AND e.originator_version = p.v"
                ),
                ([i for i, _ in before], [v for _, v in before]),
            )
            row = curs.fetchone()
            if row is None or row["found"] != len(before):
                raise PurgedMeanwhileError("an aggregate recorded on was purged meanwhile")
        super()._insert_events(curs, stored_events, **kwargs)


RECORDERS: dict[str, type[Any]] = {
    "eventsourcing.popo": POPODueRecorder,
    "eventsourcing.sqlite": SQLiteDueRecorder,
    "eventsourcing.postgres": PostgresDueRecorder,
}
"""The recorder with the due-at table for each persistence module."""

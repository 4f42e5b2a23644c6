"""The worklist index: for each partner, the plans that name it on a possible worklist item.

A partner's worklist reads only the plans listed here for it, not every plan. The index is a
table beside the plan's events (a dict on the in-memory store), written by the plan's recorder
in the same transaction as the plan events of a batch, so it never disagrees with the plans
and a replay that records the plans rebuilds it. A plan's rows are replaced whenever the plan
records events (`listed`: plan id → partners, from `application.worklist_partners`); an erased
child's plan leaves it (`unlist`). Rows hold a partner id and a plan id, nothing else.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Composed, Identifier

LISTED = "worklists"
"""The keyword under which a recording passes its plans' partners to the recorder."""

Listed = Mapping[uuid.UUID, set[str]]


class WorklistIndex(Protocol):
    def plans_of(self, partner: str) -> list[uuid.UUID]:
        """The plans that name `partner` on a possible worklist item, in id order."""

    def unlist(self, plan_id: uuid.UUID) -> None:
        """Take the plan out of every partner's list (erasure)."""

    def relist(self, listed: Listed) -> None:
        """Replace the rows of these plans, outside a recording (a store from before the
        index is filled from its plans)."""

    def is_empty(self) -> bool:
        """No plan is listed for anyone."""


def _rows(listed: Listed) -> list[tuple[str, str]]:
    return [(partner, str(plan_id)) for plan_id, ps in listed.items() for partner in sorted(ps)]


class POPOPlanRecorder(POPOProcessRecorder):
    """The in-memory store with the worklist index (tests, the audit's replays)."""

    def __init__(self) -> None:
        super().__init__()
        self._listed: dict[uuid.UUID, set[str]] = {}
        self._plans_of: dict[str, set[uuid.UUID]] = defaultdict(set)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        self._write(kwargs.get(LISTED) or {})
        return notification_ids

    def _write(self, listed: Listed) -> None:
        for plan_id, partners in listed.items():
            self._unlist(plan_id)
            self._listed[plan_id] = set(partners)
            for partner in partners:
                self._plans_of[partner].add(plan_id)

    def relist(self, listed: Listed) -> None:
        with self._database_lock:
            self._write(listed)

    def is_empty(self) -> bool:
        with self._database_lock:
            return not any(self._listed.values())

    def _unlist(self, plan_id: uuid.UUID) -> None:
        for partner in self._listed.pop(plan_id, set()):
            self._plans_of[partner].discard(plan_id)

    def plans_of(self, partner: str) -> list[uuid.UUID]:
        with self._database_lock:
            return sorted(self._plans_of.get(partner, set()))

    def unlist(self, plan_id: uuid.UUID) -> None:
        with self._database_lock:
            self._unlist(plan_id)


class SQLitePlanRecorder(SQLiteProcessRecorder):
    """SQLite with the worklist index table (`worklist_index`)."""

    index_table = "worklist_index"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.index_table} ("
            "partner TEXT NOT NULL, plan_id TEXT NOT NULL, "
            "PRIMARY KEY (partner, plan_id)) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {self.index_table}_plan ON {self.index_table} (plan_id)",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        returning = super()._insert_events(c, stored_events, **kwargs)
        self._write(c, kwargs.get(LISTED) or {})
        return returning

    def _write(self, c: Any, listed: Listed) -> None:
        if listed:
            c.executemany(
                f"DELETE FROM {self.index_table} WHERE plan_id = ?",  # noqa: S608 - ours
                [(str(plan_id),) for plan_id in listed],
            )
            c.executemany(f"INSERT INTO {self.index_table} VALUES (?, ?)", _rows(listed))  # noqa: S608

    def relist(self, listed: Listed) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._write(c, listed)

    def is_empty(self) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT 1 FROM {self.index_table} LIMIT 1")  # noqa: S608
            return c.fetchone() is None

    def plans_of(self, partner: str) -> list[uuid.UUID]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT plan_id FROM {self.index_table} WHERE partner = ?",  # noqa: S608
                (partner,),
            )
            return sorted(uuid.UUID(row["plan_id"]) for row in c.fetchall())

    def unlist(self, plan_id: uuid.UUID) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"DELETE FROM {self.index_table} WHERE plan_id = ?",  # noqa: S608
                (str(plan_id),),
            )


class PostgresPlanRecorder(PostgresProcessRecorder):
    """PostgreSQL with the worklist index table (`<app>_worklist`, beside `<app>_events`)."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.index_table = self.events_table_name.removesuffix("_events") + "_worklist"
        self.check_identifier_length(self.index_table)
        self.sql_create_statements.append(
            self._sql(
                "CREATE TABLE IF NOT EXISTS {t} (partner text NOT NULL, plan_id text NOT NULL, "
                "PRIMARY KEY (partner, plan_id))"
            )
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (plan_id)").format(
                i=Identifier(self.index_table + "_plan"), t=self._table()
            )
        )

    def _table(self) -> Composed:
        return SQL("{s}.{t}").format(
            s=Identifier(self.datastore.schema), t=Identifier(self.index_table)
        )

    def _sql(self, statement: str) -> Composed:
        return SQL(statement).format(t=self._table())

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        self._write(curs, kwargs.get(LISTED) or {})

    def _write(self, curs: Any, listed: Listed) -> None:
        if listed:
            curs.executemany(
                self._sql("DELETE FROM {t} WHERE plan_id = %s"),
                [(str(plan_id),) for plan_id in listed],
            )
            curs.executemany(self._sql("INSERT INTO {t} VALUES (%s, %s)"), _rows(listed))

    def relist(self, listed: Listed) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._write(curs, listed)

    def is_empty(self) -> bool:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT 1 FROM {t} LIMIT 1"))
            return curs.fetchone() is None

    def plans_of(self, partner: str) -> list[uuid.UUID]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT plan_id FROM {t} WHERE partner = %s"), (partner,))
            return sorted(uuid.UUID(row["plan_id"]) for row in curs.fetchall())

    def unlist(self, plan_id: uuid.UUID) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql("DELETE FROM {t} WHERE plan_id = %s"), (str(plan_id),))


RECORDERS: dict[str, type[Any]] = {
    "eventsourcing.popo": POPOPlanRecorder,
    "eventsourcing.sqlite": SQLitePlanRecorder,
    "eventsourcing.postgres": PostgresPlanRecorder,
}
"""The plan's recorder for each persistence module."""

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

from services.runtime.sidetable import PostgresSideTable, SideTable, SQLiteSideTable

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


class WorklistQueries(SideTable):
    """The worklist index's statements, the same on both databases."""

    kwarg = LISTED

    def _write(self, c: Any, listed: Listed) -> None:
        self.many(c, "DELETE FROM {t} WHERE plan_id = %s", [(str(p),) for p in listed])
        self.many(c, "INSERT INTO {t} VALUES (%s, %s)", _rows(listed))

    def relist(self, listed: Listed) -> None:
        self.write(listed)

    def is_empty(self) -> bool:
        return not self.query("SELECT 1 FROM {t} LIMIT 1")

    def plans_of(self, partner: str) -> list[uuid.UUID]:
        rows = self.query("SELECT plan_id FROM {t} WHERE partner = %s", (partner,))
        return sorted(uuid.UUID(row["plan_id"]) for row in rows)

    def unlist(self, plan_id: uuid.UUID) -> None:
        self.execute("DELETE FROM {t} WHERE plan_id = %s", (str(plan_id),))


class SQLitePlanRecorder(WorklistQueries, SQLiteSideTable):
    """SQLite with the worklist index table (`worklist_index`)."""

    side_table = "worklist_index"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (partner TEXT NOT NULL, plan_id TEXT NOT NULL, "
        "PRIMARY KEY (partner, plan_id)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS {t}_plan ON {t} (plan_id)",
    )


class PostgresPlanRecorder(WorklistQueries, PostgresSideTable):
    """PostgreSQL with the worklist index table (`<app>_worklist`, beside `<app>_events`)."""

    side_suffix = "_worklist"
    index_suffix = "_plan"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (partner text NOT NULL, plan_id text NOT NULL, "
        "PRIMARY KEY (partner, plan_id))",
        "CREATE INDEX IF NOT EXISTS {i} ON {t} (plan_id)",
    )


RECORDERS: dict[str, type[Any]] = {
    "eventsourcing.popo": POPOPlanRecorder,
    "eventsourcing.sqlite": SQLitePlanRecorder,
    "eventsourcing.postgres": PostgresPlanRecorder,
}
"""The plan's recorder for each persistence module."""

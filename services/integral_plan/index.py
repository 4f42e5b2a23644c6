"""The plan's recorders: its events, the worklist index and the plan's views, in one transaction.

Two tables beside the plan's events (dicts on the in-memory store), written by the plan's
recorder in the same transaction as the plan events and the tracking position of a batch, so
they never disagree with the plans and a replay that records the plans rebuilds them:

- the worklist index: for each partner, the plans that name it on a possible worklist item. A
  partner's worklist reads only the plans listed here for it, not every plan. A plan's rows are
  replaced whenever the batch changed the plan (`listed`: plan id → partners, from
  `application.worklist_partners`). Rows hold a partner id and a plan id, nothing else.
- the plan's views (`services.integral_plan.views`): one row per item of a plan's view (plan
  id, section, key, the item as JSON); a batch writes the items it changed (`viewed`: plan id →
  changes), and drops those that are gone.

An erased child's plan leaves both (`drop`).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOProcessRecorder

from services.integral_plan.views import TIMELINE, Change, Row
from services.runtime.sidetable import PostgresSideTable, SideTable, SQLiteSideTable

LISTED = "worklists"
"""The keyword under which a recording passes its plans' partners to the recorder."""
VIEWED = "plan_views"
"""The keyword under which a recording passes its plans' changed view items."""

VIEWS_CHUNK = 500  # plans per SELECT of their views

Listed = Mapping[uuid.UUID, set[str]]
Viewed = Mapping[uuid.UUID, Sequence[Change]]


class WorklistIndex(Protocol):
    def plans_of(self, partner: str) -> list[uuid.UUID]:
        """The plans that name `partner` on a possible worklist item, in id order."""

    def drop(self, plan_id: uuid.UUID) -> None:
        """Take the plan out of every partner's list and drop its views (erasure)."""

    def relist(self, listed: Listed) -> None:
        """Replace the rows of these plans, outside a recording (a store from before the
        index is filled from its plans)."""

    def is_empty(self) -> bool:
        """No plan is listed for anyone."""

    def view_rows(self, plan_id: uuid.UUID, *, timeline: bool = True) -> list[Row]:
        """The rows of the plan's views (without its timeline: what a batch changes from)."""

    def views_of(
        self, plan_ids: Sequence[uuid.UUID], *, timeline: bool = True
    ) -> dict[uuid.UUID, list[Row]]:
        """`view_rows` of each of these plans, read together (every plan a key, [] if none)."""

    def review(self, viewed: Viewed) -> None:
        """Write these views, outside a recording (a store from before the views)."""

    def has_views(self) -> bool:
        """Any plan has a view row."""


def _rows(listed: Listed) -> list[tuple[str, str]]:
    return [(partner, str(plan_id)) for plan_id, ps in listed.items() for partner in sorted(ps)]


def _view_rows(viewed: Viewed) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The rows to write and the (plan, section, key) of those to delete."""
    put: list[tuple[str, ...]] = []
    gone: list[tuple[str, ...]] = []
    for plan_id, changes in viewed.items():
        for section, key, body in changes:
            if body is None:
                gone.append((str(plan_id), section, key))
            else:
                put.append((str(plan_id), section, key, json.dumps(body, separators=(",", ":"))))
    return put, gone


def _loaded(rows: Any) -> list[Row]:
    return [(r["section"], r["key"], json.loads(r["body"])) for r in rows]


class POPOPlanRecorder(POPOProcessRecorder):
    """The in-memory store with the worklist index (tests, the audit's replays)."""

    def __init__(self) -> None:
        super().__init__()
        self._listed: dict[uuid.UUID, set[str]] = {}
        self._plans_of: dict[str, set[uuid.UUID]] = defaultdict(set)
        self._views: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        self._write(kwargs.get(LISTED) or {})
        self._write_views(kwargs.get(VIEWED) or {})
        return notification_ids

    def _write_views(self, viewed: Viewed) -> None:
        put, gone = _view_rows(viewed)
        for plan_id, section, key in gone:
            self._views[plan_id].pop((section, key), None)
        for plan_id, section, key, body in put:
            self._views[plan_id][section, key] = body

    def view_rows(self, plan_id: uuid.UUID, *, timeline: bool = True) -> list[Row]:
        with self._database_lock:
            rows = self._views.get(str(plan_id), {}).items()
            return [
                (section, key, json.loads(body))
                for (section, key), body in sorted(rows)
                if timeline or section != TIMELINE
            ]

    def views_of(
        self, plan_ids: Sequence[uuid.UUID], *, timeline: bool = True
    ) -> dict[uuid.UUID, list[Row]]:
        return {p: self.view_rows(p, timeline=timeline) for p in plan_ids}

    def review(self, viewed: Viewed) -> None:
        with self._database_lock:
            self._write_views(viewed)

    def has_views(self) -> bool:
        with self._database_lock:
            return any(self._views.values())

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

    def drop(self, plan_id: uuid.UUID) -> None:
        with self._database_lock:
            self._unlist(plan_id)
            self._views.pop(str(plan_id), None)


class PlanQueries(SideTable):
    """The worklist index's (`{t}`) and the views' (`{v}`) statements, the same on both
    databases."""

    kwarg = LISTED
    views_table: str
    views_statement = (
        "CREATE TABLE IF NOT EXISTS {v} (plan_id TEXT NOT NULL, section TEXT NOT NULL, "
        "key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (plan_id, section, key))"
    )

    def tables(self) -> dict[str, str]:
        return super().tables() | {"v": self.views_table}

    def _record_side(self, c: Any, kwargs: dict[str, Any]) -> None:
        super()._record_side(c, kwargs)
        if viewed := kwargs.get(VIEWED):
            self._write_views(c, viewed)

    def _write(self, c: Any, listed: Listed) -> None:
        self.many(c, "DELETE FROM {t} WHERE plan_id = %s", [(str(p),) for p in listed])
        self.many(c, "INSERT INTO {t} VALUES (%s, %s)", _rows(listed))

    def _write_views(self, c: Any, viewed: Viewed) -> None:
        put, gone = _view_rows(viewed)
        self.many(c, "DELETE FROM {v} WHERE plan_id = %s AND section = %s AND key = %s", gone)
        self.many(
            c,
            "INSERT INTO {v} VALUES (%s, %s, %s, %s) ON CONFLICT (plan_id, section, key) "
            "DO UPDATE SET body = excluded.body",
            put,
        )

    def relist(self, listed: Listed) -> None:
        self.write(listed)

    def is_empty(self) -> bool:
        return not self.query("SELECT 1 FROM {t} LIMIT 1")

    def plans_of(self, partner: str) -> list[uuid.UUID]:
        rows = self.query("SELECT plan_id FROM {t} WHERE partner = %s", (partner,))
        return sorted(uuid.UUID(row["plan_id"]) for row in rows)

    def drop(self, plan_id: uuid.UUID) -> None:
        with self.datastore.transaction(commit=True) as c:
            for statement in (
                "DELETE FROM {t} WHERE plan_id = %s",
                "DELETE FROM {v} WHERE plan_id = %s",
            ):
                c.execute(self.sql(statement), (str(plan_id),))

    def view_rows(self, plan_id: uuid.UUID, *, timeline: bool = True) -> list[Row]:
        # Without the timeline, only what a batch may change is read (timeline rows are added).
        statement = "SELECT section, key, body FROM {v} WHERE plan_id = %s"
        order = " ORDER BY section, key"
        if timeline:
            return _loaded(self.query(statement + order, (str(plan_id),)))
        return _loaded(
            self.query(statement + " AND section != %s" + order, (str(plan_id), TIMELINE))
        )

    def views_of(
        self, plan_ids: Sequence[uuid.UUID], *, timeline: bool = True
    ) -> dict[uuid.UUID, list[Row]]:
        # One SELECT per VIEWS_CHUNK plans, ordered as a plan's own rows are (its key).
        found: dict[uuid.UUID, list[Row]] = {p: [] for p in plan_ids}
        by_text = {str(p): p for p in plan_ids}
        texts = list(by_text)
        for start in range(0, len(texts), VIEWS_CHUNK):
            chunk = texts[start : start + VIEWS_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            statement = f"SELECT plan_id, section, key, body FROM {{v}} WHERE plan_id IN ({marks})"  # noqa: S608
            params: list[str] = list(chunk)
            if not timeline:
                statement += " AND section != %s"
                params.append(TIMELINE)
            for r in self.query(statement + " ORDER BY plan_id, section, key", params):
                found[by_text[r["plan_id"]]].append((r["section"], r["key"], json.loads(r["body"])))
        return found

    def review(self, viewed: Viewed) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._write_views(c, viewed)

    def has_views(self) -> bool:
        return bool(self.query("SELECT 1 FROM {v} LIMIT 1"))


class SQLitePlanRecorder(PlanQueries, SQLiteSideTable):
    """SQLite with the worklist index (`worklist_index`) and the views (`plan_views`)."""

    side_table = "worklist_index"
    views_table = "plan_views"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (partner TEXT NOT NULL, plan_id TEXT NOT NULL, "
        "PRIMARY KEY (partner, plan_id)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS {t}_plan ON {t} (plan_id)",
        PlanQueries.views_statement + " WITHOUT ROWID",
    )


class PostgresPlanRecorder(PlanQueries, PostgresSideTable):
    """PostgreSQL with the worklist index (`<app>_worklist`) and the views (`<app>_views`),
    beside `<app>_events`."""

    side_suffix = "_worklist"
    index_suffix = "_plan"
    side_statements = (
        "CREATE TABLE IF NOT EXISTS {t} (partner text NOT NULL, plan_id text NOT NULL, "
        "PRIMARY KEY (partner, plan_id))",
        "CREATE INDEX IF NOT EXISTS {i} ON {t} (plan_id)",
        PlanQueries.views_statement,
    )

    @property
    def views_table(self) -> str:  # type: ignore[override]
        return self.events_table_name.removesuffix("_events") + "_views"


RECORDERS: dict[str, type[Any]] = {
    "eventsourcing.popo": POPOPlanRecorder,
    "eventsourcing.sqlite": SQLitePlanRecorder,
    "eventsourcing.postgres": PostgresPlanRecorder,
}
"""The plan's recorder for each persistence module."""

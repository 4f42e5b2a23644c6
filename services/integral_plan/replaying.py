"""Plans rebuilt in memory from a replay of the streams, a bounded number at a time.

A replay (`ketenbus audit replay`, `services.audit.replay`) applies the events the plan
consumed with the service's own code (`IntegralPlanApplication.apply`: the same appliers, the
same plan and views), but it needs only the plans' views at the end, not the plans' stored
events: recording every batch's events, view rows and worklist rows and loading each plan
back from them (one SELECT of its events and one of its view rows per plan per batch) was most
of a replay's time. So the plans and their views stay in memory here, the most recently used
`size` of them; older ones are pickled to a private temporary SQLite table and taken back
when an event for them comes. Pickle is safe here: the table is written and read only by this
process, in a temporary file it created, never by anyone else.

What the service's event store would have done for the replay, this does the same way: a plan
is created by its first event (also when that event is refused: `Plan(child)` is recorded
with the batch), a refused event leaves no trace on the plan, an erasure drops the plan and
its views, and at a batch's end each touched plan's view forgets what changed as a view
loaded again from its rows would (`PlanView.settle`).
"""

from __future__ import annotations

import pickle
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.integral_plan.application import IntegralPlanApplication, PlanBatch
from services.integral_plan.domain import Plan
from services.integral_plan.views import PlanView, plan_view

Evicted = Callable[[str, dict[str, Any] | None], None]
"""Told a plan's view as readers get it (None: the plan was erased) when it leaves memory."""


class HeldPlans:
    """The replay's plans and their views by pseudonym: at most `size` in memory (least
    recently used go first), the rest pickled in the SQLite file `path`."""

    def __init__(self, path: Path, size: int, evicted: Evicted) -> None:
        self.size = size
        self.evicted = evicted
        self._held: OrderedDict[str, tuple[Plan, PlanView]] = OrderedDict()
        self._db = sqlite3.connect(path)
        # A scratch file: nothing survives a crash, so no journal and no syncs.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE plans (child TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID"
        )
        self._spilled = False  # nothing to look up before the first plan left memory

    def get(self, child: str) -> tuple[Plan, PlanView]:
        """The child's plan and view (new ones when there are none)."""
        held = self._held.get(child)
        if held is not None:
            self._held.move_to_end(child)
            return held
        held = self._unspill(child) if self._spilled else None
        if held is None:
            held = (Plan(child), PlanView())
        self._held[child] = held
        return held

    def trim(self) -> None:
        """Down to `size` plans in memory (between batches: a batch's plans stay while it
        runs, however many it touches)."""
        while len(self._held) > self.size:
            self._spill(*self._held.popitem(last=False))

    def _unspill(self, child: str) -> tuple[Plan, PlanView] | None:
        row = self._db.execute("SELECT state FROM plans WHERE child = ?", (child,)).fetchone()
        if row is None:
            return None
        held: tuple[Plan, PlanView] = pickle.loads(row[0])  # noqa: S301 - our own temporary file
        return held

    def _spill(self, child: str, held: tuple[Plan, PlanView]) -> None:
        self.evicted(child, plan_view(*held))
        self._db.execute(
            "INSERT OR REPLACE INTO plans VALUES (?, ?)",
            (child, pickle.dumps(held, protocol=pickle.HIGHEST_PROTOCOL)),
        )
        self._spilled = True

    def drop(self, child: str) -> None:
        """The child's plan and views are erased."""
        self._held.pop(child, None)
        if self._spilled:
            self._db.execute("DELETE FROM plans WHERE child = ?", (child,))
        self.evicted(child, None)

    def views(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The views of the plans still in memory (the others were told when they left)."""
        for child, held in self._held.items():
            yield child, plan_view(*held)

    def close(self) -> None:
        self._held.clear()
        self._db.close()


class HeldBatch(PlanBatch):
    """A batch over `HeldPlans`: the plans it touches stay in memory when it ends."""

    def __init__(self, application: IntegralPlanApplication, plans: HeldPlans) -> None:
        super().__init__(application.repository, application.index)
        self._plans = plans
        self._children: dict[str, tuple[Plan, PlanView]] = {}

    def plan(self, child: str) -> tuple[Plan, PlanView]:
        held = self._children.get(child)
        if held is None:
            held = self._children[child] = self._plans.get(child)
        return held

    def erase(self, child: str) -> None:
        self._children.pop(child, None)
        self._plans.drop(child)

    def end(self) -> None:
        """The batch is over: the plans' new events are as recorded (dropped), their views
        as loaded again."""
        for plan, view in self._children.values():
            plan.collect_events()
            view.settle()
        self._children.clear()
        self._plans.trim()


class ReplayedPlans(IntegralPlanApplication):
    """The plan service's application applying events to plans held in memory (`HeldPlans`)
    instead of its event store: `apply(event, batch)` with a batch from `new_batch`."""

    def __init__(self, plans: HeldPlans) -> None:
        # Its own event store (in memory) stays empty: nothing is recorded.
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.held = plans

    def new_batch(self) -> HeldBatch:
        return HeldBatch(self, self.held)

    def erase(self, child: str, batch: Any = None) -> None:
        if isinstance(batch, HeldBatch):
            batch.erase(child)
        else:
            self.held.drop(child)

"""Worklist cost: one partner's worklist among N plans, read through the worklist index or by
reading every plan (as before the index), and what keeping the index costs per applied event.

Run: `.venv/bin/python -m bench.worklist [--plans N] [--schools S] [--json] [--keep]` (default
5,000 plans, one school per 200 pupils). In process, on temporary SQLite stores (on disk):

- every child is enrolled at one of the S schools and signalled by it; every 10th child also
  has a po→vo handover from its school past its planned date (stalled: work for the school and
  its SWV; one SWV per 10 schools), so a school has about N/S/10 plans with work and N/S with
  none;
- the same events are applied, a batch of 100 at a time with tracking (as the service consumes
  them), by `IntegralPlanApplication` (the index written in each batch's transaction) and by
  it recording without index rows (before), each twice on a fresh store, in the order A B B A;
- **per event** = CPU time of applying everything ÷ events (process time, SQLite included),
  the mean of the two runs;
- **worklist** = median wall time of `worklist(partner)` over 5 calls for school 0 and its
  SWV, through the index, and by reading every plan of the same store with the same worklist
  sources (before); both give the same items (checked).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from bench.replay import pseudonym
from ketenbus_contracts import handover as ho
from ketenbus_contracts import truancy as tr
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData
from services.integral_plan.application import WORK_ITEMS, IntegralPlanApplication
from services.integral_plan.index import LISTED
from services.runtime.store import TrackedApplication

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
BATCH = 100
SEALED = {Purpose.SIGNALLING: "sealed-token"}


def school(n: int) -> str:
    return f"school-{n:04d}"


def swv(school_no: int) -> str:
    return f"swv-{school_no // 10:03d}"


def events(plans: int, schools: int) -> Iterator[Any]:
    on = date(2026, 9, 1)
    at = datetime(2026, 9, 1, 9, tzinfo=UTC)
    for n in range(plans):
        child = pseudonym(n)
        no = n % schools
        yield tr.PupilEnrolled.create(
            source=school(no),
            subject=child,
            time=at,
            data=tr.PupilEnrolledData(
                school=school(no), brin="12AB", region="bench", enrolled_on=on
            ),
        )
        yield SignalRegistered.create(
            source=school(no),
            subject=child,
            data=SignalRegisteredData(
                signal_id=uuid.uuid4(),
                signaller=Signaller(partner=school(no), role="ib-er", contact="ib"),
                registered_on=on,
                age_band="4-11",
                planned_removal_on=on + timedelta(days=730),
                sealed=SEALED,
            ),
        )
        if (n // schools) % 10 == 0:
            yield ho.HandoverStarted.create(
                source="ketenbus.handover",
                subject=child,
                time=at,
                data=ho.HandoverStartedData(
                    handover_id=uuid.uuid4(),
                    transition="po-vo",
                    sender=ho.Organisation(partner=school(no), contact="ib"),
                    swv=swv(no),
                    planned_on=NOW.date() - timedelta(days=30),
                ),
            )


class Unindexed(IntegralPlanApplication):
    """The plan application recording as it did before the index (no index rows)."""

    def record(self, tracking: Tracking, *aggregates: Any, **kwargs: Any) -> None:
        kwargs.pop(LISTED, None)
        TrackedApplication.record(self, tracking, *aggregates, **kwargs)


def apply_all(app: IntegralPlanApplication, stream: list[Any]) -> float:
    """CPU seconds `app` took for `stream` (SQLite runs in this process; the machine is shared,
    so wall time says more about the neighbours than about the index)."""
    started = time.process_time()
    for first in range(0, len(stream), BATCH):
        app.process_batch("bench", list(enumerate(stream[first : first + BATCH], start=first + 1)))
    return time.process_time() - started


def read_every_plan(app: IntegralPlanApplication, partner: str) -> list[dict[str, Any]]:
    return [
        item
        for plan in app.plans()
        for source in WORK_ITEMS
        for item in source.items(plan, app.view_of(plan.id), partner, NOW.date(), app.rules)
    ]


def median_seconds(call: Any, repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(plans: int, schools: int, directory: Path) -> dict[str, Any]:
    stream = list(events(plans, schools))

    def store(name: str, cls: type[IntegralPlanApplication]) -> IntegralPlanApplication:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / f"{name}.sqlite"),
        }
        return cls(env=env, clock=lambda: NOW)

    # Each alone on a fresh store, in the order A B B A (what runs second in a process is
    # slower, whichever it is); the mean of the two runs of each.
    spent: dict[str, list[float]] = {"indexed": [], "before": []}
    kinds: dict[str, type[IntegralPlanApplication]] = {
        "indexed": IntegralPlanApplication,
        "before": Unindexed,
    }
    for n, kind in enumerate(["indexed", "before", "before", "indexed"]):
        cls = kinds[kind]
        app = store(f"{kind}-{n}", cls)
        spent[kind].append(apply_all(app, stream))
        if n < 3:
            del app
            gc.collect()
    indexed = app  # the last: indexed
    result: dict[str, Any] = {
        "plans": plans,
        "schools": schools,
        "events": len(stream),
        "per_event_us": {k: statistics.mean(v) / len(stream) * 1e6 for k, v in spent.items()},
        "worklist_ms": {},
    }
    for partner in (school(0), swv(0)):
        fast, items = median_seconds(lambda p=partner: indexed.worklist(p, NOW)["items"])
        slow, scanned = median_seconds(lambda p=partner: read_every_plan(indexed, p))
        key = lambda i: (i["kind"], i["child"], i["ref"])  # noqa: E731
        if sorted(items, key=key) != sorted(scanned, key=key):
            raise SystemExit(f"worklists differ for {partner}")
        result["worklist_ms"][partner] = {
            "items": len(items),
            "indexed_plans": len(indexed.index.plans_of(partner)),
            "indexed": fast * 1000,
            "before": slow * 1000,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=5000)
    parser.add_argument("--schools", type=int, default=0, help="default: one per 200 plans")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite stores")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-worklist-", dir=Path.cwd()))
    try:
        result = run(args.plans, args.schools or max(args.plans // 200, 1), directory)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    per_event = result["per_event_us"]
    print(f"{result['plans']} plans, {result['schools']} schools, {result['events']} events")
    print(
        f"per applied event: {per_event['indexed']:.0f} µs with the index, "
        f"{per_event['before']:.0f} µs without"
    )
    for partner, w in result["worklist_ms"].items():
        print(
            f"worklist {partner}: {w['items']} items from {w['indexed_plans']} indexed plans: "
            f"{w['indexed']:.1f} ms through the index, {w['before']:.1f} ms reading every plan"
        )


if __name__ == "__main__":
    main()

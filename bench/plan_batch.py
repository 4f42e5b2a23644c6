"""Plan batch cost when plans grow long: CPU time per applied event, in process, on SQLite.

Run: `.venv/bin/python -m bench.plan_batch [--plans N]` (default 300). Each of N children gets
one of every event the plan notes from the other domains (`tests.events.every_kind`,
24 events), applied a batch of 100 at a time with tracking, as the service consumes them,
round by round (each batch touches many plans and every plan grows to 24 events): the cost of
loading each touched plan, applying and recording it grows with what the plan stores.
**per event** = CPU time of applying everything ÷ events (process time, SQLite included; the
machine is shared, so wall time says more about the neighbours). `bench.worklist` measures the
other end: plans of two or three events each.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.replay import pseudonym
from services.integral_plan.application import IntegralPlanApplication
from tests.events import every_kind

BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=300)
    args = parser.parse_args()
    per_child = [every_kind(date(2026, 11, 2), pseudonym(n)) for n in range(args.plans)]
    rounds = len(per_child[0])
    stream = [events[k] for k in range(rounds) for events in per_child]
    directory = Path(tempfile.mkdtemp(prefix="bench-plan-batch-", dir=Path.cwd()))
    try:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "integral_plan.sqlite"),
        }
        app = IntegralPlanApplication(env=env)
        started = time.process_time()
        for first in range(0, len(stream), BATCH):
            batch = list(enumerate(stream[first : first + BATCH], start=first + 1))
            app.process_batch("bench", batch)
        spent = time.process_time() - started
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    per_event = spent / len(stream) * 1e6
    print(f"{len(stream)} events on {args.plans} plans of {rounds}: {per_event:.0f} µs per event")


if __name__ == "__main__":
    main()

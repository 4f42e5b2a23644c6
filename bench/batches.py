"""What the slice's two applications spend on a consumed batch, in process, per event.

Run: `.venv/bin/python -m bench.batches [--events N] [--rounds R] [--batch B] [--json]`
(default 2,000 events, 3 rounds, batches of 256 as the services fetch them).

No NATS: the slice's `SignalRegistered` events (already decoded) go through
`SignallingApplication.process_batch` and `IntegralPlanApplication.process_batch` on a fresh
SQLite store in a temporary directory, `--batch` at a time with tracking, as the services
consume them: first one signal per new child, then a second signal per child from another
partner (its child's signals and plan are stored by then, and the signals match). Each round
runs every variant on a store of its own, taking turns; per event = process CPU time of the
variant's pass ÷ events, the median of the rounds:

- **read ahead**: as the services run now (`Batch.preload`: one SELECT for the aggregates, and
  one for the plans' view rows, the batch's messages name);
- **read when asked**: each aggregate (and each plan's view rows) read when a message asks for
  it, one SELECT each, as before;
- **read ahead, gc tuned**: read ahead, with the garbage collector as a service process sets
  it (`KETENBUS_GC_YOUNG_THRESHOLD`: what the process holds is frozen out of the collections,
  the youngest generation collected every 10,000 allocations instead of 700); the other two
  run with Python's own.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.replay import PARTNERS, pseudonym
from ketenbus_contracts.signalling import SignalRegistered, SignalRegisteredData
from services.integral_plan.application import IntegralPlanApplication
from services.runtime.host import tune_garbage_collector
from services.runtime.logging import configure_logging
from services.runtime.settings import Settings
from services.runtime.store import TrackedApplication, store_env
from services.signalling.application import SignallingApplication
from services.signalling.translation import apply_inbound


class SignallingWhenAsked(SignallingApplication):
    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        return ()


class PlanWhenAsked(IntegralPlanApplication):
    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        return ()


AHEAD: dict[str, type[TrackedApplication]] = {
    "signalling": SignallingApplication,
    "integral_plan": IntegralPlanApplication,
}
WHEN_ASKED: dict[str, type[TrackedApplication]] = {
    "signalling": SignallingWhenAsked,
    "integral_plan": PlanWhenAsked,
}
# Variant: (its applications, its garbage collector's youngest threshold; 0 = Python's own).
VARIANTS: dict[str, tuple[dict[str, type[TrackedApplication]], int]] = {
    "read when asked": (WHEN_ASKED, 0),
    "read ahead": (AHEAD, 0),
    "read ahead, gc tuned": (AHEAD, Settings.model_fields["gc_young_threshold"].default),
}


@contextlib.contextmanager
def collector(threshold: int) -> Iterator[None]:
    """The process's garbage collector as a service sets it (`tune_garbage_collector`), for
    the block; Python's own with 0."""
    before = gc.get_threshold()
    if threshold:
        tune_garbage_collector(Settings(gc_young_threshold=threshold))
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def signals(children: int, signaller: int) -> list[SignalRegistered]:
    """One signal per child from `PARTNERS[signaller]`."""
    party = PARTNERS[signaller]
    on = date(2026, 11, 1)
    return [
        SignalRegistered.create(
            source=party.partner,
            subject=pseudonym(n),
            data=SignalRegisteredData(
                signal_id=uuid.uuid4(),
                signaller=party,
                registered_on=on,
                age_band="4-11",
                planned_removal_on=on + timedelta(days=730),
            ),
        )
        for n in range(children)
    ]


def cpu_per_event(app: TrackedApplication, events: list[Any], batch: int, start: int) -> float:
    """Process CPU µs per event of consuming `events`, `batch` at a time."""
    items = list(enumerate(events, start=start))
    began = time.process_time()
    for first in range(0, len(items), batch):
        refused = app.process_batch("bench", items[first : first + batch])
        if refused:
            raise RuntimeError(f"refused: {refused[0][1]!r}")
    return (time.process_time() - began) / len(items) * 1e6


def one_round(events: int, batch: int, directory: Path) -> dict[str, dict[str, list[float]]]:
    passes = [signals(events, 0), signals(events, 1)]
    out: dict[str, dict[str, list[float]]] = {}
    for variant, (kinds, threshold) in VARIANTS.items():
        place = directory / variant.replace(" ", "-").replace(",", "")
        settings = Settings(data_dir=place, store="sqlite")
        for service, kind in kinds.items():
            env = store_env(settings, service)
            app: TrackedApplication = (
                kind(env=env, inbound=apply_inbound) if service == "signalling" else kind(env=env)
            )
            start = 1
            for events_of_pass in passes:
                with collector(threshold):
                    us = cpu_per_event(app, events_of_pass, batch, start)
                out.setdefault(variant, {}).setdefault(service, []).append(us)
                start += len(events_of_pass)
            app.close()
    return out


def run(events: int, rounds: int, batch: int) -> dict[str, Any]:
    results: dict[str, dict[str, list[list[float]]]] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-batches-") as tmp:
            # The services' log lines, as they write them: JSON lines to a file.
            configure_logging(Settings(data_dir=Path(tmp), log_format="json"), "bench-batches")
            for variant, services in one_round(events, batch, Path(tmp)).items():
                for service, passes in services.items():
                    results.setdefault(variant, {}).setdefault(service, []).append(passes)
    median: Callable[[list[float]], float] = statistics.median
    return {
        "events": events,
        "batch": batch,
        "rounds": rounds,
        "us_per_event": {
            variant: {
                service: {
                    "new children": round(median([r[0] for r in runs]), 1),
                    "second signal": round(median([r[1] for r in runs]), 1),
                }
                for service, runs in services.items()
            }
            for variant, services in results.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    result = run(opts.events, opts.rounds, opts.batch)
    if opts.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"process_batch CPU per event, {result['events']} events, batches of "
        f"{result['batch']}, median of {result['rounds']} rounds (SQLite)"
    )
    print(f"{'variant':22} {'service':14} {'new children µs':>16} {'second signal µs':>17}")
    for variant, services in result["us_per_event"].items():
        for service, figures in services.items():
            print(
                f"{variant:22} {service:14} {figures['new children']:16.1f} "
                f"{figures['second signal']:17.1f}"
            )


if __name__ == "__main__":
    main()

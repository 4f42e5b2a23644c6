"""Where a signal's CPU goes on the slice, in process, step by step (no NATS).

Run: `.venv/bin/python -m bench.path [--signals N]` (default 2,000).

The slice bench's signed `SignalRegistered` payloads (one per new child) through what the two
services do with them, each step over all of them at once, on fresh SQLite stores in a temporary
directory, with the garbage collector as a service process sets it: signalling admits them
(signature and contract), applies them (`process_batch`, batches of 256, read ahead), answers
the receipts; its outbox relay takes what was recorded from the hand-off (reading it back from
the store, shown apart, is what it does after a restart or a gap), makes the contract events
and their bytes; its witness digests the rows; the integral plan validates those contract events and
applies them. What is left out is NATS's part (fetch, ack, publish and their futures) and
faststream's. Per signal = process CPU time of the step ÷ signals: the floor of the slice's
Python side on this machine, beside the raw publish+consume of `bench.slice`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import TypeAdapter

from bench.guards import SCHOOL, payloads
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import SignallingEvent
from services.audit.chain import notification_digests
from services.integral_plan.application import IntegralPlanApplication
from services.runtime.handoff import Handoff
from services.runtime.host import tune_garbage_collector
from services.runtime.logging import configure_logging
from services.runtime.outbox import outbound_event_id
from services.runtime.receipts import batch_receipts
from services.runtime.settings import Settings
from services.runtime.signatures import verifying
from services.runtime.store import store_env
from services.signalling.application import SignallingApplication
from services.signalling.handlers import decode_inbound
from services.signalling.translation import apply_inbound, to_contract

BATCH = 256
T = TypeVar("T")


class Fetched:
    """What receipts read of a fetched message."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.data = b""


def run(signals: int, directory: Path) -> dict[str, float]:
    configure_logging(Settings(data_dir=directory, log_format="json"), "bench-path")
    settings = Settings(data_dir=directory, store="sqlite")
    tune_garbage_collector(settings)
    keys = PartnerKeys.generate(SCHOOL.partner)
    raws = payloads(signals, keys, 0)
    steps: dict[str, float] = {}

    def step(label: str, work: Callable[[], T]) -> T:
        began = time.process_time()
        result = work()
        steps[label] = (time.process_time() - began) / signals * 1e6
        return result

    decode = verifying(decode_inbound, settings, public_keys={SCHOOL.partner: keys.public()})
    events = step("signalling: signature and contract", lambda: [decode(r) for r in raws])
    signalling = SignallingApplication(env=store_env(settings, "signalling"), inbound=apply_inbound)
    signalling.handoff = Handoff(capacity=10 * signals)  # as its relay's host sets it
    items = list(enumerate(events, 1))

    def consume(app: Any, name: str, batch: list[tuple[int, Any]]) -> None:
        for first in range(0, len(batch), BATCH):
            app.process_batch(name, batch[first : first + BATCH])

    step("signalling: process_batch", lambda: consume(signalling, "inbound", items))
    fetched = {
        seq: Fetched(f"in.{SCHOOL.partner}.signalling.signal-registered") for seq, _ in items
    }
    step(
        "signalling: receipts",
        lambda: [r.to_bytes() for r in batch_receipts("signalling", fetched, items, [])],
    )
    recorder = signalling.recorder
    handed = step(
        "relay: what was recorded, from the hand-off",
        lambda: signalling.handoff.take(0, 10 * signals) if signalling.handoff else None,
    )
    recorded = [event for _, event in handed or ()]
    rows = step(
        "(without the hand-off) relay: read the recorded rows",
        lambda: recorder.select_notifications(0, 10 * signals, inclusive_of_start=False),
    )
    step(
        "(without the hand-off) relay: rows to domain events",
        lambda: [signalling.mapper.to_domain_event(n) for n in rows],
    )
    step(
        "(every row's) outbound id",
        lambda: [outbound_event_id(signalling.name, e) for e in recorded],
    )
    contracts = step(
        "relay: domain events to contracts (ids made where used)",
        lambda: [
            c
            for e in recorded
            if (c := to_contract.lazily(e, partial(outbound_event_id, signalling.name, e)))
        ],
    )
    bodies = step("relay: contract bytes", lambda: [c.to_bytes() for c in contracts])
    page = notification_digests(recorder)
    step("witness: row digests", lambda: page(0, 10 * signals))
    adapter = TypeAdapter[Any](SignallingEvent)
    consumed = step("integral plan: contract", lambda: [adapter.validate_json(b) for b in bodies])
    plan = IntegralPlanApplication(env=store_env(settings, "integral_plan"))
    step(
        "integral plan: process_batch",
        lambda: consume(plan, "signalling", list(enumerate(consumed, 1))),
    )
    key = Ed25519PrivateKey.generate()
    message = raws[0][:600]
    signature = key.sign(message)
    public = key.public_key()
    step(
        "(in the first) Ed25519 verify alone",
        lambda: [public.verify(signature, message) for _ in raws],
    )
    steps["signals"] = signals
    steps["rows"] = len(rows)
    steps["published"] = len(contracts)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-path-") as tmp:
        steps = run(opts.signals, Path(tmp))
    signals, rows, published = (int(steps.pop(k)) for k in ("signals", "rows", "published"))
    print(
        f"CPU per signal, {signals} signals ({rows} rows recorded by signalling, {published} "
        "contract events relayed and applied by the integral plan), SQLite"
    )
    total = 0.0
    for label, us in steps.items():
        print(f"{us:8.1f} µs  {label}")
        total += 0 if label.startswith("(") else us
    print(f"{total:8.1f} µs  in all (without NATS and faststream)")


if __name__ == "__main__":
    main()

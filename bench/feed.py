"""Benchmark of the feed: partner signal → signalling → outbox → the signaller's own feed.

`python -m bench.feed` (`make bench`) starts its own backbone (embedded nats-server plus the
`signalling` and `feed` service processes) in a temporary data directory and measures, in one
run on that one server, with the same signed `SignalRegistered` payloads as `bench.slice`:

* **raw**: plain nats-py `publish_async` into a scratch stream, pulled and acked by a separate
  process (the baseline of `bench.slice`);
* **slice → signalled**: published on INBOUND; signalling validates, records and relays it to
  SIGNALLING (and answers the partner with a receipt on its feed);
* **slice → in the feed**: … then the feed service copies it to the signaller's feed
  (`feed.<partner>.signalling.signal-registered`, only the sections its role may hold, signed,
  relations recorded with tracking). Seen by an ordered consumer on FEED in this process.

Beside events/s and latency it reports the **CPU per event** of each process over the flood:
the feed's own cost per event beside the slice's (signalling's), as a ratio too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nats
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from bench.slice import (
    RAW_STREAM,
    STALL,
    Inbound,
    PhaseIncompleteError,
    Series,
    SignallingWatch,
    cpu_seconds,
    make_events,
    make_series,
    process_ids,
    publish,
    run_raw,
)
from ketenbus_partner.publish import DataDirKeys
from services.runtime.settings import Settings
from services.runtime.streams import FEED_SIGNALLING, SIGNALLING_INBOUND
from services.runtime.supervisor import Backbone

SERVICES = ["signalling", "feed"]


class FeedWatch:
    """Ordered consumer on FEED: when each signal's copy reached its signaller's feed."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.receipts = 0

    async def start(self, js: JetStreamContext) -> None:
        self.sub = await js.subscribe("feed.>", cb=self._on_msg, ordered_consumer=True)

    async def _on_msg(self, msg: Msg) -> None:
        now = time.monotonic()
        if msg.subject.endswith(".receipt"):
            self.receipts += 1
            return
        signal_id = json.loads(msg.data).get("data", {}).get("signal_id")
        if msg.subject.endswith(".signal-registered") and signal_id not in self.seen:
            self.seen[signal_id] = now

    async def stop(self) -> None:
        await self.sub.unsubscribe()


async def wait_for_services(js: JetStreamContext, timeout: float = 30.0) -> None:
    """Until both services have a pull request waiting on their durable consumers."""
    deadline = time.monotonic() + timeout
    for consumer in (SIGNALLING_INBOUND, FEED_SIGNALLING):
        while (await js.consumer_info(consumer.stream.name, consumer.durable)).num_waiting < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer {consumer.durable} is not pulling")
            await asyncio.sleep(0.1)


async def run_phase(
    js: JetStreamContext,
    signalled: SignallingWatch,
    fed: FeedWatch,
    events: Sequence[Inbound],
    *,
    timeout: float,
    label: str,
) -> tuple[Series, Series]:
    """Publish `events` into INBOUND; wait until each copy is on its signaller's feed."""
    published = await publish(js, events, mode="async")
    keys = [e.key for e in events]
    deadline = time.monotonic() + timeout
    progress, progress_at = -1, time.monotonic()
    while True:
        missing = sum(1 for k in keys if k not in fed.seen)
        if not missing:
            break
        now = time.monotonic()
        if missing != progress:
            progress, progress_at = missing, now
        if now > deadline or now - progress_at > STALL:
            raise PhaseIncompleteError(
                f"feed {label}: {missing} of {len(keys)} events not in the feed after "
                f"{STALL:g}s without progress"
            )
        await asyncio.sleep(0.01)
    return (
        make_series(
            f"slice-{label}-signalled",
            "publish → signalling recorded it and its outbox put it on SIGNALLING",
            published.times,
            published.acked,
            [signalled.seen[k][1] for k in keys],
        ),
        make_series(
            f"feed-{label}",
            "publish → … → the feed put the copy on the signaller's feed",
            published.times,
            published.acked,
            [fed.seen[k] for k in keys],
        ),
    )


async def run(backbone: Backbone, settings: Settings, events: int, warmup: int) -> dict[str, Any]:
    nc = await nats.connect(backbone.url, name="bench-feed")
    js = nc.jetstream()
    results: dict[str, Any] = {}
    series: dict[str, Series] = {}
    try:
        await js.add_stream(
            StreamConfig(name=RAW_STREAM, subjects=["bench.>"], storage=StorageType.FILE)
        )
        signer = DataDirKeys(settings.data_dir)
        flood, warm = make_events(events, signer), make_events(warmup, signer)
        series["raw-async"] = await run_raw(
            js, backbone.url, "raw-async", flood, mode="async", rate=None, timeout=180.0
        )
        await js.delete_stream(RAW_STREAM)

        await wait_for_services(js)
        signalled, fed = SignallingWatch(), FeedWatch()
        await signalled.start(js)
        await fed.start(js)
        try:
            with contextlib.suppress(PhaseIncompleteError):  # the flood says what is missing
                await run_phase(js, signalled, fed, warm, timeout=180.0, label="warmup")
            pids = process_ids(backbone)
            cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
            wall_before = time.monotonic()
            try:
                series["slice-signalled"], series["feed"] = await run_phase(
                    js, signalled, fed, flood, timeout=180.0, label="flood"
                )
            except PhaseIncompleteError as exc:
                results["error"] = str(exc)
            wall = time.monotonic() - wall_before
            cpu = {n: cpu_seconds(p) - cpu_before[n] for n, p in pids.items()}
        finally:
            await signalled.stop()
            await fed.stop()
        results["receipts_seen"] = fed.receipts
    finally:
        await nc.close()
    per_event_ms = {n: round(c / events * 1000, 3) for n, c in cpu.items()}
    summary = {k: v.summary() for k, v in series.items()}
    results["series"] = summary
    if "feed" not in summary:
        return results  # INCOMPLETE: `error` says what did not arrive
    results["flood_cpu"] = {
        "wall_s": round(wall, 2),
        "cpu_s": {n: round(c, 2) for n, c in cpu.items()},
        "cpu_ms_per_event": per_event_ms,
    }
    results["ratios"] = {
        "throughput_feed_over_raw_async": round(
            summary["feed"]["events_per_s"] / summary["raw-async"]["events_per_s"], 4
        ),
        "throughput_feed_over_slice": round(
            summary["feed"]["events_per_s"] / summary["slice-signalled"]["events_per_s"], 4
        ),
        "cpu_per_event_feed_over_signalling": round(
            per_event_ms["feed"] / per_event_ms["signalling"], 3
        ),
    }
    return results


def format_table(results: dict[str, Any]) -> str:
    lines = [
        "ketenbus feed bench: signed signals → signalling → the signaller's feed",
        "",
    ]
    if "error" in results:
        return "\n".join([*lines, f"INCOMPLETE: {results['error']}"])
    lines += [
        f"{'path':<22} {'events':>7} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for name, row in results["series"].items():
        lines.append(
            f"{name:<22} {row['events']:>7} {row['events_per_s']:>9.0f} "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    cpu = results["flood_cpu"]
    lines += ["", f"CPU per event during the flood ({cpu['wall_s']} s wall):"]
    for name, ms in cpu["cpu_ms_per_event"].items():
        lines.append(f"  {name:<26} {ms:>7.3f} ms  ({cpu['cpu_s'][name]} s)")
    ratios = results["ratios"]
    lines += [
        "",
        f"feed events/s ÷ raw publish_async events/s: {ratios['throughput_feed_over_raw_async']}",
        f"feed events/s ÷ slice (signalled) events/s: {ratios['throughput_feed_over_slice']}",
        f"feed CPU per event ÷ signalling CPU per event: "
        f"{ratios['cpu_per_event_feed_over_signalling']}",
        f"receipts seen on FEED: {results['receipts_seen']}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=5000, help="events in the flood phase")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up events")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    data_dir = Path(tempfile.mkdtemp(prefix="ketenbus-bench-feed-"))
    # As bench.slice: the baseline stream and the bench's clients are outside the allow-lists.
    settings = Settings(data_dir=data_dir, nats_url=None, store="sqlite", nats_auth="none")
    try:
        with Backbone(settings, SERVICES) as backbone:
            results = asyncio.run(run(backbone, settings, args.events, args.warmup))
    finally:
        if args.keep:
            print(f"data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["config"] = {"events": args.events, "warmup": args.warmup, "cpus": os.cpu_count()}
    print(json.dumps(results, indent=2) if args.json else format_table(results))


if __name__ == "__main__":
    main()

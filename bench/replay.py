"""Replay cost: rebuilding plans from a stream of synthetic events, beside a raw read of it.

Run: `.venv/bin/python -m bench.replay [--events N] [--signals-per-child K] [--workers W]
[--json] [--keep]`
(default one million events). It starts its own embedded nats-server in a temporary data
directory, publishes N synthetic `SignalRegistered` events (K per child) into the SIGNALLING
stream (`publish_async`, pipelined), and then measures, in the same run on the same stream:

- **raw read next_msg**: an ordered consumer receives every message (bytes only, nothing
  parsed), taken one at a time with `next_msg` (the baseline of the figures before 2026-12-04);
- **raw read**: the same, taken by the subscription's callback (`next_msg` starts two tasks per
  message: the cheaper raw read, and the one the ratio is taken against);
- **replay read**: `services.audit.replay.merged_streams` (the per-stream direct-get readers and
  their merge in storage order, each message taken as `StoredMessage` and dropped);
- **replay total**: `services.audit.replay.replay_streams` into a `Projection` (what
  `ketenbus audit replay` does): read, merge, parse each event as its contract, apply it to the
  child's plan with `IntegralPlanApplication.apply` (plans held in memory, the least recently
  used pickled to a temporary file: `services.integral_plan.replaying`), and take every plan's
  view as it leaves memory or at the end, in W worker processes by child (default: what
  `ketenbus audit replay` takes, 1: in the bench's process). Nothing holds all
  the messages.

events/s = N / wall time of that phase. The ratio is replay total ÷ raw read. CPU µs per event
is this process's CPU plus its worker processes' and the nats-server's over the phase, divided
by N: steadier than wall time on a shared host. Peak RSS is the process's (publishing
included) plus each worker's peak (a forked worker counts the pages it shares with this
process again: an upper bound).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.slice import cpu_seconds
from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData
from services.audit.replay import (
    SharedProjection,
    merged_streams,
    projection,
    replay_streams,
    replay_workers,
)
from services.runtime.nats_server import EmbeddedNats
from services.runtime.streams import SIGNALLING, ensure_streams

PARTNERS = (
    Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib"),
    Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz"),
)
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
CHUNK = 5000


def pseudonym(n: int) -> str:
    digits = ""
    for _ in range(32):
        digits += ALPHABET[n % 32]
        n //= 32
    return digits


def synthetic(n: int, per_child: int) -> bytes:
    signaller = PARTNERS[n % len(PARTNERS)]
    on = date(2026, 1, 1) + timedelta(days=n % 300)
    return SignalRegistered.create(
        source=signaller.partner,
        subject=pseudonym(n // per_child),
        data=SignalRegisteredData(
            signal_id=uuid.uuid4(),
            signaller=signaller,
            registered_on=on,
            age_band="4-11",
            planned_removal_on=on + timedelta(days=730),
        ),
    ).to_bytes()


async def publish(url: str, events: int, per_child: int) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=CHUNK)
        await ensure_streams(js)
        subject = SignalRegistered.outbound_subject()
        start = time.perf_counter()
        for base in range(0, events, CHUNK):
            for n in range(base, min(base + CHUNK, events)):
                await js.publish_async(subject, synthetic(n, per_child))
            await js.publish_async_completed()
        return time.perf_counter() - start
    finally:
        await nc.close()


async def raw_read(url: str, last: int) -> tuple[float, int]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        start = time.perf_counter()
        sub = await js.subscribe(
            SIGNALLING.subjects[0], stream=SIGNALLING.name, ordered_consumer=True
        )
        count = size = 0
        while count < last:
            msg = await sub.next_msg(timeout=30)
            count += 1
            size += len(msg.data)
        await sub.unsubscribe()
        return time.perf_counter() - start, size
    finally:
        await nc.close()


async def raw_read_callback(url: str, last: int) -> tuple[float, int]:
    """The same ordered consumer, its messages taken by a callback (no task per message)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        done = asyncio.get_running_loop().create_future()
        count = size = 0

        async def take(msg: Msg) -> None:
            nonlocal count, size
            count += 1
            size += len(msg.data)
            if count == last and not done.done():
                done.set_result(None)

        start = time.perf_counter()
        sub = await js.subscribe(
            SIGNALLING.subjects[0], stream=SIGNALLING.name, ordered_consumer=True, cb=take
        )
        await asyncio.wait_for(done, 60)
        await sub.unsubscribe()
        return time.perf_counter() - start, size
    finally:
        await nc.close()


async def stream_last(url: str) -> int:
    nc = await nats.connect(url)
    try:
        return int((await nc.jetstream().stream_info(SIGNALLING.name)).state.last_seq)
    finally:
        await nc.close()


async def replay_read(url: str, last: int) -> int:
    count = 0
    async for _ in merged_streams(url, {SIGNALLING.name: last}):
        count += 1
    return count


class Phase:
    """Wall seconds and CPU seconds (this process; the nats-server) of one phase."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.wall = self.cpu = self.server_cpu = 0.0

    def __enter__(self) -> Phase:
        self._start = (
            time.perf_counter(), time.process_time() + children_cpu(), cpu_seconds(self.server_pid)
        )  # fmt: skip
        return self

    def __exit__(self, *_: object) -> None:
        wall, cpu, server = self._start
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() + children_cpu() - cpu  # the workers', once joined
        self.server_cpu = cpu_seconds(self.server_pid) - server


def children_cpu() -> float:
    """CPU seconds of this process's child processes that have ended (the replay's workers;
    the nats-server is still running and counted apart)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(events: int, per_child: int, directory: Path, workers: int) -> dict[str, Any]:
    with EmbeddedNats(directory / "nats") as server:
        assert server.process is not None
        pid = server.process.pid
        published = asyncio.run(publish(server.url, events, per_child))
        last = asyncio.run(stream_last(server.url))
        with Phase(pid) as raw_next:
            _, raw_bytes = asyncio.run(raw_read(server.url, last))
        with Phase(pid) as raw:
            asyncio.run(raw_read_callback(server.url, last))
        with Phase(pid) as read:
            asyncio.run(replay_read(server.url, last))
        with Phase(pid) as total:
            projecting = projection(
                workers, until=None, child=None, public_keys=lambda _: None, keep_events=False,
                workdir=directory,
            )  # fmt: skip
            asyncio.run(replay_streams(server.url, projecting))
            result = projecting.finish()
    shared = projecting.found if isinstance(projecting, SharedProjection) else []
    own_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    phases = {
        "raw_read_next_msg": raw_next,
        "raw_read": raw,
        "replay_read": read,
        "replay_total": total,
    }
    return {
        "events": events,
        "signals_per_child": per_child,
        "workers": workers,
        "children": len(result.plans),
        "stream_bytes": raw_bytes,
        "publish_events_per_s": round(events / published),
        "raw_read_next_msg_events_per_s": round(last / raw_next.wall),
        "raw_read_events_per_s": round(last / raw.wall),
        "replay_read_events_per_s": round(last / read.wall),
        "replay_total_events_per_s": round(result.counted / total.wall),
        "replay_vs_raw": round((result.counted / total.wall) / (last / raw.wall), 3),
        "replay_vs_raw_next_msg": round((result.counted / total.wall) / (last / raw_next.wall), 3),
        # CPU (this process + nats-server) per event: steadier than wall time on a busy host.
        "cpu_us_per_event": {
            name: round(1e6 * (phase.cpu + phase.server_cpu) / last, 1)
            for name, phase in phases.items()
        },
        "replay_vs_raw_cpu": round((raw.cpu + raw.server_cpu) / (total.cpu + total.server_cpu), 3),
        # Per process of the replay total: the reader (this process) and each worker. The
        # busiest is what its wall time would be with a core for each and nothing else running.
        "replay_total_cpu_us_per_event_by_process": [
            round(1e6 * (total.cpu - sum(w.cpu_seconds for w in shared)) / last, 1),
            *(round(1e6 * w.cpu_seconds / last, 1) for w in shared),
        ],
        "peak_rss_mb": round((own_peak_kb + sum(w.peak_rss_kb for w in shared)) / 1024),
        "seconds": {"publish": round(published, 2)}
        | {name: round(phase.wall, 2) for name, phase in phases.items()},
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--signals-per-child", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=replay_workers(None), help="Processes that project"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="ketenbus-bench-replay-", dir=Path.cwd()))
    try:
        figures = run(args.events, args.signals_per_child, directory, args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"replay benchmark: {figures['events']} SignalRegistered events, "
          f"{figures['signals_per_child']} per child, {figures['children']} plans, "
          f"{figures['workers']} replay workers, "
          f"{figures['stream_bytes'] / 1e6:.0f} MB in the stream")  # fmt: skip
    for key in (
        "publish_events_per_s",
        "raw_read_next_msg_events_per_s",
        "raw_read_events_per_s",
        "replay_read_events_per_s",
        "replay_total_events_per_s",
    ):
        label = key.removesuffix("_events_per_s").replace("_", " ")
        print(f"  {label:<22} {figures[key]:>9} events/s")
    print(f"  replay total / raw read: {figures['replay_vs_raw']}")
    print(f"  replay total / raw read next_msg: {figures['replay_vs_raw_next_msg']}")
    print(f"  CPU µs per event (bench + nats-server): {figures['cpu_us_per_event']}")
    print(f"  raw read CPU / replay total CPU: {figures['replay_vs_raw_cpu']}")
    by_process = figures["replay_total_cpu_us_per_event_by_process"]
    print(f"  replay total CPU µs per event, reader and each worker: {by_process}")
    print(f"  load average at the end: {figures['load_average']}")
    print(f"  peak RSS: {figures['peak_rss_mb']} MB")
    print(f"  seconds: {figures['seconds']}")


if __name__ == "__main__":
    main()

"""Benchmark of the first slice: partner signal → signalling → outbox → integral plan.

`python -m bench.slice` (`make bench`) starts its own backbone (embedded nats-server plus the
`signalling` and `integral-plan` service processes) in a temporary data directory, and measures
in one run, on that one server:

* **raw**: the same `SignalRegistered` payloads published with plain nats-py into a scratch
  stream (`BENCHRAW`) and consumed by a separate process with a durable pull consumer
  (`fetch(batch=100)` + `ack` per message), no decoding at all; once with pipelined
  `js.publish_async`, once with awaited `js.publish`.
* **raw, two hops**: the slice crosses JetStream twice (partner → INBOUND → signalling → its
  relay → SIGNALLING → integral plan), so the same payloads also go through a relay that does no
  work: a process pulls them from BENCHRAW, publishes each on to a second stream
  (`BENCHRAWOUT`, pipelined, its PubAcks awaited per batch as the outbox relay awaits them
  before it records its position) and acks the batch; a third process pulls and acks them there.
* **slice**: the payloads published with `js.publish_async` on
  `in.<partner>.signalling.signal-registered` (stream INBOUND, `Nats-Msg-Id` = event id),
  each signed by its partner (signed before the run; signalling verifies every signature).
  *Signalled* is the moment the signalling service's outbox relay has put the resulting event on
  stream SIGNALLING (seen by an ordered consumer in this process). *Plan updated* is the moment
  the integral-plan service has committed the plan change: its tracking record (recorded in the
  same transaction as the plan's events) reaches that SIGNALLING sequence. It is read by polling
  the integral-plan store (`--plan-probe tracking`, default) or the ack floor of its durable
  consumer (`--plan-probe ackfloor`); the poll interval bounds the time resolution.

Each runs a *flood* (all events as fast as the publisher goes: throughput, and latency under
saturation, which is mostly queueing) and a *paced* phase (events at a fixed rate well below
saturation: the latency of one event). Throughput = events / (first publish → last event done).
Latency = per event, publish call → done. `--profile DIR` samples the service processes with
py-spy during the slice flood and prints their hot spots.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import collections
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StreamConfig,
)

from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData
from ketenbus_partner.publish import DataDirKeys
from services.integral_plan.handlers import CONSUMER as PLAN_CONSUMER
from services.runtime.nats_server import die_with_parent
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone

REPO = Path(__file__).resolve().parents[1]
SERVICES = ["signalling", "integral-plan"]
RAW_STREAM = "BENCHRAW"
RAW_OUT_STREAM = "BENCHRAWOUT"  # the two-hop baseline's second stream (`benchout.>`)
RAW_BATCH = 100
PARTNERS = (
    Signaller(partner="bs-de-regenboog", role="ib-er", contact="IB'er groep 4, 026-1234567"),
    Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="JGZ-team Huissen"),
    Signaller(partner="kdv-het-speelhuis", role="pedagogisch-medewerker", contact="Locatie"),
)
STALL = 15.0  # seconds without progress after which a phase is reported incomplete


# ---------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Inbound:
    key: str  # the signal id: the outbound SignalRegistered carries it too
    child: str
    subject: str
    payload: bytes
    msg_id: str


def _pseudonym() -> str:
    return base64.b32encode(os.urandom(20)).decode().lower()


def make_events(count: int, signer: DataDirKeys, signals_per_child: int = 1) -> list[Inbound]:
    """`count` SignalRegistered envelopes as partners would publish them: signed by each."""
    on = date.today() - timedelta(days=1)
    events, child = [], ""
    for i in range(count):
        if i % signals_per_child == 0:
            child = _pseudonym()
        signaller = PARTNERS[i % len(PARTNERS)]
        event = SignalRegistered.create(
            source=signaller.partner,
            subject=child,
            data=SignalRegisteredData(
                signal_id=uuid.uuid4(),
                signaller=signaller,
                registered_on=on,
                age_band="4-11",
                planned_removal_on=on + timedelta(days=730),
            ),
        )
        message = signer.message(event)
        events.append(
            Inbound(
                str(event.data.signal_id),
                child,
                message.subject,
                message.payload,
                message.headers["Nats-Msg-Id"],
            )
        )
    return events


# ---------------------------------------------------------------------------------- results


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Series:
    """One measured path: how many events, over how long, and each event's latency."""

    name: str
    what: str
    events: int
    seconds: float
    publish_seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else math.nan

    @property
    def publish_rate(self) -> float:
        return self.events / self.publish_seconds if self.publish_seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "name": self.name,
            "what": self.what,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.rate, 1),
            "publish_events_per_s": round(self.publish_rate, 1),
            "p50_ms": round(percentile(lat, 0.50), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(lat[-1], 2) if lat else math.nan,
        }


def make_series(
    name: str,
    what: str,
    published: Sequence[float],
    acked: float,
    done: Sequence[float],
) -> Series:
    return Series(
        name=name,
        what=what,
        events=len(published),
        seconds=max(done) - published[0],
        publish_seconds=acked - published[0],
        latencies_ms=[(d - p) * 1000 for p, d in zip(published, done, strict=True)],
    )


# ---------------------------------------------------------------------------------- publishing


@dataclass
class Published:
    times: list[float]  # monotonic time of each publish call
    seqs: list[int]  # stream sequence from each PubAck
    acked: float  # when the last PubAck came back


async def publish(
    js: JetStreamContext,
    events: Sequence[Inbound],
    *,
    mode: str = "async",
    rate: float | None = None,
    subject: Callable[[Inbound], str] = lambda e: e.subject,
    msg_id: Callable[[Inbound], str] = lambda e: e.msg_id,
) -> Published:
    """Publish `events`: pipelined (`async`), one by one awaited (`await`), or paced at `rate`/s."""
    times: list[float] = []
    futures: list[Awaitable[Any]] = []
    acks: list[Any] = []
    start = time.monotonic() + 0.01
    for i, event in enumerate(events):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        headers = {"Nats-Msg-Id": msg_id(event)}
        times.append(time.monotonic())
        if mode == "await":
            acks.append(await js.publish(subject(event), event.payload, headers=headers))
        else:
            futures.append(await js.publish_async(subject(event), event.payload, headers=headers))
    acks += await asyncio.gather(*futures)
    acked = time.monotonic()
    return Published(times, [a.seq for a in acks], acked)


# ---------------------------------------------------------------------------------- raw baseline


async def raw_consumer(url: str, durable: str, count: int, stream: str = RAW_STREAM) -> None:
    """Child process: consume `count` messages from a durable pull consumer, ack each, report.

    Prints `ready` once bound, then one JSON line: [[key, monotonic_time], ...], the key being
    the message's stream sequence, or on the two-hop baseline's second stream the first hop's
    sequence that the relay put last in the subject.
    """
    nc = await nats.connect(url)
    js = nc.jetstream()
    psub = await js.pull_subscribe_bind(durable, stream)
    print("ready", flush=True)
    seen: list[tuple[int, float]] = []
    while len(seen) < count:
        try:
            msgs = await psub.fetch(batch=RAW_BATCH, timeout=1.0)
        except TimeoutError:
            continue
        for msg in msgs:
            await msg.ack()
            key = (
                msg.metadata.sequence.stream
                if stream == RAW_STREAM
                else int(msg.subject.rsplit(".", 1)[1])
            )
            seen.append((key, time.monotonic()))
    await nc.flush()
    print(json.dumps(seen), flush=True)
    await nc.close()


async def raw_relay(url: str, name: str) -> None:
    """Child process: the two-hop baseline's relay, with no work of its own. Pulls batches
    from the durable consumer `name` on BENCHRAW, publishes each message on to
    `benchout.<name>.<its sequence>` (pipelined, `Nats-Msg-Id` set, every PubAck of the batch
    awaited), then acks the batch. Runs until it is killed."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    psub = await js.pull_subscribe_bind(name, RAW_STREAM)
    print("ready", flush=True)
    while True:
        try:
            msgs = await psub.fetch(batch=RAW_BATCH, timeout=1.0)
        except TimeoutError:
            continue
        acks = []
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            acks.append(
                await js.publish_async(
                    f"benchout.{name}.{seq}", msg.data, headers={"Nats-Msg-Id": f"{name}:{seq}"}
                )
            )
        await asyncio.gather(*acks)
        for msg in msgs:
            await msg.ack()


async def _child(*args: str) -> asyncio.subprocess.Process:
    """A baseline process (`python -m bench.slice <args>`), once it says it is ready."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.slice",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 26,  # the report is one long line
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None
    ready = await asyncio.wait_for(proc.stdout.readline(), 30)
    if ready.strip() != b"ready":
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise RuntimeError(f"baseline process {args[0]} did not start")
    return proc


async def run_raw(
    js: JetStreamContext,
    url: str,
    name: str,
    events: Sequence[Inbound],
    *,
    mode: str,
    rate: float | None,
    timeout: float,
) -> Series:
    """Publish `events` into BENCHRAW and consume them in a separate process; mode `two-hops`
    (pipelined) passes them through a relay process and a second stream first."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)
    await js.add_consumer(
        RAW_STREAM, replace(config, durable_name=name, filter_subject=f"bench.{name}.>")
    )
    procs: list[asyncio.subprocess.Process] = []
    try:
        if mode == "two-hops":
            out = f"{name}-out"
            await js.add_consumer(
                RAW_OUT_STREAM,
                replace(config, durable_name=out, filter_subject=f"benchout.{name}.>"),
            )
            consumer = await _child("--raw-consumer", url, out, str(len(events)), RAW_OUT_STREAM)
            procs += [consumer, await _child("--raw-relay", url, name)]
        else:
            consumer = await _child("--raw-consumer", url, name, str(len(events)))
            procs.append(consumer)
        published = await publish(
            js,
            events,
            mode="async" if mode == "two-hops" else mode,
            rate=rate,
            subject=lambda e: f"bench.{name}.{e.subject}",
            msg_id=lambda e: f"{name}:{e.msg_id}",
        )
        assert consumer.stdout is not None
        line = await asyncio.wait_for(consumer.stdout.readline(), timeout)
        await consumer.wait()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    done_at = dict(json.loads(line))
    done = [done_at[seq] for seq in published.seqs]
    what = {
        "async": "nats-py publish_async → pull fetch(100)+ack, separate process",
        "await": "nats-py awaited publish → pull fetch(100)+ack, separate process",
        "two-hops": "publish_async → relay process (pull, publish on, PubAcks, ack) → pull+ack",
    }[mode]
    return make_series(name, what, published.times, published.acked, done)


# ---------------------------------------------------------------------------------- slice probes


class Samples:
    """A non-decreasing position over time, sampled by a poller: when was `seq` first reached."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[int] = []
        self.polls = 0

    @property
    def current(self) -> int:
        return self.values[-1] if self.values else 0

    def add(self, value: int) -> None:
        self.polls += 1
        if value > self.current:
            self.times.append(time.monotonic())
            self.values.append(value)

    def reached(self, seq: int) -> float:
        return self.times[bisect.bisect_left(self.values, seq)]


class TrackingProbe:
    """Polls integral-plan's tracking record (its store) from a thread of this process."""

    def __init__(self, settings: Settings, interval: float) -> None:
        self.settings = settings
        self.interval = interval
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plan-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        read = self._sqlite_reader() if self.settings.store == "sqlite" else self._store_reader()
        while not self._stop.is_set():
            self.samples.add(read())
            time.sleep(self.interval)

    def _sqlite_reader(self) -> Callable[[], int]:
        # A read-only connection of our own: cheap to poll, and a WAL reader never blocks the
        # service's writes. Same query as the recorder's `max_tracking_id`.
        path = self.settings.store_dir / "integral_plan.sqlite"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        query = "SELECT MAX(notification_id) FROM tracking WHERE application_name = ?"
        name = PLAN_CONSUMER.tracking_name

        def read() -> int:
            return conn.execute(query, (name,)).fetchone()[0] or 0

        return read

    def _store_reader(self) -> Callable[[], int]:
        from services.integral_plan.bootstrap import create_application

        app = create_application(self.settings)
        return lambda: app.position(PLAN_CONSUMER.tracking_name)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join)


class AckFloorProbe:
    """Polls the ack floor of the durable `integral-plan` consumer on stream SIGNALLING."""

    def __init__(self, js: JetStreamContext, interval: float) -> None:
        self.js = js
        self.interval = interval
        self.samples = Samples()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            info = await self.js.consumer_info(PLAN_CONSUMER.stream.name, PLAN_CONSUMER.durable)
            self.samples.add(info.ack_floor.stream_seq)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class SignallingWatch:
    """Ordered consumer on SIGNALLING: when (and at which seq) each signal was relayed."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, float]] = {}
        self.messages = 0

    async def start(self, js: JetStreamContext) -> None:
        self.sub = await js.subscribe(
            "ketenbus.signalling.>", cb=self._on_msg, ordered_consumer=True
        )

    async def _on_msg(self, msg: Msg) -> None:
        now = time.monotonic()
        self.messages += 1
        signal_id = json.loads(msg.data).get("data", {}).get("signal_id")
        if signal_id is not None and signal_id not in self.seen:
            self.seen[signal_id] = (msg.metadata.sequence.stream, now)

    async def stop(self) -> None:
        await self.sub.unsubscribe()


class PhaseIncompleteError(TimeoutError):
    """Not every event of a phase reached the plan in time (a lost event shows up here)."""


async def consumer_states(js: JetStreamContext) -> str:
    """The durable consumers' delivery state, for a diagnosis."""
    from services.signalling.handlers import CONSUMER as SIGNALLING_CONSUMER

    states = []
    for consumer in (SIGNALLING_CONSUMER, PLAN_CONSUMER):
        info = await js.consumer_info(consumer.stream.name, consumer.durable)
        states.append(
            f"{consumer.durable}: delivered {info.delivered.stream_seq}, ack floor "
            f"{info.ack_floor.stream_seq}, ack pending {info.num_ack_pending}, "
            f"redelivered {info.num_redelivered}, pending {info.num_pending}"
        )
    return "; ".join(states)


async def run_slice(
    js: JetStreamContext,
    watch: SignallingWatch,
    probe: TrackingProbe | AckFloorProbe,
    events: Sequence[Inbound],
    *,
    rate: float | None,
    timeout: float,
    label: str,
) -> tuple[Series, Series]:
    """Publish `events` into INBOUND; wait until every one is in the plan; two series."""
    published = await publish(js, events, mode="async", rate=rate)
    deadline = time.monotonic() + timeout
    keys = [e.key for e in events]
    progress, progress_at = (-1, -1), time.monotonic()
    while True:
        missing = sum(1 for k in keys if k not in watch.seen)
        if not missing:
            last = max(watch.seen[k][0] for k in keys)
            if probe.samples.current >= last:
                break
        now = time.monotonic()
        if (missing, probe.samples.current) != progress:
            progress, progress_at = (missing, probe.samples.current), now
        if now > deadline or now - progress_at > STALL:
            lost = [seq for k, seq in zip(keys, published.seqs, strict=True) if k not in watch.seen]
            raise PhaseIncompleteError(
                f"slice {label}: {missing} of {len(keys)} events not signalled (INBOUND seqs "
                f"{lost[:20]}), plan at {probe.samples.current}, no progress for {STALL:g}s; "
                + await consumer_states(js)
            )
        await asyncio.sleep(0.01)
    seqs = [watch.seen[k][0] for k in keys]
    signalled = make_series(
        f"slice-{label}-signalled",
        "publish → signalling recorded it and its outbox put it on SIGNALLING",
        published.times,
        published.acked,
        [watch.seen[k][1] for k in keys],
    )
    planned = make_series(
        f"slice-{label}-plan",
        "publish → integral-plan committed the plan change (tracking ≥ SIGNALLING seq)",
        published.times,
        published.acked,
        [probe.samples.reached(s) for s in seqs],
    )
    return signalled, planned


# ---------------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_ids(backbone: Backbone) -> dict[str, int]:
    pids = {name: proc.pid for name, proc in backbone.processes.items()}
    if backbone.embedded is not None and backbone.embedded.process is not None:
        pids["nats-server"] = backbone.embedded.process.pid
    pids["bench (publisher+probes)"] = os.getpid()
    return pids


class Profiler:
    """py-spy sampling of the service processes, all threads, for one phase."""

    def __init__(self, directory: Path, pids: dict[str, int], rate: int = 200) -> None:
        self.directory = directory
        self.pids = pids
        self.rate = rate
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/uv pip install py-spy")
        for name, pid in self.pids.items():
            self.procs[name] = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw",
                 "--nonblocking", "--threads", "--output", str(self.directory / f"{name}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> dict[str, dict[str, Any]]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {name: hot_spots(self.directory / f"{name}.txt") for name in self.procs}


def _frame(frame: str) -> str:
    # py-spy raw frames look like `function (path/to/file.py:123)`; keep function + short path.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


# Frames every sample passes through (entry points, event loop, worker threads): not hot spots.
PLUMBING = (
    "<frozen runpy>", "typer/", "click/", "asyncio/runners.py", "asyncio/base_events.py",
    "asyncio/events.py", "threading.py", "services/cli/__init__.py", "anyio/_backends/",
    "faststream/_internal/", "<module>",
)  # fmt: skip


def hot_spots(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per function from a py-spy raw (collapsed) file."""
    self_count: collections.Counter[str] = collections.Counter()
    incl_count: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "self": [], "inclusive": [], "threads": []}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        _thread, *raw_frames = stack.split(";")
        frames = [_frame(f) for f in raw_frames if f]
        total += count
        threads["event loop" if "run_forever" in stack else "store/worker threads"] += count
        if frames:
            self_count[frames[-1]] += count
        for f in set(frames):
            if not any(p in f for p in PLUMBING):
                incl_count[f] += count

    def share(counter: collections.Counter[str], n: int = top) -> list[tuple[str, float]]:
        if not total:
            return []
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)]

    return {
        "samples": total,
        "self": share(self_count),
        "inclusive": share(incl_count, 2 * top),
        "threads": share(threads),
    }


# ---------------------------------------------------------------------------------- the run


@dataclass
class Options:
    events: int
    paced_events: int
    rate: float
    warmup: int
    store: str
    plan_probe: str
    probe_interval: float
    signals_per_child: int
    timeout: float
    profile: Path | None


async def wait_for_services(js: JetStreamContext, timeout: float = 30.0) -> None:
    """Until both services have a pull request waiting on their durable consumers."""
    from services.signalling.handlers import CONSUMER as SIGNALLING_CONSUMER

    deadline = time.monotonic() + timeout
    for consumer in (SIGNALLING_CONSUMER, PLAN_CONSUMER):
        while (await js.consumer_info(consumer.stream.name, consumer.durable)).num_waiting < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer {consumer.durable} is not pulling")
            await asyncio.sleep(0.1)


def missing_from_plans(settings: Settings, events: Sequence[Inbound]) -> list[str]:
    """The events whose signal is not in their child's plan (read from integral-plan's store).

    The plan probe only says that the tracking position passed an event; this checks the effect.
    """
    from services.integral_plan.application import UnknownPlanError
    from services.integral_plan.bootstrap import create_application

    app = create_application(settings)
    missing = []
    try:
        for event in events:
            try:
                plan = app.plan_of(event.child)
            except UnknownPlanError:
                missing.append(event.key)
                continue
            if event.key not in {s["signal_id"] for s in plan["signals"]}:
                missing.append(event.key)
    finally:
        app.close()
    return missing


async def run(backbone: Backbone, settings: Settings, opts: Options) -> dict[str, Any]:
    nc = await nats.connect(backbone.url, name="bench")
    js = nc.jetstream()
    results: dict[str, Any] = {"series": {}}
    try:
        await js.add_stream(
            StreamConfig(
                name=RAW_STREAM,
                subjects=["bench.>"],
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )
        await js.add_stream(
            StreamConfig(
                name=RAW_OUT_STREAM,
                subjects=["benchout.>"],
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )
        signer = DataDirKeys(settings.data_dir)
        flood = make_events(opts.events, signer, opts.signals_per_child)
        paced = make_events(opts.paced_events, signer, opts.signals_per_child)
        warm = make_events(opts.warmup, signer, opts.signals_per_child)
        series: dict[str, Series] = {}

        # Raw baseline first, while the services idle.
        series["raw-async"] = await run_raw(
            js, backbone.url, "raw-async", flood, mode="async", rate=None, timeout=opts.timeout
        )
        series["raw-await"] = await run_raw(
            js, backbone.url, "raw-await", flood, mode="await", rate=None, timeout=opts.timeout
        )
        series["raw-two-hops"] = await run_raw(
            js, backbone.url, "raw-two-hops", flood, mode="two-hops", rate=None,
            timeout=opts.timeout,
        )  # fmt: skip
        series["raw-paced"] = await run_raw(
            js, backbone.url, "raw-paced", paced, mode="async", rate=opts.rate,
            timeout=opts.timeout,
        )  # fmt: skip

        # The slice.
        await wait_for_services(js)
        watch = SignallingWatch()
        await watch.start(js)
        probe: TrackingProbe | AckFloorProbe = (
            TrackingProbe(settings, opts.probe_interval)
            if opts.plan_probe == "tracking"
            else AckFloorProbe(js, opts.probe_interval)
        )
        probe.start()
        errors: dict[str, str] = {}
        try:
            try:
                await run_slice(
                    js, watch, probe, warm, rate=None, timeout=opts.timeout, label="warmup"
                )
            except PhaseIncompleteError as exc:
                errors["warmup"] = str(exc)
            pids = process_ids(backbone)
            profiler = None
            if opts.profile is not None:
                profiler = Profiler(opts.profile, {n: p for n, p in pids.items() if n in SERVICES})
                profiler.start()
            cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
            wall_before = time.monotonic()
            polls_before = probe.samples.polls
            try:
                series["slice-signalled"], series["slice-plan"] = await run_slice(
                    js, watch, probe, flood, rate=None, timeout=opts.timeout, label="flood"
                )
            except PhaseIncompleteError as exc:
                errors["flood"] = str(exc)
            wall = time.monotonic() - wall_before
            cpu = {n: cpu_seconds(p) - cpu_before[n] for n, p in pids.items()}
            results["flood_cpu"] = {
                "wall_s": round(wall, 2),
                "cpu_s": {n: round(c, 2) for n, c in cpu.items()},
                "probe_polls": probe.samples.polls - polls_before,
            }
            if profiler is not None:
                results["profile"] = profiler.stop()
            try:
                _, series["slice-paced-plan"] = await run_slice(
                    js, watch, probe, paced, rate=opts.rate, timeout=opts.timeout, label="paced"
                )
            except PhaseIncompleteError as exc:
                errors["paced"] = str(exc)
        finally:
            await probe.stop()
            await watch.stop()
        await js.delete_stream(RAW_STREAM)
        await js.delete_stream(RAW_OUT_STREAM)
        checked = [*warm, *flood, *paced]
        lost = await asyncio.to_thread(missing_from_plans, settings, checked)
        results["verified"] = {"events": len(checked), "not_in_plan": len(lost)}
    finally:
        await nc.close()
    summary = {k: v.summary() for k, v in series.items()}
    results["series"] = summary
    results["errors"] = errors

    def ratio(a: str, b: str, key: str) -> float | None:
        if a not in summary or b not in summary:
            return None
        return round(summary[a][key] / summary[b][key], 4)

    results["ratios"] = {
        "throughput_slice_over_raw_async": ratio("slice-plan", "raw-async", "events_per_s"),
        "throughput_slice_over_raw_await": ratio("slice-plan", "raw-await", "events_per_s"),
        "throughput_slice_over_raw_two_hops": ratio("slice-plan", "raw-two-hops", "events_per_s"),
        "throughput_raw_two_hops_over_raw_async": ratio(
            "raw-two-hops", "raw-async", "events_per_s"
        ),
        "paced_p50_slice_over_raw": ratio("slice-paced-plan", "raw-paced", "p50_ms"),
        "paced_p99_slice_over_raw": ratio("slice-paced-plan", "raw-paced", "p99_ms"),
    }
    return results


# ---------------------------------------------------------------------------------- output


def format_table(results: dict[str, Any]) -> str:
    cfg, s, r = results["config"], results["series"], results["ratios"]
    lines = [
        f"ketenbus slice benchmark: {cfg['events']} SignalRegistered events (flood), "
        f"{cfg['paced_events']} paced at {cfg['rate']:g}/s; store={cfg['store']}, "
        f"{cfg['cpus']} CPUs, plan probe={cfg['plan_probe']} every "
        f"{cfg['probe_interval'] * 1000:g} ms",
        "",
        f"{'path':<34}{'events/s':>10}{'publish/s':>11}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    rows = [
        ("raw publish_async → pull+ack", "raw-async"),
        ("raw awaited publish → pull+ack", "raw-await"),
        ("raw two hops, relay doing nothing", "raw-two-hops"),
        ("slice publish → signalled", "slice-signalled"),
        ("slice publish → plan updated", "slice-plan"),
        (f"raw paced {cfg['rate']:g}/s", "raw-paced"),
        (f"slice paced {cfg['rate']:g}/s → plan", "slice-paced-plan"),
    ]
    for label, key in rows:
        if key not in s:
            lines.append(f"{label:<34}{'did not complete (see below)':>41}")
            continue
        row = s[key]
        lines.append(
            f"{label:<34}{row['events_per_s']:>10.0f}{row['publish_events_per_s']:>11.0f}"
            f"{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}"
        )

    def show(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    lines += [
        "",
        "throughput slice/raw (plan updated vs publish_async+pull): "
        f"{show(r['throughput_slice_over_raw_async'], '.3f')}   "
        f"(vs awaited publish: {show(r['throughput_slice_over_raw_await'], '.3f')})",
        "two hops, as the slice crosses JetStream: raw two hops/raw "
        f"{show(r['throughput_raw_two_hops_over_raw_async'], '.3f')}, slice/raw two hops "
        f"{show(r['throughput_slice_over_raw_two_hops'], '.3f')}",
        f"latency when paced, slice/raw: p50 {show(r['paced_p50_slice_over_raw'], '.1f')}x, "
        f"p99 {show(r['paced_p99_slice_over_raw'], '.1f')}x slower",
        "events/s = events / (first publish → last event done); publish/s = until last PubAck;",
        "flood latencies include queueing behind earlier events; paced ones are per event.",
    ]
    verified = results.get("verified")
    if verified:
        lines.append(
            f"checked in integral-plan's store: {verified['not_in_plan']} of "
            f"{verified['events']} events missing from their child's plan"
        )
    for phase, error in results.get("errors", {}).items():
        lines += ["", f"INCOMPLETE {phase}: {error}"]
    cpu = results.get("flood_cpu")
    if cpu:
        used = ", ".join(f"{n} {c:.1f}s" for n, c in cpu["cpu_s"].items())
        lines += ["", f"CPU during the slice flood ({cpu['wall_s']:.1f}s wall): {used}"]
    for name, prof in results.get("profile", {}).items():
        split = ", ".join(f"{t} {pct:g}%" for t, pct in prof["threads"])
        lines += ["", f"py-spy {name}: {prof['samples']} samples on CPU ({split})"]
        lines += ["  self:"] + [f"    {pct:5.1f}%  {fn}" for fn, pct in prof["self"]]
        lines += ["  inclusive:"] + [f"    {pct:5.1f}%  {fn}" for fn, pct in prof["inclusive"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- main


def _postgres_schema(settings: Settings, create: bool) -> None:
    import psycopg

    with psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_dbname,
        user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(),
        autocommit=True,
    ) as conn:
        schema = settings.postgres_schema
        if create:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        else:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slice", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=10000, help="events in the flood phase")
    parser.add_argument("--paced-events", type=int, default=1000, help="events in the paced phase")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s in the paced phase")
    parser.add_argument("--warmup", type=int, default=300, help="slice warm-up events")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--plan-probe", choices=["tracking", "ackfloor"], default="tracking")
    parser.add_argument("--probe-interval", type=float, default=0.002, help="seconds")
    parser.add_argument("--signals-per-child", type=int, default=1, help=">1 makes matches")
    parser.add_argument("--timeout", type=float, default=180.0, help="per phase, seconds")
    parser.add_argument("--profile", type=Path, help="py-spy the services during the flood")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--raw-consumer", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--raw-relay", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.raw_consumer:
        url, durable, count, *stream = args.raw_consumer
        asyncio.run(raw_consumer(url, durable, int(count), *stream))
        return
    if args.raw_relay:
        asyncio.run(raw_relay(*args.raw_relay))
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    data_dir = Path(tempfile.mkdtemp(prefix="ketenbus-bench-"))
    # The bench's own baseline stream (`bench.>`) and clients are outside the registry's
    # allow-lists: it measures the backbone without authorization.
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "nats_url": None,
        "store": args.store,
        "nats_auth": "none",
    }
    if args.store == "postgres":
        overrides["postgres_dbname"] = os.environ.get("KETENBUS_POSTGRES_DBNAME", "test")
        overrides["postgres_schema"] = f"bench_{uuid.uuid4().hex[:12]}"
    settings = Settings(**overrides)
    opts = Options(
        events=args.events,
        paced_events=args.paced_events,
        rate=args.rate,
        warmup=args.warmup,
        store=args.store,
        plan_probe=args.plan_probe,
        probe_interval=args.probe_interval,
        signals_per_child=args.signals_per_child,
        timeout=args.timeout,
        profile=args.profile,
    )
    try:
        if args.store == "postgres":
            _postgres_schema(settings, create=True)
        with Backbone(settings, SERVICES) as backbone:
            results = asyncio.run(run(backbone, settings, opts))
    finally:
        if args.store == "postgres":
            _postgres_schema(settings, create=False)
        if args.keep:
            print(f"data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    config = asdict(opts) | {"profile": str(opts.profile) if opts.profile else None}
    results["config"] = config | {"cpus": os.cpu_count(), "data_dir": str(data_dir)}
    print(json.dumps(results, indent=2) if args.json else format_table(results))


if __name__ == "__main__":
    main()

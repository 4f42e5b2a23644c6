"""`ketenbus audit replay`: what the backbone knew at a moment, rebuilt from the streams.

Every stream is read from the start by sequence with batched direct gets (read-only: no
consumer, no acks, nothing changes on the server) up to the last message it held when the
replay began. The streams are merged in storage order as they are read (a k-way merge over the
per-stream readers) and each message is projected as it comes, so memory does not grow with
the messages: the plan is rebuilt by `IntegralPlanApplication.apply` (the same code the
service runs) on plans held in memory, a bounded number of them (the rest pickled to a
temporary file, `services.integral_plan.replaying`), and the report's event list and the plans'
views are spooled to temporary files and written out one at a time. Messages stored after
`until` (the server's storage time, not the time a publisher claims) are left out; with
`child`, only that pseudonym's events count. The key releases and refusals come from kluis's
processing log up to the same moment. Inbound events' signatures are verified on the way
(signed, unsigned, forged are counted and forged ones listed).

The report (JSON and Markdown) holds pseudonyms, ids, types, times and statuses: sealed
sections stay sealed; nothing about a child is written in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import multiprocessing
import pickle
import resource
import sqlite3
import tempfile
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

import nats
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError
from pydantic_core import from_json

from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.signing import MissingSignatureError, SignatureError, verify_raw
from services.audit.direct_get import Progress, StoredMessage, stream_batches
from services.integral_plan.handlers import CONSUMERS as PLAN_CONSUMERS
from services.integral_plan.replaying import HeldPlans, ReplayedPlans
from services.runtime import nats_auth
from services.runtime.partitions import partition_of_key
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings
from services.runtime.streams import FEED, INBOUND, STREAMS, StreamSpec, subject_matches

REBUILD_BATCH = 1000
PLAN_CACHE = 10_000  # plans kept in memory while replaying (the rest is in the temporary store)

# A replay allocates hundreds of objects per event that reference counting frees, beside the
# thousands of plans it holds: with Python's threshold (700) the collector ran every few
# events and walked the held plans again and again (bench.replay's projection: ~150 -> ~125 us
# CPU per event at this threshold).
GC_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The youngest generation collected every `GC_YOUNG_THRESHOLD` allocations while in it."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@lru_cache(maxsize=4096)  # subjects name types and partners, never a child: few distinct ones
def consumed_by_plan(stream: str, subject: str) -> bool:
    """Whether the plan's service consumes this message (its consumers' streams and filters):
    the other domains' streams, erasures, and on INBOUND only the parties' plan events.

    Cached: a pure function of the two names and the plan's (constant) consumer specs, asked
    once per replayed message; matching every consumer's filters was ~5 % of a replay."""
    return any(
        spec.stream.name == stream
        and any(subject_matches(pattern, subject) for pattern in spec.filter_subjects)
        for spec in PLAN_CONSUMERS
    )


@dataclass
class ReplayResult:
    until: datetime | None
    child: str | None
    read: int = 0
    counted: int = 0
    by_stream: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    signatures: Counter[str] = field(default_factory=Counter)
    forged: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    events: EventLog = field(default_factory=lambda: EventLog())
    plans: PlanViews = field(default_factory=lambda: PlanViews())
    plan_refusals: list[dict[str, Any]] = field(default_factory=list)
    key_log: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, *, events: bool = True, plans: bool = True) -> dict[str, Any]:
        """The report's content (`events`/`plans` False: without those, which can be long)."""
        data = {
            "until": self.until.isoformat() if self.until else None,
            "child": self.child,
            "messages_read": self.read,
            "events_counted": self.counted,
            "by_stream": dict(self.by_stream),
            "by_type": dict(self.by_type),
            "signatures": dict(self.signatures),
            "forged": self.forged,
            "unreadable": self.unreadable,
            "events": list(self.events),
            "plans": dict(self.plans.rows()) if plans else {},
            "plan_refusals": self.plan_refusals,
            "key_releases": [r for r in self.key_log if r["decision"] == "released"],
            "key_refusals": [r for r in self.key_log if r["decision"] == "refused"],
        }
        if not events:
            del data["events"]
        if not plans:
            del data["plans"]
        return data


async def _auditor(url: str, settings: Settings | None) -> NatsClient:
    """A connection as the auditors' read-only user (settings: `nats_auth.settings_for`)."""
    return await nats_auth.connect(nats_auth.settings_for(url, settings), nats_auth.AUDIT_USER, url)


# What happened is on these streams; FEED holds only copies of it (and receipts) per partner,
# which a replay would count twice.
REPLAYED: tuple[StreamSpec, ...] = tuple(s for s in STREAMS if s is not FEED)


async def stream_totals(
    url: str, streams: Sequence[StreamSpec] = REPLAYED, settings: Settings | None = None
) -> dict[str, int]:
    """The last sequence of each existing stream now (what a replay will read up to)."""
    nc = await _auditor(url, settings)
    try:
        js = nc.jetstream()
        totals = {}
        for spec in streams:
            try:
                info = await js.stream_info(spec.name)
            except nats.js.errors.NotFoundError:
                continue
            totals[spec.name] = info.state.last_seq
        return totals
    finally:
        await nc.close()


def _order(message: StoredMessage) -> tuple[datetime, str, int]:
    return (message.stored_at, message.stream, message.seq)


async def merged_batches(
    url: str,
    totals: dict[str, int],
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[list[StoredMessage]]:
    """Every message of the streams up to `totals`, in storage order across the streams, in
    runs of consecutive messages (as many as the readers' batches in hand allow).

    A k-way merge over one ordered reader per stream (each in stream order, which is storage
    order), taken a direct get's batch at a time: at most one batch per stream waits in the
    merge. Messages are handed on in lists so that nothing per message waits on the event loop.
    """
    nc = await _auditor(url, settings)
    readers = [stream_batches(nc, name, last, progress) for name, last in totals.items() if last]
    try:
        if len(readers) == 1:  # no merging
            async for batch in readers[0]:
                yield batch
            return
        pending: list[Iterator[StoredMessage]] = [iter(()) for _ in readers]

        async def following(index: int) -> StoredMessage | None:
            while (message := next(pending[index], None)) is None:
                batch = await anext(readers[index], None)
                if batch is None:
                    return None
                pending[index] = iter(batch)
            return message

        heap: list[tuple[tuple[datetime, str, int], int, StoredMessage]] = []
        for index in range(len(readers)):
            if (first := await following(index)) is not None:
                heap.append((_order(first), index, first))
        heapq.heapify(heap)
        run: list[StoredMessage] = []
        while heap:
            _, index, message = heap[0]
            run.append(message)
            if (after := next(pending[index], None)) is None:
                if run:  # the batch in hand is done: hand on the run before waiting
                    yield run
                    run = []
                after = await following(index)
            if after is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (_order(after), index, after))
        if run:
            yield run
    finally:
        for reader in readers:
            await reader.aclose()
        await nc.close()


async def merged_streams(
    url: str,
    totals: dict[str, int],
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[StoredMessage]:
    """Every message of the streams up to `totals`, in storage order, one at a time."""
    async for run in merged_batches(url, totals, progress, settings):
        for message in run:
            yield message


async def read_streams(
    url: str,
    totals: dict[str, int],
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> list[StoredMessage]:
    """Every message of the streams up to `totals`, in storage order, as a list (small sets)."""
    return [message async for message in merged_streams(url, totals, progress, settings)]


class EventLog:
    """The report's event entries, spooled to a temporary file (memory: one entry at a time),
    or written to `path` (a replay worker's, for the replay to merge)."""

    def __init__(self, path: Path | None = None) -> None:
        self._file: IO[str] = (
            tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115 - closed by close()
            if path is None
            else path.open("w+", encoding="utf-8")
        )
        self._count = 0

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, default=str) + "\n")
        self._count += 1

    def append_line(self, line: str) -> None:
        """An entry already written as JSON (a line, its newline included)."""
        self._file.write(line)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()


class PlanViews(Mapping[str, dict[str, Any]]):
    """The plans' views by pseudonym, in a private temporary SQLite database (SQLite's ''
    file: on disk, gone when closed; or `path`, a replay worker's), read back in pseudonym
    order."""

    def __init__(self, path: Path | None = None) -> None:
        self._db = sqlite3.connect("" if path is None else path)
        self._db.execute("CREATE TABLE views (child TEXT PRIMARY KEY, view TEXT NOT NULL)")

    def take(self, path: Path) -> None:
        """Every view of another `PlanViews`' file (a replay worker's: other children)."""
        self._db.execute("ATTACH DATABASE ? AS other", (str(path),))
        self._db.execute("INSERT OR REPLACE INTO views SELECT child, view FROM other.views")
        self._db.commit()
        self._db.execute("DETACH DATABASE other")

    def close(self) -> None:
        self._db.close()

    def put(self, child: str, view: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO views VALUES (?, ?)", (child, json.dumps(view, default=str))
        )

    def commit(self) -> None:
        self._db.commit()

    def __getitem__(self, child: str) -> dict[str, Any]:
        row = self._db.execute("SELECT view FROM views WHERE child = ?", (child,)).fetchone()
        if row is None:
            raise KeyError(child)
        view: dict[str, Any] = json.loads(row[0])
        return view

    def __iter__(self) -> Iterator[str]:
        for (child,) in self._db.execute("SELECT child FROM views ORDER BY child"):
            yield child

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM views").fetchone()[0])

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(pseudonym, view) in pseudonym order, one at a time."""
        for child, view in self._db.execute("SELECT child, view FROM views ORDER BY child"):
            yield child, json.loads(view)


class Projection:
    """Feeds stored messages, in storage order, one at a time into the replay's result.

    The plan is rebuilt with the service's own `IntegralPlanApplication.apply` (the same
    appliers, plans and views), event by event as they come, in batches of `REBUILD_BATCH`
    (`services.integral_plan.replaying`): the plans stay in memory, the `PLAN_CACHE` most
    recently used, the rest pickled to a temporary store (under `workdir`, removed in
    `finish`). A plan's view is spooled (`PlanViews`) when it leaves memory and, for those
    still held, at the end. What stays in memory is those plans: not the messages, their
    events or every plan's view.
    """

    def __init__(
        self,
        *,
        until: datetime | None,
        child: str | None,
        public_keys: Callable[[str], Any],
        keep_events: bool = True,
        workdir: Path | None = None,
        plan_cache: int | None = None,
    ) -> None:
        self.result = ReplayResult(until, child)
        self.keep_events = keep_events
        self.public_keys = public_keys
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="replay-", dir=workdir)
        held = PLAN_CACHE if plan_cache is None else plan_cache
        self.held = HeldPlans(Path(self._tmp.name) / "plans.sqlite", held, self._evicted)
        self.plan_app = ReplayedPlans(self.held)
        self.batch = self.plan_app.new_batch()
        self.in_batch = 0

    def _evicted(self, child: str, view: dict[str, Any] | None) -> None:
        self.result.plans.put(child, {"child": child, "erased": True} if view is None else view)

    def _apply(self, event: Any, entry: Callable[[], dict[str, Any]]) -> None:
        try:
            self.plan_app.apply(event, self.batch)
        except self.plan_app.refusals as exc:
            # Commands check before they change anything: refused, the plan is as it was.
            self.result.plan_refusals.append({**entry(), "reason": type(exc).__name__})
        self.in_batch += 1
        if self.in_batch >= REBUILD_BATCH:
            self._end_batch()

    def _end_batch(self) -> None:
        self.batch.end()
        self.result.plans.commit()
        self.in_batch = 0

    def feed_run(self, run: Iterable[StoredMessage]) -> None:
        for message in run:
            self.feed(message)

    def feed(self, message: StoredMessage) -> None:
        result = self.result
        result.read += 1
        if result.until is not None and message.stored_at > result.until:
            return
        try:
            event = parse_event(message.data)
        except (ValidationError, UnknownEventTypeError) as exc:
            if message.stream != "DEADLETTER":
                result.unreadable.append(
                    {"stream": message.stream, "seq": message.seq, "reason": type(exc).__name__}
                )
            return
        if result.child is not None and event.subject != result.child:
            return
        result.counted += 1
        result.by_stream[message.stream] += 1
        result.by_type[event.type] += 1

        def entry() -> dict[str, Any]:
            return {
                "stream": message.stream,
                "seq": message.seq,
                "stored_at": message.stored_at.isoformat(),
                "id": str(event.id),
                "type": event.type,
                "source": event.source,
                "subject": event.subject,
            }

        if message.stream == INBOUND.name or self.keep_events:
            made = entry()
            if message.stream == INBOUND.name:
                made["signature"] = self._signature(message, made)
            if self.keep_events:
                result.events.append(made)
            entry = lambda: made  # noqa: E731 - the same entry for a refusal
        if consumed_by_plan(message.stream, message.subject):
            self._apply(event, entry)

    def _signature(self, message: StoredMessage, entry: dict[str, Any]) -> str:
        signatures = self.result.signatures
        try:
            verify_raw(message.data, self.public_keys)
        except MissingSignatureError:
            signatures["unsigned"] += 1
            return "unsigned"
        except SignatureError as exc:
            signatures[exc.code] += 1
            self.result.forged.append({**entry, "signature": exc.code, "reason": str(exc)})
            return exc.code
        signatures["verified"] += 1
        return "verified"

    def finish(self, key_log: Iterable[dict[str, Any]] = ()) -> ReplayResult:
        """The plans' views and the processing log as of `until`; the temporary store goes."""
        result = self.result
        try:
            self._end_batch()
            for child, view in self.held.views():
                result.plans.put(child, view)
            result.plans.commit()
        finally:
            self.close()
        return as_of(result, key_log)

    def close(self) -> None:
        """The plans let go and the temporary store removed."""
        self.held.close()
        self.plan_app.close()
        self._tmp.cleanup()


def as_of(result: ReplayResult, key_log: Iterable[dict[str, Any]]) -> ReplayResult:
    """The result with the processing records as of its `until` (of its `child`, if given)."""
    result.key_log = [
        record
        for record in key_log
        if (result.until is None or datetime.fromisoformat(record["at"]) <= result.until)
        and (result.child is None or record["data_subject"] == result.child)
    ]
    return result


class ReplayWorkerError(RuntimeError):
    """A replay's worker process failed or went away: the replay has no result."""


SEND_AT = 512  # messages gathered for a worker before they are sent on


@dataclass
class _Found:
    """What a worker found beside the plans and the event list, each entry with the ordinal of
    its message in the replay (what the lists are merged by)."""

    read: int
    counted: int
    by_stream: Counter[str]
    by_type: Counter[str]
    signatures: Counter[str]
    forged: list[tuple[int, dict[str, Any]]]
    unreadable: list[tuple[int, dict[str, Any]]]
    plan_refusals: list[tuple[int, dict[str, Any]]]
    cpu_seconds: float
    peak_rss_kb: int


class _OrderedEventLog(EventLog):
    """A worker's event entries, each line after the ordinal of its message and a tab."""

    ordinal = 0

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(f"{self.ordinal}\t{json.dumps(entry, default=str)}\n")
        self._count += 1


def _ordered_entries(path: Path) -> Iterator[tuple[int, str]]:
    """A worker's event entries (`_OrderedEventLog`): (ordinal, the entry's JSON line)."""
    with path.open(encoding="utf-8") as entries:
        for line in entries:
            ordinal, _, entry = line.partition("\t")
            yield int(ordinal), entry


def _worker(connection: Connection, options: dict[str, Any], directory: Path, index: int) -> None:
    """A worker process: projects the messages it is sent (lists of (ordinal, message fields);
    an empty message ends them) into a `Projection(**options)`, then writes its plans' views
    and event entries under `directory` and sends back what else it found (`_Found`, or the
    error)."""
    try:
        projection = Projection(**options)
        result = projection.result
        log = result.events = _OrderedEventLog(directory / f"events-{index}")
        result.plans = PlanViews(directory / f"views-{index}.sqlite")
        found: tuple[list[Any], ...] = (result.forged, result.unreadable, result.plan_refusals)
        tagged: tuple[list[tuple[int, dict[str, Any]]], ...] = ([], [], [])
        with fewer_collections():
            while payload := connection.recv_bytes():
                for ordinal, *fields in pickle.loads(payload):  # noqa: S301 - from our own parent
                    log.ordinal = ordinal
                    projection.feed(StoredMessage(*fields))
                    if found[0] or found[1] or found[2]:  # rare: tagged with the ordinal
                        for entries, into in zip(found, tagged, strict=True):
                            into.extend((ordinal, entry) for entry in entries)
                            entries.clear()
        projection.finish()
        result.plans.close()
        log.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        forged, unreadable, refusals = tagged
        connection.send(
            _Found(
                read=result.read,
                counted=result.counted,
                by_stream=result.by_stream,
                by_type=result.by_type,
                signatures=result.signatures,
                forged=forged,
                unreadable=unreadable,
                plan_refusals=refusals,
                cpu_seconds=usage.ru_utime + usage.ru_stime,
                peak_rss_kb=usage.ru_maxrss,
            )
        )
    except BaseException as exc:  # told to the parent, which fails the replay
        with contextlib.suppress(OSError):
            connection.send(ReplayWorkerError(f"replay worker {index}: {exc!r}"))
        raise
    finally:
        connection.close()


class SharedProjection:
    """A `Projection` shared among `workers` processes by child: each message goes, in storage
    order, to the worker of its child (`partition_of`: the pseudonym in its `subject`, FNV-1a
    modulo the workers), so a child's events are applied by one process in stream order, as
    the service applies them; plans are independent of each other, so the projection, which is
    most of a replay's CPU, is spread over the cores. Each worker is a `Projection` of its own
    (holding `PLAN_CACHE` / `workers` plans, so the replay holds as many as on one); `finish`
    merges their results: counts summed, lists and event entries in storage order (by the
    ordinal of their message), views by pseudonym.

    The workers are forked when this is made, before the replay connects to NATS (they hold no
    connection and inherit what is imported: spawning them imported it all again, seconds of
    CPU each); messages go to them pickled over a pipe, a few hundred at a time, and the
    replay waits while a worker's pipe is full, so what is in flight stays bounded.
    """

    def __init__(
        self,
        workers: int,
        *,
        until: datetime | None,
        child: str | None,
        public_keys: Callable[[str], Any],
        keep_events: bool = True,
        workdir: Path | None = None,
    ) -> None:
        self.result = ReplayResult(until, child)
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="replay-", dir=workdir)
        directory = Path(self._tmp.name)
        self.workers = workers
        self.found: list[_Found] = []
        self._ordinal = 0
        self._later = 0
        self._out: list[list[tuple[Any, ...]]] = [[] for _ in range(workers)]
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        context = multiprocessing.get_context("fork")
        options = {
            "until": until, "child": child, "public_keys": public_keys,
            "keep_events": keep_events, "workdir": directory,
            "plan_cache": max(1, PLAN_CACHE // workers),
        }  # fmt: skip
        for index in range(workers):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker_in_fork,
                args=(theirs, options, directory, index, self._connections),
                name=f"replay-worker-{index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            self._connections.append(ours)
            self._processes.append(process)

    def feed_run(self, run: Iterable[StoredMessage]) -> None:
        until, workers, out = self.result.until, self.workers, self._out
        for message in run:
            if until is not None and message.stored_at > until:
                self._later += 1  # read, not counted: no worker needs it
                continue
            index = worker_of(message.data, workers)
            gathered = out[index]
            gathered.append(
                (self._ordinal, message.stream, message.seq, message.subject,
                 message.stored_at, message.data)
            )  # fmt: skip
            self._ordinal += 1
            if len(gathered) >= SEND_AT:
                self._send(index)

    def _send(self, index: int, end: bool = False) -> None:
        """The messages gathered for a worker (`end`: none, the end of them)."""
        gathered, self._out[index] = self._out[index], []
        try:
            self._connections[index].send_bytes(
                b"" if end else pickle.dumps(gathered, protocol=pickle.HIGHEST_PROTOCOL)
            )
        except OSError as exc:
            raise self._failed(index) from exc

    def _failed(self, index: int) -> ReplayWorkerError:
        connection = self._connections[index]
        with contextlib.suppress(OSError, EOFError):
            if connection.poll(1):
                told = connection.recv()
                if isinstance(told, ReplayWorkerError):
                    return told
        return ReplayWorkerError(f"replay worker {index} went away")

    def finish(self, key_log: Iterable[dict[str, Any]] = ()) -> ReplayResult:
        """Every worker's result merged, and the processing log as of `until`."""
        try:
            for index in range(self.workers):
                if self._out[index]:
                    self._send(index)
                self._send(index, end=True)
            for index, connection in enumerate(self._connections):
                try:
                    found = connection.recv()
                except (OSError, EOFError) as exc:
                    raise self._failed(index) from exc
                if isinstance(found, ReplayWorkerError):
                    raise found
                self.found.append(found)
            for process in self._processes:
                process.join()
            self._merge(Path(self._tmp.name))
        finally:
            self.close()
        return as_of(self.result, key_log)

    def _merge(self, directory: Path) -> None:
        result = self.result
        result.read = self._later + sum(found.read for found in self.found)
        result.counted = sum(found.counted for found in self.found)
        for found in self.found:
            result.by_stream.update(found.by_stream)
            result.by_type.update(found.by_type)
            result.signatures.update(found.signatures)
        for name in ("forged", "unreadable", "plan_refusals"):
            lists = [getattr(found, name) for found in self.found]
            getattr(result, name).extend(entry for _, entry in heapq.merge(*lists))
        for index in range(self.workers):
            result.plans.take(directory / f"views-{index}.sqlite")
        logs = [_ordered_entries(directory / f"events-{i}") for i in range(self.workers)]
        for _, entry in heapq.merge(*logs):
            result.events.append_line(entry)

    def close(self) -> None:
        """The workers stopped (if still running) and the temporary files removed."""
        for connection in self._connections:
            connection.close()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join()
        self._tmp.cleanup()


def _worker_in_fork(
    connection: Connection,
    options: dict[str, Any],
    directory: Path,
    index: int,
    parents: list[Connection],
) -> None:
    """A forked worker first closes the parent's ends of the other workers' pipes it inherited
    (so that each worker sees its pipe end when the parent goes), then works."""
    for inherited in parents:
        inherited.close()
    _worker(connection, options, directory, index)


@lru_cache(maxsize=65_536)  # a child's events come close together: its pseudonym hashed once
def _partition(child: str, workers: int) -> int:
    return partition_of_key(child, workers)


def worker_of(data: bytes, workers: int) -> int:
    """The worker of a message: the partition of the child in its `subject`
    (`partition_of_key`); a message without one (not JSON, no subject) is worker 0's.

    Read with pydantic-core's JSON parser, the one that parses the event as its contract in
    the worker, so both read the same `subject` (a duplicated key included): 2.5 us against
    `json.loads`' 5.6 for a signal, and each pseudonym is hashed once (FNV-1a in Python: 3.7 us).
    """
    try:
        subject = from_json(data, cache_strings=False).get("subject")
    except (ValueError, AttributeError):
        return 0
    return _partition(subject, workers) if isinstance(subject, str) else 0


def replay_workers(settings: Settings | None) -> int:
    """How many processes project a replay: `KETENBUS_AUDIT_REPLAY_WORKERS`, else one (the
    replay's own): on a host shared with other work, more processes were slower on the wall
    clock and held more memory (bench/README.md)."""
    wanted = settings.audit_replay_workers if settings is not None else None
    return wanted or 1


def projection(
    workers: int,
    *,
    until: datetime | None,
    child: str | None,
    public_keys: Callable[[str], Any],
    keep_events: bool = True,
    workdir: Path | None = None,
) -> Projection | SharedProjection:
    """A replay's projection: in this process for one worker, else shared among `workers`."""
    if workers <= 1:
        return Projection(
            until=until, child=child, public_keys=public_keys, keep_events=keep_events,
            workdir=workdir,
        )  # fmt: skip
    return SharedProjection(
        workers, until=until, child=child, public_keys=public_keys, keep_events=keep_events,
        workdir=workdir,
    )  # fmt: skip


def rebuild(
    messages: Iterable[StoredMessage],
    *,
    until: datetime | None,
    child: str | None,
    public_keys: Callable[[str], Any],
    key_log: Sequence[dict[str, Any]] = (),
    keep_events: bool = True,
    workdir: Path | None = None,
    workers: int = 1,
) -> ReplayResult:
    """The plan, events and signature findings as of `until` (for `child`, if given), from
    messages already in storage order (as `merged_streams` yields them), projected in this
    process or shared among `workers` processes."""
    projecting = projection(
        workers, until=until, child=child, public_keys=public_keys, keep_events=keep_events,
        workdir=workdir,
    )  # fmt: skip
    with fewer_collections():
        projecting.feed_run(messages)
    return projecting.finish(key_log)


async def replay_streams(
    url: str,
    projection: Projection | SharedProjection,
    progress: Callable[[int], Progress] | None = None,
    settings: Settings | None = None,
) -> Projection | SharedProjection:
    """Read every stream up to its last sequence now, projecting each message as it comes."""
    totals = await stream_totals(url, settings=settings)
    tick = progress(sum(totals.values())) if progress is not None else None
    with fewer_collections():
        async for run in merged_batches(url, totals, tick, settings):
            projection.feed_run(run)
    return projection


def processing_log(settings: Settings) -> list[dict[str, Any]]:
    """kluis's processing records (oldest first) as plain dicts."""
    from services.kluis.keystore import Keystore

    keystore = Keystore.open(settings)
    try:
        records = keystore.records(limit=10**9)
    finally:
        keystore.close()
    return [
        {
            "at": r.at.isoformat(),
            "operation": r.operation.value,
            "decision": r.decision.value,
            "refusal_code": r.refusal_code,
            "requester": r.requester,
            "purpose": r.purpose.value,
            "data_subject": r.data_subject,
            "processing_activity_id": r.processing_activity_id,
            "kid": r.kid,
            "scope": r.scope,
            "trace_id": r.trace_id,
        }
        for r in records
    ]


def replay(
    settings: Settings,
    url: str,
    *,
    until: datetime | None = None,
    child: str | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> ReplayResult:
    """Read the streams (with a progress callback made from the total), projecting as it goes
    in `replay_workers(settings)` processes."""
    projecting = projection(
        replay_workers(settings),
        until=until,
        child=child,
        public_keys=PartnerRegistry.load(settings.data_dir).public_keys,
        workdir=settings.data_dir / "tmp",
    )
    try:
        asyncio.run(replay_streams(url, projecting, progress, settings))
    except BaseException:
        projecting.close()
        raise
    return projecting.finish(processing_log(settings))


# ---------------------------------------------------------------------------------------------
# the report


def markdown_lines(result: ReplayResult) -> Iterator[str]:
    """The Markdown report, line by line (the plans are read back one at a time)."""
    data = result.as_json(events=False, plans=False)
    yield from [
        "# ketenbus audit replay",
        "",
        f"- as of: {data['until'] or 'now'}",
        f"- child: {data['child'] or 'all'}",
        f"- messages read: {data['messages_read']}; events counted: {data['events_counted']}",
        "",
        "## Events per stream",
        "",
        "| stream | events |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(data["by_stream"].items())],
        "",
        "## Events per type",
        "",
        "| type | events |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(data["by_type"].items())],
        "",
        "## Signatures on inbound events",
        "",
        *[f"- {k}: {v}" for k, v in sorted(data["signatures"].items())],
        *[
            f"- FORGED: {f['stream']} seq {f['seq']} from {f['source']}: {f['reason']}"
            for f in data["forged"]
        ],
        "",
        "## Plans as they were",
        "",
    ]
    for pseudonym, plan in result.plans.rows():
        if plan.get("erased"):
            yield from [f"### {pseudonym}", "", "erased", ""]
            continue
        yield from [
            f"### {pseudonym}",
            "",
            "Parties: "
            + (", ".join(f"{p.get('partner')} ({p.get('role')})" for p in plan["parties"]) or "-"),
            "",
            "| registered | partner | status |",
            "|---|---|---|",
            *[
                f"| {s.get('registered_on')} | {s.get('partner')} | {s.get('status')} |"
                for s in plan["signals"]
            ],
            "",
            f"Match: {'yes' if plan.get('match') else 'no'}",
            "",
        ]
    yield from ["## Key releases and refusals (kluis processing log)", ""]
    yield from ["| at | operation | decision | requester | purpose | child | reason |"]
    yield from ["|---|---|---|---|---|---|---|"]
    for record in [*data["key_releases"], *data["key_refusals"]]:
        yield (
            f"| {record['at']} | {record['operation']} | {record['decision']} | "
            f"{record['requester']} | {record['purpose']} | {record['data_subject']} | "
            f"{record['refusal_code'] or ''} |"
        )


def markdown_report(result: ReplayResult) -> str:
    return "\n".join(markdown_lines(result)) + "\n"


def write_report(result: ReplayResult, target: Path) -> tuple[Path, Path]:
    """`<target>.json` and `<target>.md` (the suffix of `target` is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    json_path = target.with_suffix(".json")
    md_path = target.with_suffix(".md")
    with json_path.open("w", encoding="utf-8") as out:
        out.write("{\n")
        for key, value in result.as_json(events=False, plans=False).items():
            out.write(f"  {json.dumps(key)}: {json.dumps(value, default=str)},\n")
        out.write('  "plans": {')
        for n, (pseudonym, view) in enumerate(result.plans.rows()):
            out.write(f"{',' if n else ''}\n    {json.dumps(pseudonym)}: {json.dumps(view)}")
        out.write('\n  },\n  "events": [')
        for n, entry in enumerate(result.events):
            out.write(("," if n else "") + "\n    " + json.dumps(entry, default=str))
        out.write("\n  ]\n}\n")
    with md_path.open("w", encoding="utf-8") as out:
        for line in markdown_lines(result):
            out.write(line + "\n")
    return json_path, md_path

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
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.signing import MissingSignatureError, SignatureError, verify_raw
from services.audit.direct_get import Progress, StoredMessage, stream_batches
from services.integral_plan.handlers import CONSUMERS as PLAN_CONSUMERS
from services.integral_plan.replaying import HeldPlans, ReplayedPlans
from services.runtime import nats_auth
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
    """The report's event entries, spooled to a temporary file (memory: one entry at a time)."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._count = 0

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, default=str) + "\n")
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
    file: on disk, gone when closed), read back in pseudonym order."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE views (child TEXT PRIMARY KEY, view TEXT NOT NULL)")

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
    ) -> None:
        self.result = ReplayResult(until, child)
        self.keep_events = keep_events
        self.public_keys = public_keys
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="replay-", dir=workdir)
        self.held = HeldPlans(Path(self._tmp.name) / "plans.sqlite", PLAN_CACHE, self._evicted)
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
            self.held.close()
            self.plan_app.close()
            self._tmp.cleanup()
        result.key_log = [
            record
            for record in key_log
            if (result.until is None or datetime.fromisoformat(record["at"]) <= result.until)
            and (result.child is None or record["data_subject"] == result.child)
        ]
        return result


def rebuild(
    messages: Iterable[StoredMessage],
    *,
    until: datetime | None,
    child: str | None,
    public_keys: Callable[[str], Any],
    key_log: Sequence[dict[str, Any]] = (),
    keep_events: bool = True,
    workdir: Path | None = None,
) -> ReplayResult:
    """The plan, events and signature findings as of `until` (for `child`, if given), from
    messages already in storage order (as `merged_streams` yields them)."""
    projection = Projection(
        until=until, child=child, public_keys=public_keys, keep_events=keep_events,
        workdir=workdir,
    )  # fmt: skip
    with fewer_collections():
        for message in messages:
            projection.feed(message)
    return projection.finish(key_log)


async def replay_streams(
    url: str,
    projection: Projection,
    progress: Callable[[int], Progress] | None = None,
    settings: Settings | None = None,
) -> Projection:
    """Read every stream up to its last sequence now, projecting each message as it comes."""
    totals = await stream_totals(url, settings=settings)
    tick = progress(sum(totals.values())) if progress is not None else None
    with fewer_collections():
        async for run in merged_batches(url, totals, tick, settings):
            for message in run:
                projection.feed(message)
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
    """Read the streams (with a progress callback made from the total), projecting as it goes."""
    projection = Projection(
        until=until,
        child=child,
        public_keys=PartnerRegistry.load(settings.data_dir).public_keys,
        workdir=settings.data_dir / "tmp",
    )
    asyncio.run(replay_streams(url, projection, progress, settings))
    return projection.finish(processing_log(settings))


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

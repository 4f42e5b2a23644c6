"""`ketenbus audit replay`: what the backbone knew at a moment, rebuilt from the streams.

Every stream is read from the start with an ordered, ephemeral consumer (read-only: no durable
state, no acks, nothing changes on the server) up to the last message it held when the replay
began. Messages stored after `until` (the server's storage time, not the time a publisher
claims) are left out; with `child`, only that pseudonym's events count. The plan is rebuilt by
feeding the plan's streams, merged in storage order, into an in-memory
`IntegralPlanApplication` (the same code the service runs), and the key releases and refusals
come from kluis's processing log up to the same moment. Inbound events' signatures are
verified on the way (signed, unsigned, forged are counted and forged ones listed).

The report (JSON and Markdown) holds pseudonyms, ids, types, times and statuses: sealed
sections stay sealed; nothing about a child is written in clear.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.signing import MissingSignatureError, SignatureError, verify_raw
from services.integral_plan.application import IntegralPlanApplication
from services.runtime.partners import PublicKeyLookup
from services.runtime.settings import Settings, server_list
from services.runtime.streams import INBOUND, PLAN_PRIVACY, PLAN_SIGNALLING, STREAMS, StreamSpec

# The streams whose events the plan projection consumes (as its service does).
PLAN_STREAMS = frozenset({PLAN_SIGNALLING.stream.name, PLAN_PRIVACY.stream.name})
IDLE_TIMEOUT = 5.0
REBUILD_BATCH = 1000
REPLAY_TRACKING = "audit-replay"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class StoredMessage:
    stream: str
    seq: int
    subject: str
    stored_at: datetime
    data: bytes


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
    events: list[dict[str, Any]] = field(default_factory=list)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_refusals: list[dict[str, Any]] = field(default_factory=list)
    key_log: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "until": self.until.isoformat() if self.until else None,
            "child": self.child,
            "messages_read": self.read,
            "events_counted": self.counted,
            "by_stream": dict(self.by_stream),
            "by_type": dict(self.by_type),
            "signatures": dict(self.signatures),
            "forged": self.forged,
            "unreadable": self.unreadable,
            "events": self.events,
            "plans": self.plans,
            "plan_refusals": self.plan_refusals,
            "key_releases": [r for r in self.key_log if r["decision"] == "released"],
            "key_refusals": [r for r in self.key_log if r["decision"] == "refused"],
        }


async def stream_totals(url: str, streams: Sequence[StreamSpec] = STREAMS) -> dict[str, int]:
    """The last sequence of each existing stream now (what a replay will read up to)."""
    nc = await nats.connect(server_list(url))
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


async def read_streams(
    url: str, totals: dict[str, int], progress: Progress | None = None
) -> list[StoredMessage]:
    """Every message of the streams up to `totals`, read with ordered consumers."""
    nc = await nats.connect(server_list(url))
    messages: list[StoredMessage] = []
    try:
        js = nc.jetstream()
        for name, last in totals.items():
            if last == 0:
                continue
            spec = next(s for s in STREAMS if s.name == name)
            sub = await js.subscribe(spec.subjects[0], stream=name, ordered_consumer=True)
            try:
                while True:
                    msg: Msg = await sub.next_msg(timeout=IDLE_TIMEOUT)
                    meta = msg.metadata
                    if meta.sequence.stream > last:
                        break
                    messages.append(
                        StoredMessage(
                            name, meta.sequence.stream, msg.subject, meta.timestamp, msg.data
                        )
                    )
                    if progress is not None:
                        progress(1)
                    if meta.sequence.stream >= last:
                        break
            except nats.errors.TimeoutError:
                pass  # the stream's tail was removed (limits) before we reached `last`
            finally:
                await sub.unsubscribe()
    finally:
        await nc.close()
    return messages


def rebuild(
    messages: Sequence[StoredMessage],
    *,
    until: datetime | None,
    child: str | None,
    public_keys: Callable[[str], Any],
    key_log: Sequence[dict[str, Any]] = (),
    keep_events: bool = True,
) -> ReplayResult:
    """The plan, events and signature findings as of `until` (for `child`, if given)."""
    result = ReplayResult(until, child)
    plan_app = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    children: set[str] = set()
    pending: list[tuple[int, Any]] = []
    entries: dict[int, dict[str, Any]] = {}

    def flush() -> None:
        # The service's own path: a batch of events per transaction (here: in memory).
        for position, exc in plan_app.process_batch(REPLAY_TRACKING, pending):
            result.plan_refusals.append({**entries[position], "reason": type(exc).__name__})
        pending.clear()
        entries.clear()

    for message in sorted(messages, key=lambda m: (m.stored_at, m.stream, m.seq)):
        result.read += 1
        if until is not None and message.stored_at > until:
            continue
        try:
            event = parse_event(message.data)
        except (ValidationError, UnknownEventTypeError) as exc:
            if message.stream != "DEADLETTER":
                result.unreadable.append(
                    {"stream": message.stream, "seq": message.seq, "reason": type(exc).__name__}
                )
            continue
        if child is not None and event.subject != child:
            continue
        result.counted += 1
        result.by_stream[message.stream] += 1
        result.by_type[event.type] += 1
        entry = {
            "stream": message.stream,
            "seq": message.seq,
            "stored_at": message.stored_at.isoformat(),
            "id": str(event.id),
            "type": event.type,
            "source": event.source,
            "subject": event.subject,
        }
        if message.stream == INBOUND.name:
            try:
                verify_raw(message.data, public_keys)
                result.signatures["verified"] += 1
                entry["signature"] = "verified"
            except MissingSignatureError:
                result.signatures["unsigned"] += 1
                entry["signature"] = "unsigned"
            except SignatureError as exc:
                result.signatures[exc.code] += 1
                entry["signature"] = exc.code
                result.forged.append({**entry, "reason": str(exc)})
        if keep_events:
            result.events.append(entry)
        if message.stream in PLAN_STREAMS:
            pending.append((result.counted, event))
            entries[result.counted] = entry
            children.add(event.subject)
            if len(pending) >= REBUILD_BATCH:
                flush()
    flush()
    for pseudonym in sorted(children):
        try:
            result.plans[pseudonym] = plan_app.plan_of(pseudonym)
        except LookupError:
            result.plans[pseudonym] = {"child": pseudonym, "erased": True}
    result.key_log = [
        record
        for record in key_log
        if (until is None or datetime.fromisoformat(record["at"]) <= until)
        and (child is None or record["data_subject"] == child)
    ]
    plan_app.close()
    return result


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
    """Read the streams (with a progress callback made from the total) and rebuild."""
    totals = asyncio.run(stream_totals(url))
    tick = progress(sum(totals.values())) if progress is not None else None
    messages = asyncio.run(read_streams(url, totals, tick))
    return rebuild(
        messages,
        until=until,
        child=child,
        public_keys=PublicKeyLookup(settings.data_dir),
        key_log=processing_log(settings),
    )


# ---------------------------------------------------------------------------------------------
# the report


def markdown_report(result: ReplayResult) -> str:
    data = result.as_json()
    lines = [
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
    for pseudonym, plan in data["plans"].items():
        if plan.get("erased"):
            lines += [f"### {pseudonym}", "", "erased", ""]
            continue
        lines += [
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
    lines += ["## Key releases and refusals (kluis processing log)", ""]
    lines += ["| at | operation | decision | requester | purpose | child | reason |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for record in [*data["key_releases"], *data["key_refusals"]]:
        lines.append(
            f"| {record['at']} | {record['operation']} | {record['decision']} | "
            f"{record['requester']} | {record['purpose']} | {record['data_subject']} | "
            f"{record['refusal_code'] or ''} |"
        )
    return "\n".join(lines) + "\n"


def write_report(result: ReplayResult, target: Path) -> tuple[Path, Path]:
    """`<target>.json` and `<target>.md` (the suffix of `target` is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    json_path = target.with_suffix(".json")
    md_path = target.with_suffix(".md")
    json_path.write_text(json.dumps(result.as_json(), indent=2, default=str), encoding="utf-8")
    md_path.write_text(markdown_report(result), encoding="utf-8")
    return json_path, md_path

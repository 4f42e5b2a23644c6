"""What went over NATS, held to the AsyncAPI document.

`WireTap` keeps every message a nats-server carries (a raw subscriber on `>`, in a thread of
its own, so it listens while a test's code blocks); `check` matches each kept message to the
document by its subject:

- a subject of a channel (`in.{partner}.signalling.signal-registered`, `feed.{partner}.receipt`,
  `ketenbus.kluis.key`, ...) must validate, payload and headers, against one of its messages
  (a signed request: its JWS header and claims too);
- a reply (on the requester's inbox) against the reply of the operation it answers;
- JetStream's own traffic (`$JS.…`, `$O.…`, `$KV.…`), the deliveries of a pull consumer (reply
  `$JS.ACK.…`) and JetStream's publish acknowledgements are NATS's, not ours.

A message a test made itself (its `origin`, tests/wire_site/sitecustomize.py: an attack, a
fake event a test puts on a domain stream for a service to read) is counted, not checked.
Messages of one `shape` (headers, JSON keys and value shapes, sealed section and JWS headers)
are validated once.
A message of ours that does not fit is an error, unless the backbone refused it, as the
document says it does: an inbound event with a `refused` receipt, a request answered with a
refusal. Such messages (the attacks and poison messages of the tests) are listed as `refused`.

Every test session records what its processes publish (tests/wire_site/sitecustomize.py:
the pytest workers, in-process services, `ketenbus up`'s services, the commands a test runs,
on servers with authorization or without) into `$PYTEST_WIRE_CAPTURE/*.jsonl`, and checks it
all at the session's end (`check_run`, from tests/conftest.py): a produced message that fits no
message of the document fails the run. `python -m tests.wire <dir>` checks a kept directory
(`PYTEST_WIRE_CAPTURE=<dir>` keeps it; `off` records nothing). `WireTap` is for a test that
holds one story to the document on its own server (tests/integration/test_wire_contract.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats

from tests.contract.document import (
    address_pattern,
    b64_json,
    document,
    message_errors,
    messages_for,
    resolve,
)

CAPTURE_VARIABLE = "PYTEST_WIRE_CAPTURE"  # read by tests/wire_site/sitecustomize.py
NATS_OWN = ("$JS.", "$O.", "$KV.", "$SYS.")


@dataclass(frozen=True)
class Seen:
    subject: str
    reply: str
    headers: dict[str, str]
    data: bytes
    origin: str = "ketenbus"  # or `test`: made by a test itself (sitecustomize's `_origin`)

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Seen:
        data, origin = base64.b64decode(raw["data"]), raw.get("origin", "ketenbus")
        return cls(raw["subject"], raw["reply"], raw["headers"], data, origin)


class WireTap:
    """Every message a nats-server carries, kept in order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[Seen] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._nc: Any = None

    def start(self) -> WireTap:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._connect(), self._loop).result(30)
        return self

    async def _connect(self) -> None:
        self._nc = await nats.connect(
            self.url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )

        async def keep(msg: Any) -> None:
            seen = Seen(msg.subject, msg.reply or "", dict(msg.headers or {}), msg.data)
            self.seen.append(seen)

        await self._nc.subscribe(">", cb=keep)

    def stop(self) -> None:
        async def close() -> None:
            await self._nc.flush()
            await self._nc.close()

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


# ---------------------------------------------------------------------------------------------
# checking


@dataclass
class Checked:
    errors: list[str] = field(default_factory=list)
    covered: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    uncovered_subjects: Counter[str] = field(default_factory=Counter)
    # What tests made themselves (attacks, fakes put on a stream): counted, not checked.
    test_made: Counter[str] = field(default_factory=Counter)


def _reply_operations() -> dict[str, list[dict[str, Any]]]:
    """Per request address, the reply messages its operation documents."""
    replies: dict[str, list[dict[str, Any]]] = {}
    for operation in document()["operations"].values():
        reply = operation.get("reply")
        if reply is not None:
            address = resolve(operation["channel"])["address"]
            replies[address] = [resolve(ref) for ref in reply["messages"]]
    return replies


def _payload(message: dict[str, Any], data: bytes) -> Any:
    schema = resolve(message.get("payload", {}))
    if schema.get("type") == "string":
        return data.decode("utf-8", "replace")
    return json.loads(data)


def _fit(candidates: list[tuple[str, dict[str, Any]]], seen: Seen) -> tuple[str, list[str]]:
    """The key of the candidate message that fits (no errors); else the errors of the likeliest
    one (the one whose `name` is the payload's `type`, or the first)."""
    if not candidates:
        return "", [f"no channel of the document covers {seen.subject}"]
    found: list[tuple[str, list[str]]] = []
    named = _json(seen.data) if seen.data.startswith(b"{") else None
    kind = named.get("type") if isinstance(named, dict) else None
    # The message named as the payload's `type` first: the feed's channel has dozens.
    candidates = sorted(candidates, key=lambda c: c[1].get("name") != kind)
    for key, message in candidates:
        try:
            payload = _payload(message, seen.data)
        except (ValueError, RecursionError):  # RecursionError: an attack's nesting
            found.append((key, ["the payload is not JSON"]))
            continue
        errors = message_errors(message, payload, seen.headers)
        if not errors:
            return key, []
        name = payload.get("type") if isinstance(payload, dict) else None
        found.append((key, errors) if name is None or name == message.get("name") else (key, []))
    key, errors = next(((k, e) for k, e in found if e), found[0])
    return "", [f"{seen.subject} as {key}: {e}" for e in errors] or [f"{seen.subject}: fits none"]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _refused_sequences(seen: list[Seen]) -> set[int]:
    """The INBOUND stream sequences the backbone refused (its receipts say so)."""
    refused = set()
    for message in seen:
        if message.subject.startswith("feed.") and message.subject.endswith(".receipt"):
            receipt = _json(message.data)
            if isinstance(receipt, dict) and receipt.get("status") == "refused":
                refused.add(receipt.get("stream_seq"))
    return refused


def _answers(seen: list[Seen]) -> dict[int, Any]:
    """Per message (by index) that was answered on its reply subject: the answer's JSON."""
    waiting = {s.reply: i for i, s in enumerate(seen) if s.reply.startswith("_INBOX.")}
    answers = {}
    for message in seen:
        index = waiting.pop(message.subject, None)
        if index is not None:
            answers[index] = _json(message.data)
    return answers


def _was_refused(index: int, seen: Seen, answers: dict[int, Any], refused: set[int]) -> bool:
    answer = answers.get(index)
    if not isinstance(answer, dict):
        return False
    if seen.subject.startswith("in."):
        return answer.get("stream") == "INBOUND" and answer.get("seq") in refused
    return answer.get("ok") is False or bool(answer.get("refusal"))


def _string_shape(value: str) -> tuple[Any, ...]:
    # What tells formats apart (a uuid, a date, a time, a pseudonym, a JWS, a code) and not
    # the values: its separators, and its length up to 40 characters.
    return (value.count("."), value.count("-"), value.count(":"), min(len(value), 41))


def _shape(value: Any, depth: int = 0) -> Any:
    if depth > 12:  # deeper than any documented message: its own shape, validated
        return id(value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _shape(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[]", frozenset(_shape(v, depth + 1) for v in value[:50]), len(value) > 50)
    if isinstance(value, str):
        return _string_shape(value)
    return type(value).__name__


def _token_shape(token: Any, bound_to: Any = None, kid_of: Any = None) -> Any:
    """A JWS or JWE compact token: its protected header's shape (and whether its `eid` is
    the event's id and its `kid` names the event's child and the section's purpose), and a
    JWS's claims' shape."""
    parts = str(token).split(".")
    try:
        header = b64_json(parts[0])
        claims = b64_json(parts[1]) if len(parts) == 3 else None
    except (ValueError, UnicodeDecodeError, IndexError):
        return ("unreadable", len(parts))
    eid = isinstance(header, dict) and header.get("eid") == bound_to
    kid = isinstance(header, dict) and str(header.get("kid")).split("/")[:2] == kid_of
    return (_shape(header), _shape(claims), eid, kid)


def shape(message: Seen) -> tuple[Any, ...]:
    """What a message is made of, not its values: its headers' names and shapes, its JSON's
    keys and value shapes, each sealed section's header (bound to the event or not) and a
    signed request's header and claims. Messages of one shape fit the same document message
    or none, so the check validates each shape once (thousands of messages, a few hundred
    shapes)."""
    headers = tuple(sorted((k, _string_shape(str(v))) for k, v in message.headers.items()))
    body = _json(message.data) if message.data[:1] in (b"{", b"[") else None
    if body is None:
        text = message.data.decode("ascii", "replace")
        return headers, "jws", _token_shape(text) if text.count(".") == 2 else len(text) > 0
    sealed: Any = ()
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        tokens = body["data"].get("sealed")
        if isinstance(tokens, dict):
            sealed = tuple(
                sorted(
                    (p, _token_shape(t, body.get("id"), [body.get("subject"), p]))
                    for p, t in tokens.items()
                )
            )
    return headers, _shape(body), sealed


def check(seen: list[Seen]) -> Checked:
    """Every kept message against the document (see the module's docstring)."""
    replies = _reply_operations()
    refused, answers = _refused_sequences(seen), _answers(seen)
    # Requests first: the records of a run come from many processes, a reply's maybe first.
    requests: dict[str, str] = {}
    for message in seen:
        if message.reply and not message.subject.startswith(NATS_OWN):
            asked = next(
                (a for a in replies if address_pattern(a).fullmatch(message.subject)), None
            )
            if asked is not None:
                requests[message.reply] = asked
    out = Checked()
    fitting: dict[tuple[Any, ...], str] = {}
    for index, message in enumerate(seen):
        if message.subject.startswith(NATS_OWN) or message.reply.startswith("$JS.ACK."):
            continue
        if message.subject in requests:
            address = requests[message.subject]
            candidates = [(f"reply:{address}", m) for m in replies[address]]
            label = f"reply:{address}"  # the reply messages' keys say nothing of the request
        elif message.subject.startswith("_INBOX."):
            continue  # JetStream's publish acknowledgement, or a reply to no request of ours
        else:
            candidates = [(m.key, m.message) for m in messages_for(message.subject)]
            label = ""
        if message.origin == "test":  # an attack, a fake: the test's own business
            out.test_made[message.subject.split(".", 1)[0]] += 1
            continue
        memo = (tuple(key for key, _ in candidates), shape(message))
        if memo in fitting:  # the same shape fitted the same messages before
            fitted, errors = fitting[memo], []
        else:
            fitted, errors = _fit(candidates, message)
            if not errors:
                fitting[memo] = fitted
        if errors and _was_refused(index, message, answers, refused):
            out.refused.append(message.subject)
        elif errors:
            if not candidates:
                out.uncovered_subjects[message.subject] += 1
            out.errors.extend(errors)
        else:
            out.covered[label or fitted] += 1
    return out


def load(paths: Iterable[Path]) -> Iterator[list[Seen]]:
    """Each file's records: its messages, less those the server refused to carry (a publish
    the file's process was told was a permission violation)."""
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
        denied = {r["denied"] for r in records if "denied" in r}
        yield [
            Seen.from_record(r) for r in records if "denied" not in r and r["subject"] not in denied
        ]


def check_run(directory: Path) -> Checked:
    """A whole run's records (one file per process), checked as one wire."""
    seen = [message for found in load(sorted(directory.glob("*.jsonl"))) for message in found]
    return check(seen)


def documented_messages() -> set[str]:
    """The messages of the document, by their keys (as `check` counts what it covered)."""
    return set(document()["components"]["messages"])


def unproduced(covered: Counter[str]) -> list[str]:
    """The documented messages no recorded message fitted (replies count by their request)."""
    return sorted(key for key in documented_messages() - set(covered) if ".reply" not in key)


def report(checked: Checked) -> list[str]:
    """What a run's check found, as lines for the terminal."""
    lines = [
        f"covered {len(checked.covered)} message types, {sum(checked.covered.values())} messages;"
        f" refused as documented: {len(checked.refused)}; do not fit: {len(checked.errors)};"
        f" made by tests themselves (attacks, fakes; not checked): "
        f"{sum(checked.test_made.values())}"
    ]
    for error, count in Counter(checked.errors).most_common(60):
        lines.append(f"  {count:5d} {error[:300]}")
    return lines


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else os.environ.get(CAPTURE_VARIABLE, ""))
    checked = check_run(directory)
    print("\n".join(report(checked)))
    for subject, count in Counter(checked.refused).most_common():
        print(f"  refused {count:5d} {subject}")
    print("documented but not produced:")
    for key in unproduced(checked.covered):
        print(f"  {key}")
    return 1 if checked.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

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

A message that does not fit is an error, unless the backbone refused it, as the document says
it does: an inbound event with a `refused` receipt, a request answered with a refusal. Such
messages (the attacks and poison messages of the tests) are listed as `refused`.

With `KETENBUS_WIRE_CAPTURE=<dir>` the test session taps its nats-servers (tests/conftest.py)
into `<dir>/*.jsonl`; `python -m tests.wire <dir>` checks what they kept. A tap is a subscriber
like any other: a request to a subject nobody serves then times out instead of failing with
"no responders", so a capturing run is a survey, not the test suite.
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
    document,
    message_errors,
    messages_for,
    resolve,
)

CAPTURE_VARIABLE = "KETENBUS_WIRE_CAPTURE"
NATS_OWN = ("$JS.", "$O.", "$KV.", "$SYS.")


@dataclass(frozen=True)
class Seen:
    subject: str
    reply: str
    headers: dict[str, str]
    data: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "subject": self.subject,
                "reply": self.reply,
                "headers": self.headers,
                "data": base64.b64encode(self.data).decode(),
            }
        )

    @classmethod
    def from_json(cls, line: str) -> Seen:
        raw = json.loads(line)
        return cls(raw["subject"], raw["reply"], raw["headers"], base64.b64decode(raw["data"]))


class WireTap:
    """Every message a nats-server carries, kept in order (and appended to `path`, if given)."""

    def __init__(self, url: str, path: Path | None = None) -> None:
        self.url, self.path = url, path
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
        out = self.path.open("a", encoding="utf-8") if self.path is not None else None

        async def keep(msg: Any) -> None:
            seen = Seen(msg.subject, msg.reply or "", dict(msg.headers or {}), msg.data)
            self.seen.append(seen)
            if out is not None:
                out.write(seen.to_json() + "\n")
                out.flush()

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


def capture_path(label: str) -> Path | None:
    """Where a session tap writes, under `KETENBUS_WIRE_CAPTURE` (None: no capture)."""
    directory = os.environ.get(CAPTURE_VARIABLE)
    if not directory:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Path(directory) / f"{worker}-{label}-{os.getpid()}.jsonl"


# ---------------------------------------------------------------------------------------------
# checking


@dataclass
class Checked:
    errors: list[str] = field(default_factory=list)
    covered: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    uncovered_subjects: Counter[str] = field(default_factory=Counter)


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


def check(seen: list[Seen]) -> Checked:
    """Every kept message against the document (see the module's docstring)."""
    replies = _reply_operations()
    refused, answers = _refused_sequences(seen), _answers(seen)
    requests: dict[str, str] = {}
    out = Checked()
    for index, message in enumerate(seen):
        if message.subject.startswith(NATS_OWN) or message.reply.startswith("$JS.ACK."):
            continue
        if message.subject in requests:
            address = requests.pop(message.subject)
            candidates = [(f"reply:{address}", m) for m in replies[address]]
            label = f"reply:{address}"  # the reply messages' keys say nothing of the request
        elif message.subject.startswith("_INBOX."):
            continue  # JetStream's publish acknowledgement, or a reply to no request of ours
        else:
            candidates = [(m.key, m.message) for m in messages_for(message.subject)]
            asked = next(
                (a for a in replies if address_pattern(a).fullmatch(message.subject)), None
            )
            if message.reply and asked is not None:
                requests[message.reply] = asked
            label = ""
        fitted, errors = _fit(candidates, message)
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
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            yield [Seen.from_json(line) for line in lines if line.strip()]


def documented_messages() -> set[str]:
    """The messages of the document, by their keys (as `check` counts what it covered)."""
    return set(document()["components"]["messages"])


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else os.environ.get(CAPTURE_VARIABLE, ""))
    total = Checked()
    for seen in load(sorted(directory.glob("*.jsonl"))):
        checked = check(seen)
        total.errors += checked.errors
        total.covered.update(checked.covered)
        total.refused += checked.refused
        total.uncovered_subjects.update(checked.uncovered_subjects)
    print(f"covered {len(total.covered)} message types, {sum(total.covered.values())} messages")
    print(f"refused (as documented): {len(total.refused)}")
    for subject, count in Counter(total.refused).most_common():
        print(f"  {count:5d} {subject}")
    print(f"do not fit: {len(total.errors)}")
    for error in Counter(total.errors).most_common(60):
        print(f"  {error[1]:5d} {error[0][:300]}")
    print("documented but not seen:")
    for key in sorted(documented_messages() - set(total.covered)):
        if not key.endswith(".reply:Message"):  # replies are counted by their request
            print(f"  {key}")
    return 1 if total.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

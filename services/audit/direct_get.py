"""The replay's read of a stream by sequence: batched direct gets, their headers parsed here.

Read-only by construction: `$JS.API.DIRECT.GET.<stream>` answers from the stream itself, so no
consumer is created and the auditors' NATS user needs no consumer API (a user that may create
an "ephemeral" consumer may name it after a service's durable one and rewrite it).

Why the headers are parsed here: nats-py parses every message's header block into a dict as it
comes off the wire (`Client._process_headers`, a Python loop over every header line and every
character of each name), builds a `Msg`, queues it and runs the subscription's callback. A
direct get answers with six headers per message, so that was two thirds of the replay's read
(bench.replay). The inbox of a reader here is taken off nats-py's dispatch before all that: its
messages reach the reader as the wire's header bytes and payload (`raw_inbox`), and only the
four values the replay needs are cut out of the header block (`Nats-Subject`, `Nats-Sequence`,
`Nats-Time-Stamp`, or the status line of a batch's end).

The server writes its own values after the headers the message was published with, so the last
occurrence of a name is the server's: a publisher's `Nats-Sequence` or `Nats-Time-Stamp` header
never stands in for it (nats-py's dict keeps the last one too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from nats.aio.client import Client as NatsClient

IDLE_TIMEOUT = 5.0
DIRECT_BATCH = 1024  # messages per direct get
DIRECT_BATCH_BYTES = 8 * 1024 * 1024

Progress = Callable[[int], None]
Take = Callable[[bytes | None, bytes], None]
"""Told each message of a raw inbox: its header block as sent (None: none) and its payload."""

_SUBJECT = b"\r\nNats-Subject: "
_SEQUENCE = b"\r\nNats-Sequence: "
_TIME_STAMP = b"\r\nNats-Time-Stamp: "
_STATUS_AT = len(b"NATS/1.0")  # a status line: `NATS/1.0 204 EOB`, `NATS/1.0 404 …`


class DirectGetError(ValueError):
    """A direct get's answer without the headers every stored message has."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    stream: str
    seq: int
    subject: str
    stored_at: datetime
    data: bytes


def _takers(nc: NatsClient) -> dict[int, Take]:
    """The raw inboxes of a connection by subscription id; nats-py's message dispatch is
    wrapped once per connection so that their messages go to them before it parses anything
    (nats-py 2.16's parser calls `Client._process_msg(sid, subject, reply, payload, headers)`
    for every message; the replay's tests run through it)."""
    takers: dict[int, Take] | None = getattr(nc, "_ketenbus_raw_inboxes", None)
    if takers is not None:
        return takers
    takers = {}
    dispatch = nc._process_msg

    async def process(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        take = takers.get(sid)
        if take is None:
            await dispatch(sid, subject, reply, data, headers)  # type: ignore[arg-type]
        else:
            take(headers, data)

    setattr(nc, "_process_msg", process)  # noqa: B010 - an instance's method, replaced on purpose
    setattr(nc, "_ketenbus_raw_inboxes", takers)  # noqa: B010
    return takers


@contextlib.asynccontextmanager
async def raw_inbox(nc: NatsClient, take: Take) -> AsyncIterator[str]:
    """A new inbox whose messages are handed to `take` as they come off the wire (in order,
    on the connection's reading task, never queued or parsed by nats-py)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    takers = _takers(nc)
    takers[sub._id] = take
    try:
        yield inbox
    finally:
        takers.pop(sub._id, None)
        await sub.unsubscribe()


def header(block: bytes, name: bytes) -> bytes:
    """The value of the last `name` line (`b"\\r\\nName: "`) in a header block."""
    start = block.rfind(name)
    if start < 0:
        raise DirectGetError(f"no {name.strip().decode()} in a direct get's answer")
    start += len(name)
    return block[start : block.find(b"\r\n", start)]


@lru_cache(maxsize=4096)
def _second(whole: bytes) -> datetime:
    return datetime.fromisoformat(whole.decode()).replace(tzinfo=UTC)


def time_stamp(value: bytes) -> datetime:
    """A storage time (RFC 3339 with up to nine fraction digits, UTC) to the microsecond.

    A stream's messages are stored seconds apart at most: the second is parsed once and cached."""
    whole, _, fraction = value.rstrip(b"Z").partition(b".")
    return _second(whole).replace(microsecond=int(fraction[:6].ljust(6, b"0")) if fraction else 0)


async def stream_batches(
    nc: NatsClient, name: str, last: int, progress: Progress | None = None
) -> AsyncGenerator[list[StoredMessage]]:
    """One stream's messages up to sequence `last`, in stream order, a direct get's batch at a
    time (`DIRECT_BATCH` messages, at most `DIRECT_BATCH_BYTES`).

    The next batch is asked for as soon as one has come, so the server sends it while this one
    is projected: a reader holds at most two batches, never the stream.
    """
    subject = f"$JS.API.DIRECT.GET.{name}"
    batches: asyncio.Queue[list[tuple[bytes, bytes]]] = asyncio.Queue()
    received: list[tuple[bytes, bytes]] = []

    def collect(headers: bytes | None, data: bytes) -> None:
        block = headers or b"NATS/1.0 500\r\n\r\n"  # no headers: no stored message, the end
        received.append((block, data))
        if block[_STATUS_AT] == 0x20:  # a status: the batch's end (204), or nothing there
            batches.put_nowait(received.copy())
            received.clear()

    async with raw_inbox(nc, collect) as inbox:

        async def ask(seq: int) -> None:
            request = {"seq": seq, "batch": min(DIRECT_BATCH, last - seq + 1)}
            request["max_bytes"] = DIRECT_BATCH_BYTES
            await nc.publish(subject, json.dumps(request).encode(), reply=inbox)

        await ask(1)
        while True:
            try:
                batch = await asyncio.wait_for(batches.get(), IDLE_TIMEOUT)
            except TimeoutError:
                return  # the server stopped answering: what was read is what there is
            messages: list[StoredMessage] = []
            ended = True
            for block, data in batch:
                if block[_STATUS_AT] == 0x20:
                    # 204: the end of this batch; anything else: nothing at or after the
                    # sequence asked for (the tail was removed)
                    ended = block[_STATUS_AT + 1 : _STATUS_AT + 4] != b"204"
                    break
                seq = int(header(block, _SEQUENCE))
                if seq > last:
                    break
                messages.append(
                    StoredMessage(
                        name,
                        seq,
                        header(block, _SUBJECT).decode(),
                        time_stamp(header(block, _TIME_STAMP)),
                        data,
                    )
                )
            more = not ended and bool(messages) and messages[-1].seq < last
            if more:
                await ask(messages[-1].seq + 1)
            if messages:
                if progress is not None:
                    progress(len(messages))
                yield messages
            if not more:
                return


async def stream_reader(
    nc: NatsClient, name: str, last: int, progress: Progress | None = None
) -> AsyncGenerator[StoredMessage]:
    """One stream's messages up to sequence `last`, in stream order, one at a time."""
    batches = stream_batches(nc, name, last, progress)
    try:
        async for batch in batches:
            for message in batch:
                yield message
    finally:
        await batches.aclose()

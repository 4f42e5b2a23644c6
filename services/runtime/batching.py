"""How services consume a JetStream stream with faststream: in order, a batch at a time.

faststream runs the messages of one pull in concurrent tasks, which would let a later message
overtake an earlier one; in batch mode one handler call gets the whole pull, in order. The raw
decoder hands over the bytes so each message is validated on its own (a bad message must not
refuse its batch).

A batch is handed over as soon as its messages have arrived (`Puller`): faststream's batch
loop waits until its timeout to fill a batch, which put up to 50 ms on every hop at a low rate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import nats.errors
import nats.js.errors
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter, PullSub
from faststream.nats.subscriber.usecases.stream_pull_subscriber import BatchPullStreamSubscriber
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext
from pydantic import SkipValidation

from services.runtime.signatures import verifying
from services.runtime.streams import ConsumerSpec

if TYPE_CHECKING:
    from services.runtime.host import ServiceContext

# Up to 256 messages a pull; a pull request lingers on the server for 2 s (see `Puller`).
BATCH = PullSub(batch_size=256, timeout=2.0, batch=True)
# How long past a pull request's expiry its end (a status message) may take to arrive before the
# request is taken as lost (a reconnect or a leader election drops it on the server).
_GRACE = 0.5
# A pull request's statuses that end it: no messages, expired, or a 409 (leadership change,
# consumer deleted, max waiting); the heartbeat (100) is not among them.
_ENDS = frozenset(
    {api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT, api.StatusCode.CONFLICT}
)


class Puller:
    """Pulls a durable consumer's messages and hands over what has arrived as soon as it has
    arrived: one pull request for up to `batch` messages is kept outstanding on the server
    (expiring after `linger` seconds, then asked again), and each call returns the messages
    that came in since the last, waiting only when there are none.

    nats-py's `fetch` and faststream's loop around it wait until a batch is full or its timeout
    has passed: at 100 messages a second every hop waited out the 50 ms timeout (the slice's
    p50 was 134 ms against a raw publish and pull's 1 ms), and a shorter timeout would send a
    pull request every few ms while idle. This is how the NATS clients' `Consume` work.
    (faststream's loop also dropped what it had collected when nats-py's fetch timed out with
    the builtin `TimeoutError`, which the project once patched fetch for; it no longer runs.)
    """

    def __init__(self, subscription: Any, batch: int, linger: float) -> None:
        self.subscription, self.batch, self.linger = subscription, batch, linger
        self.owed = 0  # messages the outstanding pull request may still deliver
        self.until = 0.0  # when it is taken as ended (monotonic)

    async def _ask(self) -> None:
        request = {"batch": self.batch, "expires": int(self.linger * 1_000_000_000)}
        sub = self.subscription
        await sub._nc.publish(sub._nms, json.dumps(request).encode(), sub._deliver)
        self.owed, self.until = self.batch, time.monotonic() + self.linger + _GRACE

    def _take(self, msg: Msg, into: list[Msg]) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if not status:
            self.owed -= 1
            into.append(msg)
        elif status in _ENDS:
            self.owed = 0
        elif status != api.StatusCode.CONTROL_MESSAGE:
            raise nats.js.errors.APIError.from_msg(msg)

    def _arrived(self) -> list[Msg]:
        sub = self.subscription._sub
        msgs: list[Msg] = []
        while not sub._pending_queue.empty():
            msg = sub._pending_queue.get_nowait()
            sub._pending_size -= len(msg.data)
            self._take(msg, msgs)
        return msgs

    async def next_batch(self) -> list[Msg]:
        """The messages that have arrived, or the first to arrive within the request's life
        and what came with it; [] when none did (the caller asks again)."""
        msgs = self._arrived()
        if msgs:
            return msgs
        if self.owed <= 0 or time.monotonic() >= self.until:
            await self._ask()
        try:
            msg = await self.subscription._sub.next_msg(
                timeout=max(self.until - time.monotonic(), 0.001)
            )
        except nats.errors.TimeoutError:
            self.owed = 0  # the request was lost: ask again
            return []
        self._take(msg, msgs)
        await asyncio.sleep(0)  # let what came in the same read reach the queue
        return msgs + self._arrived()


async def _consume_ready(self: Any) -> None:
    """`BatchPullStreamSubscriber._consume_pull`, handing over each batch as it arrives."""
    puller = Puller(self.subscription, self.pull_sub.batch_size, self.pull_sub.timeout)
    while self.running:
        try:
            messages = await puller.next_batch()
        except (nats.errors.ConnectionClosedError, nats.js.errors.ServiceUnavailableError):
            # Unprocessed messages stay unacknowledged for the server to deliver again.
            puller.owed = 0
            await asyncio.sleep(puller.linger / 4)
            continue
        if messages and self.running:
            await self.consume(messages)


BatchPullStreamSubscriber._consume_pull = _consume_ready  # type: ignore[method-assign]


async def raw_batch(msg: Any, original: Any) -> Any:
    """faststream decoder: leave the payloads of a `NatsBatchMessage` as bytes (the handler
    decodes each). Unannotated on purpose: faststream reads a decoder's annotations when it
    builds the AsyncAPI payload."""
    return msg.body


def stream_subscriber(
    router: NatsRouter, consumer: ConsumerSpec, *, title: str, description: str
) -> Callable[[Any], Any]:
    """The faststream subscriber of a service's durable consumer: pulled in batches, in order,
    payloads left as bytes for `ServiceContext.consume`; nacked (and the service restarted from
    its stored position) when the handler fails."""
    return router.subscriber(
        consumer.filter_subjects[0],
        stream=JStream(consumer.stream.name, declare=False),
        durable=consumer.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=title,
        description=(
            f"Durable pull consumer `{consumer.durable}` on stream `{consumer.stream.name}`: "
            f"{description}"
        ),
    )


def batch_consumer(
    router: NatsRouter,
    consumer: ConsumerSpec,
    ctx: ServiceContext | None,
    payload: Any,
    decode: Callable[[bytes], Any],
    *,
    title: str,
    description: str,
    signed: bool = True,
) -> None:
    """Subscribe a service's durable consumer to its store: each pull handed to
    `ServiceContext.consume`, which decodes every message with `decode` (checking the partner's
    signature first where the events are `signed`). `payload`: the event type it documents."""

    async def on_batch(events: Any, msg: NatsMessage) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError(f"{title} subscribed without its running service")
        decoder = verifying(decode, ctx.settings) if signed else decode
        await ctx.consume(consumer, cast(list[Msg], msg.raw_message), decoder)

    # What faststream reads for the AsyncAPI payload: the list of events, not validated.
    on_batch.__annotations__ = {
        "events": SkipValidation[list[payload]],
        "msg": NatsMessage,
        "return": None,
    }
    stream_subscriber(router, consumer, title=title, description=description)(on_batch)

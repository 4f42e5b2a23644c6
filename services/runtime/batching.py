"""How services consume a JetStream stream with faststream: in order, a batch at a time.

faststream runs the messages of one pull in concurrent tasks, which would let a later message
overtake an earlier one; in batch mode one handler call gets the whole pull, in order. The raw
decoder hands over the bytes so each message is validated on its own (a bad message must not
refuse its batch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import nats.errors
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter, PullSub
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from pydantic import SkipValidation

from services.runtime.signatures import verifying
from services.runtime.streams import ConsumerSpec

if TYPE_CHECKING:
    from services.runtime.host import ServiceContext

# Up to 256 messages a pull; a partial batch is handed over after 50 ms.
BATCH = PullSub(batch_size=256, timeout=0.05, batch=True)


def _fetch_raising_nats_timeouts() -> None:
    """Make `PullSubscription.fetch` time out with `nats.errors.TimeoutError` only.

    nats-py's fetch raises the builtin `TimeoutError` when its deadline has passed before the
    lingering pull request (nats/js/client.py `_fetch_n`), while faststream's batch loop catches
    only `nats.errors.TimeoutError`. The builtin one escapes, faststream restarts the loop and
    drops the messages it had already collected: they come back only after `ack_wait`, behind
    newer ones (measured: 8 of 300 messages at one every 13 ms). `ServiceContext` still checks
    for delivery gaps, as a net.
    """
    original = JetStreamContext.PullSubscription.fetch
    if getattr(original, "_ketenbus_patched", False):
        return

    @functools.wraps(original)
    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    fetch._ketenbus_patched = True  # type: ignore[attr-defined]
    JetStreamContext.PullSubscription.fetch = fetch  # type: ignore[method-assign]


_fetch_raising_nats_timeouts()


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

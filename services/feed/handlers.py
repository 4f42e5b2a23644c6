"""The feed's subscribers: the domain streams and erasures in, the partners' feeds out.

- Durable pull consumers `feed` on SIGNALLING, HANDOVER, ARRANGEMENTS, TRUANCY, PLAN and
  PRIVACY: each event is copied to `feed.<partner>.<domain>.<event>` for every partner related
  to the child (see `services.feed.domain`), with `Nats-Msg-Id` = `<event id>:<partner>`.
- Documented here (the services publish them): receipts on `feed.<partner>.receipt`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation, ValidationError

from ketenbus_contracts.arrangements import ArrangementsEvent
from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.handover import HandoverEvent
from ketenbus_contracts.plan import PlanEvent
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.signalling import SignallingEvent
from ketenbus_contracts.truancy import TruancyEvent
from services.feed.application import FeedApplication
from services.runtime.batching import stream_subscriber
from services.runtime.deadletter import publish_deadletter
from services.runtime.host import ServiceContext
from services.runtime.inbound import Refusal
from services.runtime.store import UnexpectedHandlerError
from services.runtime.streams import (
    FEED,
    FEED_ARRANGEMENTS,
    FEED_HANDOVER,
    FEED_PLAN,
    FEED_PRIVACY,
    FEED_SIGNALLING,
    FEED_TRUANCY,
    ConsumerSpec,
)

# What a copy on a partner's feed can be (the AsyncAPI document's payload of `feed/copy`).
FeedCopy = (
    SignallingEvent | HandoverEvent | ArrangementsEvent | TruancyEvent | PlanEvent | ChildErased
)

SOURCES: tuple[tuple[ConsumerSpec, Any], ...] = (
    (FEED_SIGNALLING, SignallingEvent),
    (FEED_HANDOVER, HandoverEvent),
    (FEED_ARRANGEMENTS, ArrangementsEvent),
    (FEED_TRUANCY, TruancyEvent),
    (FEED_PLAN, PlanEvent),
    (FEED_PRIVACY, ChildErased),
)


def _application(ctx: ServiceContext | None) -> tuple[ServiceContext, FeedApplication]:
    if ctx is None or not isinstance(ctx.application, FeedApplication):
        raise RuntimeError("feed router used without its running service")
    return ctx, ctx.application


async def copy_to_feeds(
    ctx: ServiceContext,
    application: FeedApplication,
    consumer: ConsumerSpec,
    messages: Sequence[Msg],
    lock: asyncio.Lock,
) -> int:
    """Copy a fetched batch to the partners' feeds, then record it; the copies published.

    One batch at a time across the feed's consumers (`lock`): two batches touching the same
    child must not both start from the same stored relations.
    """
    ctx.consumed[consumer.tracking_name] = ctx.consumed.get(consumer.tracking_name, 0) + 1
    ctx._check_deliveries(consumer, messages)  # the same net as every consumer's
    decoded: list[tuple[int, Any]] = []
    refused: list[tuple[Msg, Exception | Refusal]] = []
    for msg in sorted(messages, key=lambda m: m.metadata.sequence.stream):
        seq = msg.metadata.sequence.stream
        given_up = ctx.given_up_on(consumer, seq)
        if given_up is not None:
            refused.append((msg, given_up))
            continue
        try:
            decoded.append((seq, parse_event(msg.data)))
        except (ValidationError, UnknownEventTypeError) as exc:
            refused.append((msg, exc))
    if ctx.nc is None:
        raise RuntimeError("the feed has no connection to publish on")
    js = ctx.nc.jetstream()
    through = max((m.metadata.sequence.stream for m in messages), default=0)
    # Dead letters before the batch is recorded, so a failed publish is retried with it.
    for msg, reason in refused:
        await publish_deadletter(
            js, ctx.service, reason, msg.data,
            subject=msg.subject, stream_seq=msg.metadata.sequence.stream,
        )  # fmt: skip
    async with lock:
        try:
            prepared = await ctx.call(application.prepare, consumer.tracking_name, decoded, through)
        except UnexpectedHandlerError as failure:
            ctx.handling_failed(consumer, failure)
            raise
        acks = [
            await js.publish_async(
                entry.subject, entry.body, stream=FEED.name, headers=entry.headers
            )
            for entry in prepared.entries
        ]
        await asyncio.gather(*acks)
        await ctx.call(application.commit, prepared)
    ctx.batch_done(consumer, through)
    return len(prepared.entries)


def _subscribe(
    router: NatsRouter,
    ctx: ServiceContext | None,
    consumer: ConsumerSpec,
    payload: Any,
    lock: asyncio.Lock,
) -> None:
    async def on_events(events: Any, msg: NatsMessage) -> None:
        # `events` documents the payload (validation skipped): each message is decoded here.
        service, application = _application(ctx)
        await copy_to_feeds(service, application, consumer, cast(list[Msg], msg.raw_message), lock)

    on_events.__annotations__["events"] = SkipValidation[list[payload]]
    stream_subscriber(
        router,
        consumer,
        title=f"feed/{consumer.stream.name.lower()}",
        description=(
            "each event copied to `feed.<partner>.<domain>.<event>` for every partner with a "
            "current relation with the child, holding only the sealed sections its role may "
            "hold, signed by the feed (header `Ketenbus-Feed-Signature`)."
        ),
    )(on_events)


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()
    lock = asyncio.Lock()
    for consumer, payload in SOURCES:
        _subscribe(router, ctx, consumer, payload, lock)
    router.publisher(
        "feed.{partner}.{domain}.{event}",
        schema=FeedCopy,
        title="feed/copy",
        description=(
            "A copy of a domain event about a child the partner has a current relation with, "
            "or that names the partner in `data.notify` (`related`), or, for the event types "
            "`infra/feed.yaml` marks `basis`, only to the partners whose relation the event "
            "starts or ends (a signal: its signaller). "
            "`data.sealed` and `purposes` keep only the purposes the partner's role may hold and "
            "a current relation opens (infra/processing-register.yaml, infra/relations.yaml); "
            "the handover's dossier `data.sections` go for a partner that may not hold "
            "`handover`; every remaining JWE is as it was, bound to the same event id. "
            "`Nats-Msg-Id` = `<event id>:<partner>`; header `Ketenbus-Feed-Signature`: the "
            "feed's JWS (Ed25519, kid `feed#sig`) with the body bytes as detached payload."
        ),
    )
    router.publisher(
        "feed.{partner}.receipt",
        schema=Receipt,
        title="feed/receipt",
        description=(
            "The answer to every event a partner published on `in.<partner>.…`: `accepted` "
            "with the INBOUND stream sequence and the event id, or `refused` with a reason "
            "code (never the content), published by the service that decided (or by ingress) "
            "into stream `FEED`; the partner reads it through its durable consumer "
            "`feed-<partner>` (fetch, ack and info only). Not signed: only the backbone may "
            "publish on `feed.>`."
        ),
    )
    return router

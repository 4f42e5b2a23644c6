"""The feed's subscribers: the domain streams and erasures in, the partners' feeds out.

- Durable pull consumers `feed` on SIGNALLING, HANDOVER, ARRANGEMENTS, TRUANCY, PLAN and
  PRIVACY: each event is copied to `feed.<partner>.<domain>.<event>` for every partner related
  to the child (see `services.feed.domain`), with `Nats-Msg-Id` = `<event id>:<partner>`.
- Documented here (the services publish them): receipts on `feed.<partner>.receipt`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from faststream.nats import NatsRouter
from nats.aio.msg import Msg
from pydantic import ValidationError

from ketenbus_contracts.arrangements import ArrangementsEvent
from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.handover import HandoverEvent
from ketenbus_contracts.plan import PlanEvent
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.signalling import SignallingEvent
from ketenbus_contracts.truancy import TruancyEvent
from services.feed.application import FeedApplication
from services.runtime.deadletter import Refused, publish_deadletter
from services.runtime.host import ServiceContext
from services.runtime.inbound import Refusal
from services.runtime.service import Consumes, application_of
from services.runtime.store import UnexpectedHandlerError
from services.runtime.streams import FEED, FEED_SOURCES, ConsumerSpec

# What a copy on a partner's feed can be (the AsyncAPI document's payload of `feed/copy`).
FeedCopy = (
    SignallingEvent | HandoverEvent | ArrangementsEvent | TruancyEvent | PlanEvent | ChildErased
)


async def copy_to_feeds(
    ctx: ServiceContext, consumer: ConsumerSpec, messages: Sequence[Msg]
) -> int:
    """Copy a fetched batch to the partners' feeds, then record it; the copies published.

    One batch at a time across the feed's consumers (the application's `one_batch`): two
    batches touching the same child must not both start from the same stored relations.
    """
    application = application_of(ctx, FeedApplication)
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
        seq = msg.metadata.sequence.stream
        await publish_deadletter(js, Refused(ctx.service, reason, msg.data, msg.subject, seq))
    async with application.one_batch:
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


COPIES = (
    "each event copied to `feed.<partner>.<domain>.<event>` for every partner with a current "
    "relation with the child, holding only the sealed sections its role may hold, signed by the "
    "feed (header `Ketenbus-Feed-Signature`)."
)
CONSUMES = tuple(Consumes(consumer, COPIES, consume=copy_to_feeds) for consumer in FEED_SOURCES)


def publishers(router: NatsRouter, ctx: ServiceContext | None) -> None:
    """What the feed publishes: the copies, and (documented here) the receipts."""
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
            "feed's JWS (Ed25519, kid `feed#sig`, after a rotation `feed#sig-<n>`) with the "
            "body bytes as detached payload."
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

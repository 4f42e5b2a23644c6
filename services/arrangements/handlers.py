"""arrangements' subscribers: decode the partners' decisions, call the application, done."""

from __future__ import annotations

from typing import cast

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation, TypeAdapter

from ketenbus_contracts.arrangements import InboundArrangementsEvent
from services.runtime.batching import BATCH, raw_batch
from services.runtime.host import ServiceContext
from services.runtime.signatures import verifying
from services.runtime.streams import ARRANGEMENTS_INBOUND

CONSUMER = ARRANGEMENTS_INBOUND
decode_inbound = TypeAdapter[InboundArrangementsEvent](InboundArrangementsEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CONSUMER.filter_subjects[0],
        stream=JStream(CONSUMER.stream.name, declare=False),
        durable=CONSUMER.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="arrangements/inbound",
        description=(
            f"Durable pull consumer `{CONSUMER.durable}` on stream `{CONSUMER.stream.name}`: "
            "support requests, TLVs, OPPs, youth-care decisions, arrangements, funding "
            "disputes and their decisions, Variawet requests and regie changes. Refused input "
            "(e.g. a school issuing a TLV) goes to `ketenbus.deadletter.arrangements`."
        ),
    )
    async def on_inbound(
        events: SkipValidation[list[InboundArrangementsEvent]], msg: NatsMessage
    ) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError("arrangements router used without its running service")
        await ctx.consume(
            CONSUMER, cast(list[Msg], msg.raw_message), verifying(decode_inbound, ctx.settings)
        )

    return router

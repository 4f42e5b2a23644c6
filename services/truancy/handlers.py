"""truancy's subscribers: decode the partners' events, call the application, done."""

from __future__ import annotations

from typing import cast

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation, TypeAdapter

from ketenbus_contracts.truancy import InboundTruancyEvent
from services.runtime.batching import BATCH, raw_batch
from services.runtime.host import ServiceContext
from services.runtime.signatures import verifying
from services.runtime.streams import TRUANCY_INBOUND

CONSUMER = TRUANCY_INBOUND
decode_inbound = TypeAdapter[InboundTruancyEvent](InboundTruancyEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CONSUMER.filter_subjects[0],
        stream=JStream(CONSUMER.stream.name, declare=False),
        durable=CONSUMER.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="truancy/inbound",
        description=(
            f"Durable pull consumer `{CONSUMER.durable}` on stream `{CONSUMER.stream.name}`: "
            "schools enrol, de-enrol and record absences; the population feed registers "
            "residents; leerplicht grants exemptions and answers reports; offers to "
            "thuiszitters. Refused input goes to `ketenbus.deadletter.truancy`."
        ),
    )
    async def on_inbound(
        events: SkipValidation[list[InboundTruancyEvent]], msg: NatsMessage
    ) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError("truancy router used without its running service")
        await ctx.consume(
            CONSUMER, cast(list[Msg], msg.raw_message), verifying(decode_inbound, ctx.settings)
        )

    return router

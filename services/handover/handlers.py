"""handover's subscribers: decode the partners' handover events, call the application, done."""

from __future__ import annotations

from typing import cast

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation, TypeAdapter

from ketenbus_contracts.handover import InboundHandoverEvent
from services.runtime.batching import BATCH, raw_batch
from services.runtime.host import ServiceContext
from services.runtime.signatures import verifying
from services.runtime.streams import HANDOVER_INBOUND

CONSUMER = HANDOVER_INBOUND
decode_inbound = TypeAdapter[InboundHandoverEvent](InboundHandoverEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CONSUMER.filter_subjects[0],
        stream=JStream(CONSUMER.stream.name, declare=False),
        durable=CONSUMER.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="handover/inbound",
        description=(
            f"Durable pull consumer `{CONSUMER.durable}` on stream `{CONSUMER.stream.name}`: "
            "partners start handovers, prepare dossiers, record the parents' view and consent, "
            "request (after enrolment) and release dossiers, and hold the warm conversation. "
            "Refused input goes to `ketenbus.deadletter.handover`."
        ),
    )
    async def on_inbound(
        events: SkipValidation[list[InboundHandoverEvent]], msg: NatsMessage
    ) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError("handover router used without its running service")
        await ctx.consume(
            CONSUMER, cast(list[Msg], msg.raw_message), verifying(decode_inbound, ctx.settings)
        )

    return router

"""truancy's subscribers: decode the partners' events, call the application, done."""

from __future__ import annotations

from faststream.nats import NatsRouter
from pydantic import TypeAdapter

from ketenbus_contracts.truancy import InboundTruancyEvent
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.streams import TRUANCY_INBOUND

CONSUMER = TRUANCY_INBOUND
decode_inbound = TypeAdapter[InboundTruancyEvent](InboundTruancyEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()
    batch_consumer(
        router,
        CONSUMER,
        ctx,
        InboundTruancyEvent,
        decode_inbound,
        title="truancy/inbound",
        description=(
            "schools enrol, de-enrol and record absences; the population feed registers "
            "residents; leerplicht grants exemptions and answers reports; offers to "
            "thuiszitters. Refused input goes to `ketenbus.deadletter.truancy`."
        ),
    )
    return router

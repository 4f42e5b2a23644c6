"""arrangements' subscribers: decode the partners' decisions, call the application, done."""

from __future__ import annotations

from faststream.nats import NatsRouter
from pydantic import TypeAdapter

from ketenbus_contracts.arrangements import InboundArrangementsEvent
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.streams import ARRANGEMENTS_INBOUND

CONSUMER = ARRANGEMENTS_INBOUND
decode_inbound = TypeAdapter[InboundArrangementsEvent](InboundArrangementsEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()
    batch_consumer(
        router,
        CONSUMER,
        ctx,
        InboundArrangementsEvent,
        decode_inbound,
        title="arrangements/inbound",
        description=(
            "support requests, TLVs, OPPs, youth-care decisions, arrangements, funding "
            "disputes and their decisions, Variawet requests and regie changes. Refused input "
            "(e.g. a school issuing a TLV) goes to `ketenbus.deadletter.arrangements`."
        ),
    )
    return router

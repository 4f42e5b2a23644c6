"""signalling's subscribers: decode the partners' events, call the application, done."""

from __future__ import annotations

from faststream.nats import NatsRouter
from pydantic import TypeAdapter

from ketenbus_contracts.signalling import InboundSignallingEvent
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.streams import SIGNALLING_INBOUND

CONSUMER = SIGNALLING_INBOUND
decode_inbound = TypeAdapter[InboundSignallingEvent](InboundSignallingEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()
    batch_consumer(
        router,
        CONSUMER,
        ctx,
        InboundSignallingEvent,
        decode_inbound,
        title="signalling/inbound",
        description=(
            "partners register and withdraw signals (the truancy service and leerplicht "
            "register attendance signals here too, like any partner), report a death, "
            "report contact, change the coordinator, record a three-year-old's risk "
            "inventory. Refused input goes to `ketenbus.deadletter.signalling` with its reason."
        ),
    )
    return router

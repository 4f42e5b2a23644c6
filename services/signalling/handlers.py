"""signalling's subscribers: decode the partners' events, call the application, done."""

from __future__ import annotations

from typing import cast

from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation, TypeAdapter

from ketenbus_contracts.signalling import InboundSignallingEvent
from services.runtime.batching import stream_subscriber
from services.runtime.host import ServiceContext
from services.runtime.signatures import verifying
from services.runtime.streams import SIGNALLING_INBOUND

CONSUMER = SIGNALLING_INBOUND
decode_inbound = TypeAdapter[InboundSignallingEvent](InboundSignallingEvent).validate_json


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @stream_subscriber(
        router,
        CONSUMER,
        title="signalling/inbound",
        description=(
            "partners register and withdraw signals (the truancy service and leerplicht "
            "register attendance signals here too, like any partner), report a death, "
            "report contact, change the coordinator, record a three-year-old's risk "
            "inventory. Refused input goes to `ketenbus.deadletter.signalling` with its reason."
        ),
    )
    async def on_inbound(
        events: SkipValidation[list[InboundSignallingEvent]], msg: NatsMessage
    ) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError("signalling router used without its running service")
        await ctx.consume(
            CONSUMER, cast(list[Msg], msg.raw_message), verifying(decode_inbound, ctx.settings)
        )

    return router

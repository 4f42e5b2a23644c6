"""signalling's subscribers: decode the partner's event, call the application, done."""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter, PullSub

from ketenbus_contracts.signalling import InboundSignallingEvent
from services.runtime.host import ServiceContext
from services.runtime.streams import SIGNALLING_INBOUND
from services.signalling.application import SignallingApplication
from services.signalling.translation import apply_inbound

CONSUMER = SIGNALLING_INBOUND


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CONSUMER.filter_subjects[0],
        stream=JStream(CONSUMER.stream.name, declare=False),
        durable=CONSUMER.durable,
        config=CONSUMER.config(),
        pull_sub=PullSub(batch_size=100, timeout=1.0),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="signalling/inbound",
        description=(
            f"Durable pull consumer `{CONSUMER.durable}` on stream `{CONSUMER.stream.name}`: "
            "partners register and withdraw signals. Refused input goes to "
            "`ketenbus.deadletter.signalling`."
        ),
    )
    async def on_inbound(event: InboundSignallingEvent, msg: NatsMessage) -> None:
        if ctx is None or not isinstance(ctx.application, SignallingApplication):
            raise RuntimeError("signalling router used without its running service")
        app = ctx.application
        position = msg.raw_message.metadata.sequence.stream
        tracking = Tracking(application_name=CONSUMER.tracking_name, notification_id=position)
        await ctx.call(apply_inbound, app, event, tracking)

    return router

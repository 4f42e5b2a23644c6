"""monitor's subscribers: truancy's events and erasures, projected into regional figures."""

from __future__ import annotations

from typing import cast

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import SkipValidation

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.truancy import TruancyEvent
from services.runtime.batching import BATCH, raw_batch
from services.runtime.host import ServiceContext
from services.runtime.streams import MONITOR_PRIVACY, MONITOR_TRUANCY


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        MONITOR_TRUANCY.filter_subjects[0],
        stream=JStream(MONITOR_TRUANCY.stream.name, declare=False),
        durable=MONITOR_TRUANCY.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="monitor/truancy",
        description=(
            f"Durable pull consumer `{MONITOR_TRUANCY.durable}` on stream "
            f"`{MONITOR_TRUANCY.stream.name}`: thuiszitters, exemptions and reasons, counted "
            "per region and quarter (no personal data in the report)."
        ),
    )
    async def on_truancy(events: SkipValidation[list[TruancyEvent]], msg: NatsMessage) -> None:
        if ctx is None:
            raise RuntimeError("monitor router used without its running service")
        await ctx.consume(MONITOR_TRUANCY, cast(list[Msg], msg.raw_message), parse_event)

    @router.subscriber(
        MONITOR_PRIVACY.filter_subjects[0],
        stream=JStream(MONITOR_PRIVACY.stream.name, declare=False),
        durable=MONITOR_PRIVACY.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="monitor/privacy",
        description=(
            f"Durable pull consumer `{MONITOR_PRIVACY.durable}` on stream "
            f"`{MONITOR_PRIVACY.stream.name}`: erased children are forgotten (still counted)."
        ),
    )
    async def on_privacy(events: SkipValidation[list[ChildErased]], msg: NatsMessage) -> None:
        if ctx is None:
            raise RuntimeError("monitor router used without its running service")
        await ctx.consume(MONITOR_PRIVACY, cast(list[Msg], msg.raw_message), parse_event)

    return router

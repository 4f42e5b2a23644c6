"""monitor's subscribers: truancy's events and erasures, projected into regional figures."""

from __future__ import annotations

from faststream.nats import NatsRouter

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.truancy import TruancyEvent
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.streams import MONITOR_PRIVACY, MONITOR_TRUANCY


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    batch_consumer(
        router,
        MONITOR_TRUANCY,
        ctx,
        TruancyEvent,
        parse_event,
        signed=False,
        title="monitor/truancy",
        description=(
            "thuiszitters, exemptions and reasons, counted per region and quarter (no personal "
            "data in the report)."
        ),
    )
    batch_consumer(
        router,
        MONITOR_PRIVACY,
        ctx,
        ChildErased,
        parse_event,
        signed=False,
        title="monitor/privacy",
        description="erased children are forgotten (still counted).",
    )
    return router

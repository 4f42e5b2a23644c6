"""integral-plan's subscribers: project signalling's events; answer plan queries."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsMessage, NatsRouter, PullSub
from pydantic import BaseModel, ConfigDict

from ketenbus_contracts.envelope import Pseudonym
from ketenbus_contracts.signalling import SignallingEvent
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.runtime.host import ServiceContext
from services.runtime.streams import PLAN_SIGNALLING

CONSUMER = PLAN_SIGNALLING
PLAN_QUERY_SUBJECT = "ketenbus.query.plan"


class PlanQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    child: Pseudonym


class PlanAnswer(BaseModel):
    found: bool
    plan: dict[str, Any] | None = None


def _application(ctx: ServiceContext | None) -> IntegralPlanApplication:
    if ctx is None or not isinstance(ctx.application, IntegralPlanApplication):
        raise RuntimeError("integral-plan router used without its running service")
    return ctx.application


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CONSUMER.filter_subjects[0],
        stream=JStream(CONSUMER.stream.name, declare=False),
        durable=CONSUMER.durable,
        config=CONSUMER.config(),
        pull_sub=PullSub(batch_size=100, timeout=1.0),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="integral-plan/signalling",
        description=(
            f"Durable pull consumer `{CONSUMER.durable}` on stream `{CONSUMER.stream.name}`: "
            "signals and matches onto the child's plan."
        ),
    )
    async def on_signalling(event: SignallingEvent, msg: NatsMessage) -> None:
        app = _application(ctx)
        position = msg.raw_message.metadata.sequence.stream
        tracking = Tracking(application_name=CONSUMER.tracking_name, notification_id=position)
        await ctx.call(app.apply, event, tracking)  # type: ignore[union-attr]

    @router.subscriber(
        PLAN_QUERY_SUBJECT,
        title="integral-plan/query",
        description="Request/reply: the plan of a child by pseudonym (clear parts only).",
    )
    async def on_query(query: PlanQuery) -> PlanAnswer:
        app = _application(ctx)
        try:
            plan = await ctx.call(app.plan_of, query.child)  # type: ignore[union-attr]
        except UnknownPlanError:
            return PlanAnswer(found=False)
        return PlanAnswer(found=True, plan=plan)

    return router

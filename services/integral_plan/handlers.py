"""integral-plan's subscribers: project signalling's events; answer plan queries."""

from __future__ import annotations

from typing import Any, cast

from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import BaseModel, ConfigDict, SkipValidation, TypeAdapter, ValidationError

from ketenbus_contracts.envelope import Pseudonym
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.signalling import SignallingEvent
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.runtime.batching import stream_subscriber
from services.runtime.host import ServiceContext
from services.runtime.streams import PLAN_PRIVACY, PLAN_SIGNALLING

CONSUMER = PLAN_SIGNALLING
ERASURES = PLAN_PRIVACY
PLAN_QUERY_SUBJECT = "ketenbus.query.plan"
decode_signalling = TypeAdapter[SignallingEvent](SignallingEvent).validate_json


class PlanQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    child: Pseudonym


class PlanAnswer(BaseModel):
    found: bool
    plan: dict[str, Any] | None = None
    error: str | None = None


def _application(ctx: ServiceContext | None) -> IntegralPlanApplication:
    if ctx is None or not isinstance(ctx.application, IntegralPlanApplication):
        raise RuntimeError("integral-plan router used without its running service")
    return ctx.application


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @stream_subscriber(
        router,
        CONSUMER,
        title="integral-plan/signalling",
        description="signals and matches onto the child's plan.",
    )
    async def on_signalling(
        events: SkipValidation[list[SignallingEvent]], msg: NatsMessage
    ) -> None:
        # `events` documents the payload (validation skipped): `consume` decodes each message.
        if ctx is None:
            raise RuntimeError("integral-plan router used without its running service")
        await ctx.consume(CONSUMER, cast(list[Msg], msg.raw_message), decode_signalling)

    @stream_subscriber(
        router,
        ERASURES,
        title="integral-plan/privacy",
        description="an erased child's plan is deleted.",
    )
    async def on_privacy(events: SkipValidation[list[ChildErased]], msg: NatsMessage) -> None:
        if ctx is None:
            raise RuntimeError("integral-plan router used without its running service")
        await ctx.consume(
            ERASURES, cast(list[Msg], msg.raw_message), ChildErased.model_validate_json
        )

    @router.subscriber(
        PLAN_QUERY_SUBJECT,
        title="integral-plan/query",
        description="Request/reply: the plan of a child by pseudonym (clear parts only).",
    )
    async def on_query(query: SkipValidation[PlanQuery], msg: NatsMessage) -> PlanAnswer:
        # Validated here, not by faststream, so a bad query gets an answer that says so.
        app = _application(ctx)
        try:
            query = PlanQuery.model_validate_json(msg.body)
        except ValidationError:
            return PlanAnswer(found=False, error='invalid query: expected {"child": pseudonym}')
        try:
            plan = await ctx.call(app.plan_of, query.child)  # type: ignore[union-attr]
        except UnknownPlanError:
            return PlanAnswer(found=False)
        return PlanAnswer(found=True, plan=plan)

    return router

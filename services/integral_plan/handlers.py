"""integral-plan's subscribers: the parties' plan events, other domains' events, queries.

Other domains' recorded events come in through `FEEDS` (signalling, handover, arrangements,
truancy): one durable consumer per stream, each message applied to the child's plan.

Queries (core NATS request/reply):
- `ketenbus.query.plan`: body a signed `PlanQuery` (JWS, see `ketenbus_contracts.plan`): the
  plan as that partner may receive it (only the sections its role may hold; it opens them with
  its own keys). An unsigned query is refused (`unsigned-query`): there is no anonymous view.
- `ketenbus.query.worklist`: body a signed `PlanQuery` with `op: worklist`: the partner's list;
  for a parent's account also `children`, the children a school or the municipality linked it to.
"""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsMessage, NatsRouter
from pydantic import BaseModel, Field, SkipValidation, TypeAdapter

from ketenbus_contracts.plan import (
    PLAN_QUERY_SUBJECT,
    WORKLIST_QUERY_SUBJECT,
    PlanEvent,
    PlanQueryError,
)
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.integral_plan.query import NotOnPlanError, PlanAccess
from services.runtime.host import ServiceContext
from services.runtime.parent_links import OWN_ACCOUNT_ROLES
from services.runtime.service import Consumes, application_of
from services.runtime.streams import (
    PLAN_ARRANGEMENTS,
    PLAN_HANDOVER,
    PLAN_INBOUND,
    PLAN_PRIVACY,
    PLAN_SIGNALLING,
    PLAN_TRUANCY,
    ConsumerSpec,
)

CONSUMER = PLAN_SIGNALLING  # the signalling feed (bench/slice.py follows its position)
ERASURES = PLAN_PRIVACY
PARTIES = PLAN_INBOUND
decode_plan = TypeAdapter[PlanEvent](PlanEvent).validate_json


# Other domains' streams the plan notes: their consumers, their events, what they bring.
FEEDS: tuple[Consumes, ...] = (
    Consumes(PLAN_SIGNALLING, "signals and matches onto the child's plan."),
    Consumes(
        PLAN_HANDOVER,
        "handovers onto the child's plan: from, to, planned date, status, escalations, gaps.",
    ),
    Consumes(
        PLAN_ARRANGEMENTS,
        "support requests, TLVs, OPPs, youth care, arrangements, funding disputes, Variawet "
        "requests and regie onto the child's plan (clear fields; content stays sealed).",
    ),
    Consumes(
        PLAN_TRUANCY,
        "enrolments, verzuimmeldingen, thuiszitters, the three-month rule, exemptions and "
        "offers: the attendance status on the child's plan.",
    ),
)
CONSUMES: tuple[Consumes, ...] = (
    Consumes(
        PARTIES,
        "parties join, assign regie, set goals, make agreements, agree and report actions. "
        "Refused input goes to `ketenbus.deadletter.integral-plan`.",
        payload=PlanEvent,
        signed=True,
        decode=decode_plan,
    ),
    *FEEDS,
    Consumes(ERASURES, "an erased child's plan is deleted."),
)
CONSUMERS: tuple[ConsumerSpec, ...] = (*(feed.consumer for feed in FEEDS), ERASURES, PARTIES)


class PlanAnswer(BaseModel):
    found: bool
    plan: dict[str, Any] | None = None
    refusal: str | None = Field(default=None, description="why the query was refused")


class WorklistAnswer(BaseModel):
    ok: bool
    worklist: dict[str, Any] | None = None
    refusal: str | None = None


# The queue group of the queries' subscribers: the service's name, as `Answers` has it.
QUERY_GROUP = "integral-plan"


def queries(router: NatsRouter, ctx: ServiceContext | None) -> None:
    """The plan's and the worklist's signed queries (request/reply)."""
    access: list[PlanAccess] = []

    def plan_access() -> PlanAccess:
        if not access:
            app = application_of(ctx, IntegralPlanApplication)
            access.append(PlanAccess.of(app.registry, None if ctx is None else ctx.replays))
        return access[0]

    # Queue group: one instance answers each query (every instance would answer it, and with
    # the shared replay guard all but the first would answer `replayed-request`).
    @router.subscriber(
        PLAN_QUERY_SUBJECT,
        queue=QUERY_GROUP,
        title="integral-plan/query",
        description=(
            "Request/reply: a child's plan as the asking partner may receive it. Body: a signed "
            "PlanQuery (JWS compact); anything else is refused (`unsigned-query`)."
        ),
    )
    async def on_query(query: SkipValidation[str], msg: NatsMessage) -> PlanAnswer:
        # Validated here, not by faststream, so a bad query gets an answer that says so.
        app = application_of(ctx, IntegralPlanApplication)
        if msg.body.lstrip().startswith(b"{"):
            return PlanAnswer(found=False, refusal="unsigned-query")
        return await _signed_plan_query(ctx, app, plan_access(), msg.body)  # type: ignore[arg-type]

    @router.subscriber(
        WORKLIST_QUERY_SUBJECT,
        queue=QUERY_GROUP,
        title="integral-plan/worklist",
        description="Request/reply: a signed PlanQuery (op worklist): the partner's worklist.",
    )
    async def on_worklist(query: SkipValidation[str], msg: NatsMessage) -> WorklistAnswer:
        app = application_of(ctx, IntegralPlanApplication)
        try:
            signed = await plan_access().verify(msg.body.decode("ascii", "replace"))
        except PlanQueryError as exc:
            return WorklistAnswer(ok=False, refusal=exc.code)
        worklist = await ctx.call(app.worklist, signed.partner)  # type: ignore[union-attr]
        if plan_access().directory.role_of(signed.partner) in OWN_ACCOUNT_ROLES:
            # A parent's (or the pupil's own) account: the children a school or the
            # municipality linked it to.
            children = await ctx.call(app.children_of, signed.partner)  # type: ignore[union-attr]
            worklist = worklist | {"children": children}
        return WorklistAnswer(ok=True, worklist=worklist)


async def _signed_plan_query(
    ctx: ServiceContext, app: IntegralPlanApplication, access: PlanAccess, body: bytes
) -> PlanAnswer:
    try:
        query = await access.verify(body.decode("ascii", "replace"))
    except PlanQueryError as exc:
        return PlanAnswer(found=False, refusal=exc.code)
    if query.child is None:
        return PlanAnswer(found=False, refusal="invalid-request")
    try:
        plan = await ctx.call(app.plan_of, query.child)
        parents = frozenset[str]()
        if access.directory.role_of(query.partner) in OWN_ACCOUNT_ROLES:
            parents = await ctx.call(app.parents_of, query.child)
    except UnknownPlanError:
        # Said the same way as not being on it: a partner learns nothing of other plans.
        return PlanAnswer(found=False, refusal="not-on-plan")
    try:
        return PlanAnswer(found=True, plan=access.visible_plan(plan, query.partner, parents))
    except NotOnPlanError:
        return PlanAnswer(found=False, refusal="not-on-plan")
    except PlanQueryError as exc:
        return PlanAnswer(found=False, refusal=exc.code)

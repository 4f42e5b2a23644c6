"""The integral-plan application: applies domain events from every service to the child's plan."""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from eventsourcing.application import AggregateNotFoundError

from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.signalling import MatchFound, SignalRegistered, SignalWithdrawn
from services.integral_plan.domain import Plan, PlanError
from services.runtime.store import Batch, TrackedApplication

log = structlog.get_logger(__name__)


class UnknownPlanError(LookupError):
    """There is no plan for this child."""


class IntegralPlanApplication(TrackedApplication):
    name = "integral_plan"

    refusals: ClassVar[tuple[type[Exception], ...]] = (PlanError,)

    def handle(self, batch: Batch, message: Any) -> None:
        self.apply(message, batch)

    def apply(self, event: Any, batch: Batch | None = None) -> None:
        """Project one contract event onto the child's plan."""
        work = batch or Batch(self.repository)
        if isinstance(event, ChildErased):
            self.erase(event.subject, work)
            return
        plan = work.get(Plan.create_id(event.subject), lambda: Plan(event.subject))
        if isinstance(event, SignalRegistered):
            plan.note_signal(
                event.data.signal_id,
                event.data.signaller.model_dump(),
                event.data.registered_on,
                event.id,
                {purpose.value: token for purpose, token in event.data.sealed.items()},
            )
        elif isinstance(event, SignalWithdrawn):
            plan.note_withdrawal(event.data.signal_id, event.data.withdrawn_on, event.data.reason)
        elif isinstance(event, MatchFound):
            plan.note_match(
                event.data.match_id,
                list(event.data.signal_ids),
                [s.partner for s in event.data.signallers],
                event.data.found_at,
            )
        if batch is None:
            self.save(plan)

    def erase(self, child: str, batch: Batch | None = None) -> None:
        """Drop the child's plan: its stored events are deleted, not just superseded."""
        plan_id = Plan.create_id(child)
        if batch is not None:
            batch.forget(plan_id)
        self.purge(plan_id)
        log.info("plan_erased", plan_id=str(plan_id))

    def plan_of(self, child: str) -> dict[str, Any]:
        try:
            plan: Plan = self.repository.get(Plan.create_id(child))
        except AggregateNotFoundError:
            raise UnknownPlanError("no plan for this child") from None
        return plan.view()

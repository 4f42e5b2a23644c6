"""The integral-plan application: applies domain events from every service to the child's plan."""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError

from ketenbus_contracts.signalling import MatchFound, SignalRegistered, SignalWithdrawn
from services.integral_plan.domain import Plan, PlanError
from services.runtime.store import Batch, TrackedApplication


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
        plan = work.get(Plan.create_id(event.subject), lambda: Plan(event.subject))
        if isinstance(event, SignalRegistered):
            plan.note_signal(
                event.data.signal_id, event.data.signaller.model_dump(), event.data.registered_on
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

    def plan_of(self, child: str) -> dict[str, Any]:
        try:
            plan: Plan = self.repository.get(Plan.create_id(child))
        except AggregateNotFoundError:
            raise UnknownPlanError("no plan for this child") from None
        return plan.view()

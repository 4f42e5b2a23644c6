"""The integral-plan application: applies every domain's events to the child's plan.

Also answers what readers ask: a child's plan (sealed sections still sealed) and an
organisation's worklist (thuiszitter escalations, overdue actions, stalled handovers, new
matches, actions due soon; limits in `infra/integral_plan/worklist.yaml`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from ketenbus_contracts.privacy import ChildErased
from services.integral_plan.config import WorklistRules, load_worklist_rules
from services.integral_plan.domain import Plan, PlanError
from services.integral_plan.translation import applier_for
from services.runtime.store import Batch, TrackedApplication

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
WorkItems = Callable[[Plan, str, date, WorklistRules], list[dict[str, Any]]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnknownPlanError(LookupError):
    """There is no plan for this child."""


class IntegralPlanApplication(TrackedApplication):
    name = "integral_plan"

    refusals: ClassVar[tuple[type[Exception], ...]] = (PlanError,)

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock = utcnow,
        rules: WorklistRules | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.rules = rules or load_worklist_rules()

    def handle(self, batch: Batch, message: Any) -> None:
        self.apply(message, batch)

    def apply(self, event: Any, batch: Batch | None = None) -> None:
        """Apply one contract event (a party's plan event, or another domain's) to the plan."""
        work = batch or Batch(self.repository)
        if isinstance(event, ChildErased):
            self.erase(event.subject, work)
            return
        applier = applier_for(event)
        if applier is None:
            log.info("plan_event_ignored", event_type=event.type)
            return
        plan = work.get(Plan.create_id(event.subject), lambda: Plan(event.subject))
        applier(plan, event)
        if batch is None:
            self.save(plan)

    def erase(self, child: str, batch: Batch | None = None) -> None:
        """Drop the child's plan: its stored events are deleted, not just superseded."""
        plan_id = Plan.create_id(child)
        if batch is not None:
            batch.forget(plan_id)
        self.purge(plan_id)
        log.info("plan_erased", plan_id=str(plan_id))

    # queries

    def _plan(self, child: str) -> Plan:
        try:
            plan: Plan = self.repository.get(Plan.create_id(child))
        except AggregateNotFoundError:
            raise UnknownPlanError("no plan for this child") from None
        return plan

    def plan_of(self, child: str) -> dict[str, Any]:
        return self._plan(child).view()

    def plans(self) -> Iterator[Plan]:
        """Every plan in the store (erased ones are gone: their events were deleted)."""
        seen: set[uuid.UUID] = set()
        start = 1
        # Only the events that start a plan: one notification per plan.
        topics = [get_topic(Plan.Started)]  # type: ignore[attr-defined]
        while True:
            page = self.recorder.select_notifications(start, 500, topics=topics)
            for notification in page:
                seen.add(uuid.UUID(str(notification.originator_id)))
            if len(page) < 500:
                break
            start = page[-1].id + 1
        for plan_id in sorted(seen):
            try:
                plan: Any = self.repository.get(plan_id)
            except AggregateNotFoundError:
                continue
            if isinstance(plan, Plan):
                yield plan

    def worklist(self, partner: str, now: datetime | None = None) -> dict[str, Any]:
        """What `partner` should act on today, per child (by pseudonym only; no content)."""
        today = (now or self.clock()).date()
        items: list[dict[str, Any]] = []
        for plan in self.plans():
            for source in WORK_ITEMS:
                items.extend(source(plan, partner, today, self.rules))
        order = {
            "thuiszitter-escalation": 0,
            "overdue-action": 1,
            "stalled-handover": 2,
            "new-match": 3,
            "due-soon-action": 4,
        }
        items.sort(key=lambda i: (order.get(i["kind"], 9), i["since"], i["child"]))
        return {"partner": partner, "on": today.isoformat(), "items": items}


# Worklist sources: one function per kind of work.


def new_matches(
    plan: Plan, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    match = plan.match
    if match is None or partner not in match["partners"]:
        return []
    found = datetime.fromisoformat(match["found_at"]).date()
    if (today - found).days > rules.new_match_days:
        return []
    others = [p for p in match["partners"] if p != partner]
    return [
        {
            "kind": "new-match",
            "child": plan.child,
            "since": found.isoformat(),
            "ref": match["match_id"],
            "with": others,
        }
    ]


def actions_due(
    plan: Plan, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    items = []
    for action in plan.actions.values():
        if action["status"] != "open" or partner not in (action["actor"], action["reports_to"]):
            continue
        due = date.fromisoformat(action["due_on"])
        if due < today:
            kind = "overdue-action"
        elif due <= today + timedelta(days=rules.due_soon_days):
            kind = "due-soon-action"
        else:
            continue
        items.append(
            {
                "kind": kind,
                "child": plan.child,
                "since": action["due_on"],
                "ref": action["action_id"],
                "actor": action["actor"],
                "reports_to": action["reports_to"],
                "days_overdue": max((today - due).days, 0),
            }
        )
    return items


def stalled_handovers(
    plan: Plan, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A handover past its planned date and not delivered or closed, or escalated, for its
    sender, its receiver, its SWV and whom it was escalated to."""
    items = []
    for handover in plan.handovers.values():
        if handover["status"] != "started" or not handover["planned_on"]:
            continue
        concerned = {handover["from"], handover["to"], handover["swv"]}
        concerned |= {e["partner"] for e in handover["escalations"]}
        planned = date.fromisoformat(handover["planned_on"])
        late = (today - planned).days
        if partner not in concerned or (
            late <= rules.stalled_handover_days and not handover["escalations"]
        ):
            continue
        items.append(
            {
                "kind": "stalled-handover",
                "child": plan.child,
                "since": handover["planned_on"],
                "ref": handover["handover_id"],
                "from": handover["from"],
                "to": handover["to"],
                "escalation_level": max((e["level"] for e in handover["escalations"]), default=0),
                "days_overdue": max(late, 0),
            }
        )
    return items


def thuiszitter_escalations(
    plan: Plan, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """The three-month rule reached, or a thuiszitter registered without a fitting offer, for
    the organisations concerned (whom the rule notifies, the school, leerplicht)."""
    attendance = plan.attendance
    thuiszitter = attendance["thuiszitter"]
    if thuiszitter is None or thuiszitter["ended_on"]:
        return []
    three_month = attendance["three_month"]
    concerned = {thuiszitter["school"]} | {r["leerplicht"] for r in attendance["reports"].values()}
    concerned |= set(three_month["notify"]) if three_month else set()
    if partner not in concerned or plan.offered_since(thuiszitter["since"]):
        return []
    since = date.fromisoformat(thuiszitter["since"])
    if three_month is None and (today - since).days < rules.thuiszitter_without_offer_days:
        return []
    return [
        {
            "kind": "thuiszitter-escalation",
            "child": plan.child,
            "since": thuiszitter["since"],
            "ref": three_month["stage"] if three_month else "without-offer",
            "category": thuiszitter["category"],
            "deadline": three_month["deadline"] if three_month else None,
            "days_at_home": (today - since).days,
        }
    ]


WORK_ITEMS: list[WorkItems] = [new_matches, actions_due, stalled_handovers, thuiszitter_escalations]

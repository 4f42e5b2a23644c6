"""The integral-plan application: applies every domain's events to the child's plan and views.

A consumed event changes the child's `Plan` (its decisions: parties, regie, goals, agreements,
actions) and its `PlanView` (what other domains recorded, the timeline); a batch records the
plans' new events, the changed view rows, the worklist index rows and the consumed position in
one transaction (`PlanBatch`, `services.integral_plan.index`).

Also answers what readers ask: a child's plan (sealed sections still sealed) and an
organisation's worklist (thuiszitter escalations, overdue actions, stalled handovers, new
matches, actions due soon; limits in `infra/integral_plan/worklist.yaml`). A worklist reads only
the plans the worklist index lists for the partner: every recording passes the partners each
changed plan names on a possible item (`worklist_partners`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, NamedTuple, cast

import structlog
from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import ProcessRecorder
from eventsourcing.utils import get_topic

from ketenbus_contracts.privacy import ChildErased
from services.integral_plan import legacy
from services.integral_plan.config import WorklistRules, load_worklist_rules
from services.integral_plan.domain import Plan, PlanError, match_parties
from services.integral_plan.index import (
    LISTED,
    RECORDERS,
    VIEWED,
    POPOPlanRecorder,
    WorklistIndex,
)
from services.integral_plan.translation import applier_for
from services.integral_plan.views import EXEMPTIONS, JGZ_REFERRALS, PlanView, Row, plan_view
from services.runtime.service import RuledApplication
from services.runtime.store import Batch

log = structlog.get_logger(__name__)

WorkItems = Callable[[Plan, PlanView, str, date, WorklistRules], list[dict[str, Any]]]
Concerned = Callable[[Plan, PlanView], set[str]]
REINDEX_BATCH = 500  # plans per transaction when the index or the views are filled


class UnknownPlanError(LookupError):
    """There is no plan for this child."""


class PlanBatch(Batch):
    """The plans one batch touches, with their views: recorded together with the rows of the
    views they changed and of the worklist index."""

    def __init__(self, repository: Repository[uuid.UUID], index: WorklistIndex) -> None:
        super().__init__(repository)
        self._index = index
        self._views: dict[uuid.UUID, PlanView] = {}

        # View rows read ahead by `preload`, not yet asked for.
        self._view_rows: dict[uuid.UUID, list[Row]] = {}

    def preload(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """The plans and their view rows (without the timeline), one SELECT each."""
        ids = list(dict.fromkeys(aggregate_ids))
        super().preload(ids)
        todo = [i for i in ids if i not in self._views and i not in self._view_rows]
        if todo:
            self._view_rows.update(self._index.views_of(todo, timeline=False))

    def plan(self, child: str) -> tuple[Plan, PlanView]:
        plan_id = Plan.create_id(child)
        plan = self.get(plan_id, lambda: Plan(child))
        if plan_id not in self._views:
            rows = self._view_rows.pop(plan_id, None)
            if rows is None:
                rows = self._index.view_rows(plan_id, timeline=False)
            self._views[plan_id] = PlanView(rows)
        return plan, self._views[plan_id]

    def forget(self, aggregate_id: uuid.UUID) -> None:
        super().forget(aggregate_id)
        self._views.pop(aggregate_id, None)
        self._view_rows.pop(aggregate_id, None)

    def recording(self) -> dict[str, Any]:
        listed, viewed = {}, {}
        for plan in self.aggregates:
            view = self._views[plan.id]
            changes = view.changes()
            if changes:
                viewed[plan.id] = changes
            if changes or plan.pending_events:
                listed[plan.id] = worklist_partners(plan, view)
        return {LISTED: listed, VIEWED: viewed}


class IntegralPlanApplication(RuledApplication[WorklistRules]):
    name = "integral_plan"

    refusals: ClassVar[tuple[type[Exception], ...]] = (PlanError,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self._any_plan():
            return
        if not self.index.has_views():
            self.migrate_views()  # and the index from them
        elif self.index.is_empty():
            self.reindex()

    def default_rules(self) -> WorklistRules:
        return load_worklist_rules()

    def _any_plan(self) -> bool:
        topics = [get_topic(Plan.Started)]  # type: ignore[attr-defined]
        return bool(self.recorder.select_notifications(1, 1, topics=topics))

    def reindex(self) -> int:
        """Write the worklist index from every plan (a store recorded before the index had
        none: an empty index over plans is filled when the application opens the store).
        Returns the number of plans read."""
        count, listed = 0, {}
        for plan in self.plans():
            listed[plan.id] = worklist_partners(plan, self.view_of(plan.id, timeline=False))
            count += 1
            if len(listed) == REINDEX_BATCH:
                self.index.relist(listed)
                listed = {}
        self.index.relist(listed)
        log.info("worklist_index_rebuilt", plans=count)
        return count

    def migrate_views(self) -> int:
        """Write every plan's views from its own stored events: a store recorded before the
        views has them only as the plan's `…Noted` events (`services.integral_plan.legacy`).
        Returns the number of plans read."""
        count, viewed = 0, {}
        for plan in self.plans():
            view = PlanView()
            for recorded in self.repository.event_store.get(plan.id):
                view.source = f"v{recorded.originator_version}"
                if isinstance(recorded, legacy.Noted):
                    legacy.project(recorded, view)
                else:
                    view.decided(recorded)
            viewed[plan.id] = view.changes()
            count += 1
            if len(viewed) == REINDEX_BATCH:
                self.index.review(viewed)
                viewed = {}
        self.index.review(viewed)
        self.reindex()
        log.info("plan_views_migrated", plans=count)
        return count

    def construct_recorder(self) -> ProcessRecorder:
        """The store's process recorder, with the worklist index and the views."""
        module = type(self.factory).__module__
        if module not in RECORDERS:
            raise RuntimeError(f"no plan recorder for {module}")
        if RECORDERS[module] is POPOPlanRecorder:
            return POPOPlanRecorder()
        self.factory.env[self.factory.PROCESS_RECORDER_TOPIC] = get_topic(RECORDERS[module])
        return self.factory.process_recorder()

    @property
    def index(self) -> WorklistIndex:
        return cast(WorklistIndex, self.recorder)

    def new_batch(self) -> PlanBatch:
        return PlanBatch(self.repository, self.index)

    def handle(self, batch: Batch, message: Any) -> None:
        self.apply(message, cast(PlanBatch, batch))

    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        """The child's plan (an erasure reads none: the plan goes)."""
        if isinstance(message, ChildErased):
            return ()
        return (Plan.create_id(message.subject),)

    def apply(self, event: Any, batch: PlanBatch | None = None) -> None:
        """Apply one contract event (a party's plan event, or another domain's) to the plan
        and its views; without `batch`, recorded at once."""
        work = batch or self.new_batch()
        if isinstance(event, ChildErased):
            self.erase(event.subject, work)
            return
        registry = self.registry
        applier = applier_for(event) if registry is None else applier_for(event, registry.role_of)
        if applier is None:
            log.debug("plan_event_ignored", event_type=event.type)
            return
        plan, view = work.plan(event.subject)
        view.source = str(event.id)
        before = len(plan.pending_events)
        applier(plan, view, event)
        for decision in plan.pending_events[before:]:
            view.decided(decision)
        if batch is None:
            self.save(*work.aggregates, **work.recording())

    def erase(self, child: str, batch: Batch | None = None) -> None:
        """Drop the child's plan: its stored events are deleted, not just superseded, and its
        views and index rows go with them."""
        plan_id = Plan.create_id(child)
        if batch is not None:
            batch.forget(plan_id)
        self.index.drop(plan_id)
        self.purge(plan_id)
        log.info("plan_erased", plan_id=str(plan_id))

    # queries

    def _plan(self, child: str) -> Plan:
        try:
            plan: Plan = self.repository.get(Plan.create_id(child))
        except AggregateNotFoundError:
            raise UnknownPlanError("no plan for this child") from None
        return plan

    def view_of(self, plan_id: uuid.UUID, *, timeline: bool = True) -> PlanView:
        """The plan's views (`timeline=False`: without the timeline, for the worklist)."""
        return PlanView(self.index.view_rows(plan_id, timeline=timeline))

    def plan_of(self, child: str) -> dict[str, Any]:
        plan = self._plan(child)
        return plan_view(plan, self.view_of(plan.id))

    def parents_of(self, child: str) -> frozenset[str]:
        """The parents' accounts a school or the municipality linked to the child (current)."""
        return self._plan(child).linked_parents()

    def children_of(self, parent: str) -> list[dict[str, Any]]:
        """The children a school or the municipality linked `parent`'s account to (current
        links only): each child's pseudonym, who recorded the link and when."""
        children = []
        for plan in self.plans(parent):
            for link in plan.links_of(parent):
                on = link.linked_on.isoformat() if link.linked_on else None
                children.append(
                    {"child": plan.child, "recorded_by": link.recorded_by, "linked_on": on}
                )
        return sorted(children, key=lambda c: (c["linked_on"] or "", c["child"]))

    def plans(self, partner: str | None = None) -> Iterator[Plan]:
        """Every plan in the store (erased ones are gone: their events were deleted); with
        `partner`, only those the worklist index lists for it."""
        if partner is not None:
            yield from self._plans_by_id(self.index.plans_of(partner))
            return
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
        yield from self._plans_by_id(sorted(seen))

    def _plans_by_id(self, plan_ids: list[uuid.UUID]) -> Iterator[Plan]:
        for plan_id in plan_ids:
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
        for plan in self.plans(partner):
            view = self.view_of(plan.id, timeline=False)
            for source in WORK_ITEMS:
                items.extend(source.items(plan, view, partner, today, self.rules))
        order = {
            "thuiszitter-escalation": 0,
            "overdue-action": 1,
            "stalled-handover": 2,
            "continuity-gap": 2,
            "new-match": 3,
            "signal-decision": 4,
            "jgz-referral": 4,
            "exemption-renewal": 4,
            "informing-overdue": 4,
            "informing-postponement-ended": 4,
            "due-soon-action": 5,
            "zorgplicht-decision": 6,
            "opp-due": 7,
            "opp-evaluation-overdue": 7,
            "tlv-waiting": 8,
            "opp-consent-pending": 9,
            "objection-decision": 4,
            "dispute-decision": 4,
        }
        items.sort(key=lambda i: (order.get(i["kind"], 9), i["since"], i["child"]))
        return {"partner": partner, "on": today.isoformat(), "items": items}


# Worklist sources: one function per kind of work.


def match_partners(plan: Plan, view: PlanView) -> set[str]:
    return match_parties(view.match)


def new_matches(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    match = view.match
    if match is None or partner not in match_partners(plan, view):
        return []
    if partner in match.get("contacted", []):
        return []  # it made contact with the others: done
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


def action_partners(plan: Plan, view: PlanView) -> set[str]:
    return {p for a in plan.open_actions() for p in (a.actor, a.reports_to)}


def actions_due(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    items = []
    for action in plan.open_actions():
        if partner not in (action.actor, action.reports_to):
            continue
        if action.due_on < today:
            kind = "overdue-action"
        elif action.due_on <= today + timedelta(days=rules.due_soon_days):
            kind = "due-soon-action"
        else:
            continue
        items.append(
            {
                "kind": kind,
                "child": plan.child,
                "since": action.due_on.isoformat(),
                "ref": str(action.action_id),
                "actor": action.actor,
                "reports_to": action.reports_to,
                "days_overdue": max((today - action.due_on).days, 0),
            }
        )
    return items


def _open_handovers(view: PlanView) -> Iterator[tuple[dict[str, Any], set[str]]]:
    """Handovers not delivered or closed, with their sender, receiver, SWV and whom they were
    escalated to."""
    for handover in view.items("handovers"):
        if handover["status"] != "started" or not handover["planned_on"]:
            continue
        concerned = {handover["from"], handover["to"], handover["swv"]}
        concerned |= {e["partner"] for e in handover["escalations"]}
        yield handover, concerned


def handover_partners(plan: Plan, view: PlanView) -> set[str]:
    return {p for _, concerned in _open_handovers(view) for p in concerned if p}


def stalled_handovers(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A handover past its planned date and not delivered or closed, or escalated, for its
    sender, its receiver, its SWV and whom it was escalated to."""
    items = []
    for handover, concerned in _open_handovers(view):
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


def thuiszitter_partners(plan: Plan, view: PlanView) -> set[str]:
    """Whom a thuiszitter without a fitting offer concerns (whom the three-month rule
    notifies, the school, leerplicht); none when there is no such thuiszitter."""
    thuiszitter = view.thuiszitter
    if thuiszitter is None or thuiszitter["ended_on"] or view.offered_since(thuiszitter["since"]):
        return set()
    three_month = view.three_month
    concerned = {thuiszitter["school"]} | {r["leerplicht"] for r in view.items("reports")}
    concerned |= set(three_month["notify"]) if three_month else set()
    return concerned


def thuiszitter_escalations(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """The three-month rule reached, or a thuiszitter registered without a fitting offer, for
    the organisations concerned (whom the rule notifies, the school, leerplicht)."""
    thuiszitter, three_month = view.thuiszitter, view.three_month
    if thuiszitter is None or partner not in thuiszitter_partners(plan, view):
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


# passend onderwijs: the school's decision on an aanmelding, the OPP after a placement and the
# parents' consent on its handelingsdeel, a TLV waiting for a place (docs/domain.md).


def _arrangements(view: PlanView, kind: str) -> list[dict[str, Any]]:
    return [a for a in view.items("arrangements") if a["kind"] == kind]


def _deadline_item(
    plan: Plan, kind: str, item: dict[str, Any], since: str, deadline: str | None, today: date
) -> dict[str, Any]:
    days = (today - date.fromisoformat(deadline)).days if deadline else 0
    return {
        "kind": kind,
        "child": plan.child,
        "since": since,
        "ref": item["ref"],
        "deadline": deadline,
        "days_overdue": max(days, 0),
    }


def passend_partners(plan: Plan, view: PlanView) -> set[str]:
    """The schools with an aanmelding or an OPP on the plan, the SWVs with a TLV."""
    found = {a["details"]["school"] for a in _arrangements(view, "aanmelding-received")}
    found |= {a["by"] for a in _arrangements(view, "opp-drawn-up")}
    return found | {a["by"] for a in _arrangements(view, "tlv-issued")}


def passend_work(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """For a school: an aanmelding it has not decided on (zorgplicht), an OPP due after a
    placement, an OPP whose handelingsdeel the parents have not consented to, an OPP not
    evaluated within a year (until it is revised). For an SWV: a
    TLV with no place at a school yet ("waiting", from its start)."""
    items = []
    opp_schools = {a["by"] for a in _arrangements(view, "opp-drawn-up")}
    for a in _arrangements(view, "aanmelding-received"):
        details = a["details"]
        if details["school"] != partner:
            continue
        if details["status"] == "open":
            deadline = details.get("decide_by")
            items.append(_deadline_item(plan, "zorgplicht-decision", a, a["on"], deadline, today))
        elif details.get("opp_due_on") and partner not in opp_schools:
            since = details.get("placed_on") or a["on"]
            due = details["opp_due_on"]
            items.append(_deadline_item(plan, "opp-due", a, since, due, today))
    for a in _arrangements(view, "opp-drawn-up"):
        if a["by"] != partner:
            continue
        if a["details"].get("handelingsdeel_consent") != "granted":
            items.append(_deadline_item(plan, "opp-consent-pending", a, a["on"], None, today))
        if passed := a["details"].get("opp-evaluation_passed_on"):
            items.append(_deadline_item(plan, "opp-evaluation-overdue", a, passed, passed, today))
    for a in _arrangements(view, "tlv-issued"):
        details, until = a["details"], a["until"]
        if a["by"] != partner or details.get("placed_on") or (until and until < str(today)):
            continue
        waiting = _deadline_item(plan, "tlv-waiting", a, a["on"], None, today)
        waiting["days_waiting"] = max((today - date.fromisoformat(a["on"])).days, 0)
        items.append(waiting)
    return items


def report_partners(plan: Plan, view: PlanView) -> set[str]:
    return {r["leerplicht"] for r in view.items("reports")}


def signal_decisions(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A verzuimmelding is a candidate for a Verwijsindex signal, not a signal: leerplicht
    decides (Jeugdwet art. 7.1.3.1, its judgement), for this many days after the report, until
    it has an active signal about the child (decided)."""
    items: list[dict[str, Any]] = []
    if any(s["partner"] == partner and s["status"] == "active" for s in view.items("signals")):
        return items
    for report in view.items("reports"):
        ended = date.fromisoformat(report["end_on"])
        if report["leerplicht"] != partner or (today - ended).days > rules.signal_decision_days:
            continue
        items.append(
            {
                "kind": "signal-decision",
                "child": plan.child,
                "since": report["end_on"],
                "ref": report["report_id"],
                "school": report["school"],
                "report_kind": report["kind"],
            }
        )
    return items


# Continuity of care across a transition: what runs at the handover's planned date (combined
# arrangements, youth care) and the dossier does not carry.
RUNNING_KINDS = {"arrangement-agreed": "arrangement", "youth-care-decided": "youth-care"}


def _prepared_handovers(view: PlanView) -> Iterator[dict[str, Any]]:
    for handover in view.items("handovers"):
        if "running" in handover and handover["status"] != "closed" and handover["planned_on"]:
            yield handover


def continuity_gaps_of(view: PlanView, handover: dict[str, Any]) -> list[dict[str, Any]]:
    """The support running at the planned date that the dossier does not carry, and the gaps
    the sender declared itself."""
    planned = handover["planned_on"]
    carried = {r["ref"] for r in handover["running"] if r["carried"]}
    gaps = {g["ref"]: {"ref": g["ref"], "kind": g["kind"], "by": None} for g in handover["gaps"]}
    for a in view.items("arrangements"):
        kind = RUNNING_KINDS.get(a["kind"])
        running = kind and a["on"] <= planned and (a["until"] is None or a["until"] >= planned)
        if running and a["ref"] not in carried:
            gaps[a["ref"]] = {"ref": a["ref"], "kind": kind, "by": a["by"]}
    return sorted(gaps.values(), key=lambda g: g["ref"])


def continuity_partners(plan: Plan, view: PlanView) -> set[str]:
    """The sender, the receiver and the SWV of a prepared handover, and who decided the
    running support (any day: the index may name more, never fewer)."""
    found: set[str] = set()
    for handover in _prepared_handovers(view):
        found |= {handover["from"], handover["to"], handover["swv"]}
        found |= {a["by"] for a in view.items("arrangements") if a["kind"] in RUNNING_KINDS}
    return {p for p in found if p}


def continuity_gaps(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    items = []
    for handover in _prepared_handovers(view):
        gaps = continuity_gaps_of(view, handover)
        concerned = {handover["from"], handover["to"], handover["swv"]}
        if not gaps or partner not in concerned | {g["by"] for g in gaps}:
            continue
        items.append(
            {
                "kind": "continuity-gap",
                "child": plan.child,
                "since": handover["prepared_on"],
                "ref": handover["handover_id"],
                "from": handover["from"],
                "to": handover["to"],
                "gaps": [{"ref": g["ref"], "kind": g["kind"]} for g in gaps],
            }
        )
    return items


def referral_partners(plan: Plan, view: PlanView) -> set[str]:
    return {p for r in view.items(JGZ_REFERRALS) for p in (r["school"], r["jgz"])}


def jgz_referrals(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """Long absence the school reported as authorised: the school and the JGZ take it up
    (medische advisering ziek gemelde leerlingen), for this many days after the referral."""
    return [
        {
            "kind": "jgz-referral",
            "child": plan.child,
            "since": r["since"],
            "ref": r["since"],
            "school": r["school"],
            "jgz": r["jgz"],
        }
        for r in view.items(JGZ_REFERRALS)
        if partner in (r["school"], r["jgz"])
        and (today - date.fromisoformat(r["on"])).days <= rules.jgz_referral_days
    ]


def exemption_partners(plan: Plan, view: PlanView) -> set[str]:
    return {e["leerplicht"] for e in view.items(EXEMPTIONS) if e["valid_until"]}


def exemption_renewals(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """An exemption that ends (art. 5 exemptions end with the school year: renewed yearly, Lpw
    art. 6 lid 2 onder b) is on leerplicht's list this many days before, until it ended."""
    items = []
    for e in view.items(EXEMPTIONS):
        until = e["valid_until"]
        if e["leerplicht"] != partner or not until:
            continue
        left = (date.fromisoformat(until) - today).days
        if 0 <= left <= rules.exemption_renewal_days:
            items.append(
                {
                    "kind": "exemption-renewal",
                    "child": plan.child,
                    "since": until,
                    "ref": e["exemption_id"],
                    "article": e["article"],
                    "deadline": until,
                }
            )
    return items


def informing_partners(plan: Plan, view: PlanView) -> set[str]:
    return {
        s["partner"] for s in view.items("signals") if (s.get("informing") or {}).get("audience")
    }


def informing_tasks(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A signaller that has not told the parents and/or the child of its active signal (Jeugdwet
    afdeling 7.1): on its list `informing_days` after the task arose (the signal, or the age
    band that added someone: the child turned 12 or 16), and at once when a postponement it
    recorded ends with them still not told; until it confirms."""
    items = []
    for signal in view.items("signals"):
        task = signal.get("informing") or {}
        if signal["partner"] != partner or signal["status"] != "active" or not task.get("audience"):
            continue
        until = task["postponed_until"]
        if until is not None:
            if date.fromisoformat(until) > today:
                continue
            kind, since, deadline = "informing-postponement-ended", until, until
        else:
            due = date.fromisoformat(task["since"]) + timedelta(days=rules.informing_days)
            if today <= due:
                continue
            kind, since, deadline = "informing-overdue", task["since"], due.isoformat()
        items.append(
            {
                "kind": kind,
                "child": plan.child,
                "since": since,
                "ref": signal["signal_id"],
                "audience": task["audience"],
                "deadline": deadline,
            }
        )
    return items


class WorkSource(NamedTuple):
    """One kind of work: its items for a partner on a day, and whom a plan could list for it
    on any day (what the worklist index keeps: it may name more, never fewer)."""

    items: WorkItems
    concerned: Concerned


def objection_partners(plan: Plan, view: PlanView) -> set[str]:
    return {o.partner for o in plan.objections.values() if o.is_open}


def objection_decisions(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A parent's objection (AVG art. 21) on the list of the organisation objected to until it
    decides, due `objection_decision_days` after it was recorded (AVG art. 12 lid 3)."""
    items = []
    for o in plan.objections.values():
        if o.is_open and o.partner == partner:
            due = o.recorded_on + timedelta(days=rules.objection_decision_days)
            items.append(
                {
                    "kind": "objection-decision",
                    "child": plan.child,
                    "since": o.recorded_on.isoformat(),
                    "ref": str(o.objection_id),
                    "purpose": o.purpose,
                    "deadline": due.isoformat(),
                    "days_overdue": max((today - due).days, 0),
                }
            )
    return items


def _escalated_disputes(view: PlanView) -> Iterator[dict[str, Any]]:
    for arrangement in view.items("arrangements"):
        dispute = arrangement.get("dispute") or {}
        if dispute.get("status") == "dispute-escalated":
            yield dispute


def dispute_partners(plan: Plan, view: PlanView) -> set[str]:
    return {h for d in _escalated_disputes(view) for h in d.get("holders", [])}


def dispute_decisions(
    plan: Plan, view: PlanView, partner: str, today: date, rules: WorklistRules
) -> list[dict[str, Any]]:
    """A funding dispute escalated to the region's holders of doorzettingsmacht, on each
    holder's list until one decides, by the escalation's deadline (seed 004)."""
    items = []
    for dispute in _escalated_disputes(view):
        if partner not in dispute.get("holders", []):
            continue
        deadline = date.fromisoformat(dispute["deadline"])
        items.append(
            {
                "kind": "dispute-decision",
                "child": plan.child,
                "since": dispute["since"],
                "ref": dispute["dispute_id"],
                "raised_by": dispute.get("raised_by"),
                "deadline": deadline.isoformat(),
                "days_overdue": max((today - deadline).days, 0),
            }
        )
    return items


WORK_ITEMS: list[WorkSource] = [
    WorkSource(new_matches, match_partners),
    WorkSource(actions_due, action_partners),
    WorkSource(stalled_handovers, handover_partners),
    WorkSource(thuiszitter_escalations, thuiszitter_partners),
    WorkSource(passend_work, passend_partners),
    WorkSource(signal_decisions, report_partners),
    WorkSource(jgz_referrals, referral_partners),
    WorkSource(exemption_renewals, exemption_partners),
    WorkSource(continuity_gaps, continuity_partners),
    WorkSource(informing_tasks, informing_partners),
    WorkSource(objection_decisions, objection_partners),
    WorkSource(dispute_decisions, dispute_partners),
]


def worklist_partners(plan: Plan, view: PlanView) -> set[str]:
    """Every partner a worklist source could list this plan for, on any day, and the parents
    linked to the child (their list of children reads the same index)."""
    concerned = {p for source in WORK_ITEMS for p in source.concerned(plan, view) if p}
    return concerned | plan.linked_parents()

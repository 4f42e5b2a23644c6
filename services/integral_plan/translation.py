"""Translation between contract events and the plan: one small function per contract type.

The handover and arrangements services relay under their own `source`: who did something is
taken from the event's data, never from `source` (the truancy service keeps the partner's).

- `@projects(Contract)`: another domain's recorded event, noted in the child's plan views
  (signals, matches, handovers, arrangements, attendance: a domain adds an event here with one
  function, its consumer in streams.py and one entry in `handlers.FEEDS`). Only clear fields are
  noted; sealed sections stay tokens bound to the event id. The organisations the event gives a
  relation with the child (`relation_changes`, what kluis records) join the plan itself as
  parties, and regie from the arrangements domain holds on it: the plan's rules depend on them.
- `PLAN_COMMANDS`: a party's inbound plan event, a command on the plan with the contract's data
  as it is, checked by the plan's rules (its timeline entry follows from the event the plan
  records: `PlanView.decided`).
- `to_contract`: the plan's own recorded events, as the outbound `ketenbus.plan.*` contracts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ketenbus_contracts import arrangements as arr
from ketenbus_contracts import handover as ho
from ketenbus_contracts import truancy as tr
from ketenbus_contracts.envelope import CloudEvent, ContractModel, EventData
from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionDone,
    AgreementMade,
    GoalSet,
    ObjectionDecided,
    ObjectionRecorded,
    ParentLinked,
    ParentUnlinked,
    PartyJoined,
    PartyLeft,
    RegieAssigned,
)
from ketenbus_contracts.signalling import (
    ContactMade,
    CoordinatorAssigned,
    InformingDue,
    MatchContact,
    MatchEnded,
    MatchFound,
    SignalRegistered,
    SignalWithdrawn,
)
from services.integral_plan.config import (
    handover_rules,
    parent_link_rule,
    partner_role,
    projection_rules,
)
from services.integral_plan.domain import ENROLMENT, Act, Plan
from services.integral_plan.views import ARRANGEMENTS, PlanView
from services.runtime.outbound import Outbound

SOURCE = "ketenbus.integral-plan"

E = TypeVar("E", bound=CloudEvent[Any])
Apply = Callable[[Plan, PlanView, Any], None]

PROJECTIONS: dict[type[CloudEvent[Any]], Apply] = {}


def projects(
    contract: type[E],
) -> Callable[[Callable[[Plan, PlanView, E], None]], Callable[[Plan, PlanView, E], None]]:
    def register(func: Callable[[Plan, PlanView, E], None]) -> Callable[[Plan, PlanView, E], None]:
        PROJECTIONS[contract] = func
        return func

    return register


def _sealed(data: EventData) -> dict[str, str]:
    return {purpose.value: token for purpose, token in data.sealed.items()}


# other domains' events, noted in the plan's views


@projects(SignalRegistered)
def _signal_registered(plan: Plan, view: PlanView, event: SignalRegistered) -> None:
    d = event.data
    signaller = d.signaller.model_dump()
    plan.involve_signaller(signaller, d.registered_on)
    view.note_signal(d.signal_id, signaller, d.registered_on, event.id, _sealed(d))


@projects(InformingDue)
def _informing_due(plan: Plan, view: PlanView, event: InformingDue) -> None:
    d = event.data
    view.note_informing(d.signal_id, list(d.audience), d.since, d.postponed_until)


@projects(SignalWithdrawn)
def _signal_withdrawn(plan: Plan, view: PlanView, event: SignalWithdrawn) -> None:
    view.note_withdrawal(event.data.signal_id, event.data.withdrawn_on, event.data.reason)


@projects(MatchFound)
def _match_found(plan: Plan, view: PlanView, event: MatchFound) -> None:
    """Who signalled and how to reach them (a match noted before it named contacts: the
    signals' own), the coordinator; a match carries no concern to note."""
    d = event.data
    contacts = d.contacts or [
        MatchContact(partner=s.partner, role=s.role, contact=s.contact) for s in d.signallers
    ]
    view.note_match(
        d.match_id,
        list(d.signal_ids),
        [s.partner for s in d.signallers],
        d.found_at,
        [c.model_dump(exclude_defaults=True) for c in contacts],
        d.coordinator.model_dump() if d.coordinator else None,
        d.municipal_coordinator,
    )


@projects(ContactMade)
def _contact_made(plan: Plan, view: PlanView, event: ContactMade) -> None:
    view.note_match_contact(event.data.match_id, event.data.partner, event.data.contacted_on)


@projects(MatchEnded)
def _match_ended(plan: Plan, view: PlanView, event: MatchEnded) -> None:
    view.note_match_ended(event.data.match_id, event.data.ended_on)


@projects(CoordinatorAssigned)
def _coordinator_assigned(plan: Plan, view: PlanView, event: CoordinatorAssigned) -> None:
    """The match coordinator holds the plan's integral regie (1 gezin, 1 plan, 1 regisseur)
    unless the parties decided otherwise: a regie they assigned stays; one the coordinator
    held before passes to the new one."""
    d = event.data
    view.note_match_coordinator(d.match_id, d.coordinator.model_dump())
    domain = projection_rules().regie_domains.get("match", "integraal")
    current = plan.regie.get(domain)
    if current is None or (d.previous is not None and current.regisseur == d.previous):
        since = d.assigned_at.date()
        if plan.record_regie(domain, d.coordinator.partner, since):
            view.note_regie(domain, d.coordinator.partner, since, "coordinator-regie")


Known = dict[str, dict[str, str]]


def _named(*parties: arr.Party) -> Known:
    """Organisations an event names with their role and contact (the first naming counts)."""
    named: Known = {}
    for p in parties:
        named.setdefault(p.partner, {"role": p.role, "contact": p.contact})
    return named


def _parties(
    event: CloudEvent[Any], known: Known | None = None, as_: str = ""
) -> list[dict[str, str]]:
    """The organisations `event` gives a relation with the child, as parties of the plan.

    Role and contact from the event where it names them (`known`), otherwise the role of the
    relation's basis (`as_` names another key) from `infra/integral_plan/projection.yaml`.
    """
    roles = projection_rules().roles
    parties: dict[str, dict[str, str]] = {}
    for change in event.relation_changes():
        if not change.active or change.partner is None or change.partner in parties:
            continue
        named = (known or {}).get(change.partner, {})
        parties[change.partner] = {
            "partner": change.partner,
            "role": named.get("role") or roles.get(as_ or change.basis, change.basis),
            "contact": named.get("contact", ""),
            "basis": change.basis,
        }
    return list(parties.values())


def _clear(model: ContractModel, *fields: str) -> dict[str, Any]:
    """Named clear fields of an event's data, JSON-ready (dates as ISO strings)."""
    dumped = model.model_dump(mode="json", include=set(fields))
    return {name: dumped[name] for name in fields if dumped.get(name) is not None}


# handover


@projects(ho.HandoverStarted)
def _handover_started(plan: Plan, view: PlanView, event: ho.HandoverStarted) -> None:
    d = event.data
    started_on = event.time.date()
    # The sender by its own basis; the school an automatic handover names by its aanmelding.
    sender = {d.sender.partner: {"contact": d.sender.contact}}
    plan.involve(_parties(event, sender), started_on)
    basis = handover_rules().basis(d.transition)
    ground = {
        "basis": basis.basis,
        "basis_source": basis.source,
        "automatic": d.automatic,
        "pupil_decides": d.pupil_decides,
    }
    view.note_handover_started(
        d.handover_id,
        d.transition,
        d.sender.partner,
        d.receiver,
        d.swv,
        d.planned_on,
        started_on,
        event.id,
        _sealed(d),
        ground,
    )


@projects(ho.DossierDelivered)
def _dossier_delivered(plan: Plan, view: PlanView, event: ho.DossierDelivered) -> None:
    d = event.data
    parties = _parties(event, as_="handover-receiver")
    plan.involve(parties, d.delivered_on)
    view.note_handover_step(
        d.handover_id, "dossier-delivered", d.delivered_on, d.sender, parties, d.parents_copy_on
    )


@projects(ho.DossierRequested)
def _dossier_requested(plan: Plan, view: PlanView, event: ho.DossierRequested) -> None:
    d = event.data
    view.note_dossier_requested(d.handover_id, d.receiver.partner, d.requested_on)


@projects(ho.WarmConversationHeld)
def _warm_conversation_held(plan: Plan, view: PlanView, event: ho.WarmConversationHeld) -> None:
    d = event.data
    step = "warm-conversation-held"
    view.note_handover_step(d.handover_id, step, d.held_on, d.participants[0].partner, [])


@projects(ho.HandoverClosed)
def _handover_closed(plan: Plan, view: PlanView, event: ho.HandoverClosed) -> None:
    d = event.data
    view.note_handover_step(d.handover_id, "closed", d.closed_on, "", [])


@projects(ho.DossierPreparedInfo)
def _dossier_prepared(plan: Plan, view: PlanView, event: ho.DossierPreparedInfo) -> None:
    d = event.data
    running = [r.model_dump(mode="json") for r in d.running]
    view.note_dossier_prepared(d.handover_id, running, event.time.date())


@projects(ho.DossierPreparedInfoV2)
def _dossier_prepared_v2(plan: Plan, view: PlanView, event: ho.DossierPreparedInfoV2) -> None:
    # The sections stay sealed: only a linked parent's view keeps them (query.parents_view).
    d = event.data
    running = [r.model_dump(mode="json") for r in d.running]
    dossier = [s.model_dump(mode="json") for s in d.sections]
    view.note_dossier_prepared(d.handover_id, running, event.time.date(), dossier)


@projects(ho.ParentsViewed)
def _parents_viewed(plan: Plan, view: PlanView, event: ho.ParentsViewed) -> None:
    d = event.data
    view.note_handover_facts(d.handover_id, parents_viewed_on=d.viewed_on.isoformat())


@projects(ho.ConsentRecorded)
def _consent_recorded(plan: Plan, view: PlanView, event: ho.ConsentRecorded) -> None:
    d = event.data
    consent = {
        "status": "granted" if d.granted else "refused",
        "given_by": d.given_by,
        "on": d.recorded_on.isoformat(),
    }
    view.note_handover_facts(d.handover_id, consent=consent)


@projects(ho.ConsentWithdrawn)
def _consent_withdrawn(plan: Plan, view: PlanView, event: ho.ConsentWithdrawn) -> None:
    d = event.data
    consent = {"status": "withdrawn", "given_by": d.given_by, "on": d.withdrawn_on.isoformat()}
    view.note_handover_facts(d.handover_id, consent=consent)


@projects(ho.ContinuityGapFound)
def _continuity_gap_found(plan: Plan, view: PlanView, event: ho.ContinuityGapFound) -> None:
    d = event.data
    gaps = [{"ref": g.ref, "kind": g.kind} for g in d.gaps]
    view.note_continuity_gap(d.handover_id, gaps, d.found_on)


@projects(ho.HandoverEscalated)
def _handover_escalated(plan: Plan, view: PlanView, event: ho.HandoverEscalated) -> None:
    d = event.data
    view.note_handover_escalation(
        d.handover_id, d.level, d.to, d.partner, d.planned_on, d.escalated_at
    )


# arrangements


def _arrangement(
    plan: Plan,
    view: PlanView,
    event: CloudEvent[Any],
    by: str,
    ref: uuid.UUID,
    on: Any,
    until: Any,
    details: dict[str, Any],
    known: Known | None = None,
) -> None:
    parties = _parties(event, known)
    plan.involve(parties, on)
    kind = type(event).name
    view.note_arrangement(ref, kind, on, until, by, details, parties, event.id, _sealed(event.data))


def _regie(
    plan: Plan,
    view: PlanView,
    event: CloudEvent[Any],
    domain: str,
    regie: arr.Party,
    since: Any,
) -> None:
    mapped = projection_rules().regie_domains.get(domain, domain)
    parties = [p for p in _parties(event, _named(regie)) if p["partner"] == regie.partner]
    plan.involve(parties, since)
    if plan.record_regie(mapped, regie.partner, since):
        view.note_regie(mapped, regie.partner, since)


@projects(arr.SupportRequested)
def _support_requested(plan: Plan, view: PlanView, event: arr.SupportRequested) -> None:
    d = event.data
    details = _clear(d, "kind", "swv")
    by, on = d.school.partner, d.requested_on
    _arrangement(plan, view, event, by, d.request_id, on, None, details, _named(d.school))


@projects(arr.TlvIssued)
def _tlv_issued(plan: Plan, view: PlanView, event: arr.TlvIssued) -> None:
    d = event.data
    details = _clear(d, "categorie", "school") | {
        "expert_opinions": [o.discipline for o in d.expert_opinions]
    }
    by, known = d.swv.partner, _named(d.swv)
    _arrangement(plan, view, event, by, d.tlv_id, d.start_on, d.end_on, details, known)


@projects(arr.OppDrawnUp)
def _opp_drawn_up(plan: Plan, view: PlanView, event: arr.OppDrawnUp) -> None:
    d = event.data
    details = _clear(
        d, "school", "review_dates", "parents_consulted_on", "handelingsdeel_consent"
    ) | {"regie": d.regie.partner}
    known = _named(d.regie)
    _arrangement(plan, view, event, d.school, d.opp_id, d.drawn_up_on, None, details, known)
    _regie(plan, view, event, "opp", d.regie, d.drawn_up_on)


@projects(arr.YouthCareDecided)
def _youth_care_decided(plan: Plan, view: PlanView, event: arr.YouthCareDecided) -> None:
    d = event.data
    known = _named(d.regie, d.provider, d.access_team)
    details = {
        "access_team": d.access_team.partner,
        "provider": d.provider.partner,
        "regie": d.regie.partner,
    }
    by, ref = d.access_team.partner, d.decision_id
    _arrangement(plan, view, event, by, ref, d.start_on, d.end_on, details, known)
    _regie(plan, view, event, "youth_care", d.regie, d.start_on)


@projects(arr.ArrangementAgreed)
def _arrangement_agreed(plan: Plan, view: PlanView, event: arr.ArrangementAgreed) -> None:
    d = event.data
    details = _clear(d, "kind", "region", "funding", "funding_basis")
    by, ref, known = d.parties[0].partner, d.arrangement_id, _named(*d.parties)
    _arrangement(plan, view, event, by, ref, d.start_on, d.end_on, details, known)


@projects(arr.ReducedTeachingTimeRequested)
def _reduced_teaching_time(
    plan: Plan, view: PlanView, event: arr.ReducedTeachingTimeRequested
) -> None:
    d = event.data
    details = _clear(d, "school", "opp_id", "hours_per_week", "back_to_full_time")
    _arrangement(plan, view, event, d.school, d.request_id, d.start_on, d.end_on, details)


@projects(arr.HandelingsdeelConsented)
def _handelingsdeel_consented(
    plan: Plan, view: PlanView, event: arr.HandelingsdeelConsented
) -> None:
    d = event.data
    consent = {"handelingsdeel_consent": "granted" if d.granted else "refused"}
    view.note_arrangement_step(d.opp_id, type(event).name, d.answered_on, d.school, consent)


@projects(arr.AanmeldingReceived)
def _aanmelding_received(plan: Plan, view: PlanView, event: arr.AanmeldingReceived) -> None:
    d = event.data
    details = _clear(d, "extra_support", "tlv_id", "decide_by") | {
        "school": d.school.partner,
        "status": "open",
    }
    by, known = d.school.partner, _named(d.school)
    _arrangement(plan, view, event, by, d.aanmelding_id, d.received_on, None, details, known)


@projects(arr.DecisionPeriodExtended)
def _decision_period_extended(
    plan: Plan, view: PlanView, event: arr.DecisionPeriodExtended
) -> None:
    d = event.data
    details = _clear(d, "extended_on", "decide_by")
    view.note_arrangement_step(d.aanmelding_id, type(event).name, d.extended_on, d.school, details)


@projects(arr.PlacementDecided)
def _placement_decided(plan: Plan, view: PlanView, event: arr.PlacementDecided) -> None:
    d = event.data
    details = _clear(d, "decided_on", "placed_on", "other_school", "opp_due_on") | {
        "status": "placed" if d.placed else "not-placed"
    }
    view.note_arrangement_step(d.aanmelding_id, type(event).name, d.decided_on, d.school, details)
    aanmelding = next(
        (a for a in view.items(ARRANGEMENTS) if a["ref"] == str(d.aanmelding_id)), None
    )
    tlv_id = aanmelding["details"].get("tlv_id") if aanmelding else None
    if d.placed and d.placed_on is not None and tlv_id:
        placed = {"placed_on": d.placed_on.isoformat(), "placed_at": d.school}
        view.note_arrangement_step(uuid.UUID(tlv_id), "tlv-placed", d.placed_on, d.school, placed)


@projects(arr.DeadlinePassed)
def _deadline_passed(plan: Plan, view: PlanView, event: arr.DeadlinePassed) -> None:
    d = event.data
    # On the item until it is done: a decision, an OPP drawn up, an OPP revised (a new OPP
    # version replaces the item's details).
    passed = {f"{d.about}_passed_on": d.deadline.isoformat()}
    view.note_arrangement_step(
        d.ref_id, f"{d.about}-deadline-passed", d.deadline, ", ".join(d.to), passed
    )


@projects(arr.FundingDisputed)
def _funding_disputed(plan: Plan, view: PlanView, event: arr.FundingDisputed) -> None:
    d = event.data
    details = _clear(d, "raised_by", "proposed")
    view.note_dispute(
        d.arrangement_id, d.dispute_id, "funding-disputed", d.raised_on, d.raised_by, details
    )


@projects(arr.DisputeEscalated)
def _dispute_escalated(plan: Plan, view: PlanView, event: arr.DisputeEscalated) -> None:
    d = event.data
    # The holders join the plan to decide (their relation opens no sealed section).
    plan.involve(_parties(event), d.escalated_on)
    details = {"deadline": d.deadline.isoformat(), "holders": [h.partner for h in d.holders]}
    by = ", ".join(h.partner for h in d.holders)
    view.note_dispute(
        d.arrangement_id, d.dispute_id, "dispute-escalated", d.escalated_on, by, details
    )


@projects(arr.DisputeDecided)
def _dispute_decided(plan: Plan, view: PlanView, event: arr.DisputeDecided) -> None:
    d = event.data
    details = _clear(d, "decided_by", "funding")
    view.note_dispute(
        d.arrangement_id, d.dispute_id, "dispute-decided", d.decided_on, d.decided_by, details
    )


@projects(arr.RegieChanged)
def _regie_changed(plan: Plan, view: PlanView, event: arr.RegieChanged) -> None:
    d = event.data
    _regie(plan, view, event, d.domain, d.regie, d.changed_on)


# truancy (attendance)


@projects(tr.PupilEnrolled)
def _pupil_enrolled(plan: Plan, view: PlanView, event: tr.PupilEnrolled) -> None:
    d = event.data
    plan.involve(_parties(event), d.enrolled_on)
    view.note_enrolment(d.school, d.brin, True, d.enrolled_on, event.id, _sealed(d))


@projects(tr.PupilDeEnrolled)
def _pupil_de_enrolled(plan: Plan, view: PlanView, event: tr.PupilDeEnrolled) -> None:
    d = event.data
    plan.end_basis(d.school, ENROLMENT, d.de_enrolled_on)
    view.note_enrolment(d.school, d.brin, False, d.de_enrolled_on, event.id, _sealed(d))


@projects(tr.VerzuimReportDue)
def _verzuim_report_due(plan: Plan, view: PlanView, event: tr.VerzuimReportDue) -> None:
    d = event.data
    plan.involve(_parties(event), d.end_on)
    view.note_verzuim_report(
        d.report_id, d.school, d.leerplicht, d.kind, d.begin_on, d.end_on, event.id, _sealed(d)
    )


@projects(tr.ReportAnswered)
def _report_answered(plan: Plan, view: PlanView, event: tr.ReportAnswered) -> None:
    d = event.data
    view.note_report_answered(d.report_id, d.status, d.answered_on, d.closed_reason)


@projects(tr.ThuiszitterRegistered)
def _thuiszitter_registered(plan: Plan, view: PlanView, event: tr.ThuiszitterRegistered) -> None:
    d = event.data
    view.note_thuiszitter(True, d.category, d.since, d.school, None)


@projects(tr.ThuiszitterEnded)
def _thuiszitter_ended(plan: Plan, view: PlanView, event: tr.ThuiszitterEnded) -> None:
    d = event.data
    view.note_thuiszitter(False, d.category, d.ended_on, None, d.reason)


@projects(tr.ThreeMonthRuleReached)
def _three_month_rule_reached(plan: Plan, view: PlanView, event: tr.ThreeMonthRuleReached) -> None:
    d = event.data
    view.note_three_month_rule(
        d.stage, d.since, d.days_at_home, d.deadline, list(d.notify), event.time.date()
    )


@projects(tr.ResidentRegistered)
def _resident_registered(plan: Plan, view: PlanView, event: tr.ResidentRegistered) -> None:
    """Where the child lives: the leerplicht of that municipality grants its exemptions."""
    d = event.data
    view.note_residence(d.municipality, d.region, d.registered_on)


@projects(tr.ExemptionGranted)
def _exemption_granted(plan: Plan, view: PlanView, event: tr.ExemptionGranted) -> None:
    d = event.data
    view.note_exemption(
        d.exemption_id, d.leerplicht, d.article, d.valid_from, d.valid_until, event.id, _sealed(d)
    )


@projects(tr.ExemptionGrantedV2)
def _exemption_granted_v2(plan: Plan, view: PlanView, event: tr.ExemptionGrantedV2) -> None:
    d = event.data
    view.note_exemption(
        d.exemption_id, d.leerplicht, d.article, d.valid_from, d.valid_until, event.id, _sealed(d)
    )


@projects(tr.IntegralMeetingDue)
def _integral_meeting_due(plan: Plan, view: PlanView, event: tr.IntegralMeetingDue) -> None:
    """On the worklists of the local integral meeting's members, as a stage of the rule."""
    d = event.data
    view.note_three_month_rule(
        "integral-meeting", d.since, d.days_at_home, d.deadline, list(d.notify), event.time.date()
    )


@projects(tr.OfferMade)
def _offer_made(plan: Plan, view: PlanView, event: tr.OfferMade) -> None:
    d = event.data
    view.note_offer(d.offer_id, d.by, d.offered_on, event.id, _sealed(d))


@projects(tr.JgzReferralDue)
def _jgz_referral_due(plan: Plan, view: PlanView, event: tr.JgzReferralDue) -> None:
    d = event.data
    view.note_jgz_referral(d.school, d.jgz, d.since, event.time.date())


@projects(tr.ThuiszitterDecisionRecorded)
def _thuiszitter_decision(
    plan: Plan, view: PlanView, event: tr.ThuiszitterDecisionRecorded
) -> None:
    d = event.data
    view.note_thuiszitter_decision(d.by, d.forum, d.decided_on)


@projects(tr.OfferFailed)
def _offer_failed(plan: Plan, view: PlanView, event: tr.OfferFailed) -> None:
    """A failed offer no longer keeps the thuiszitter off the worklists."""
    d = event.data
    view.note_offer_failed(d.offer_id, d.failed_on)


# the parties' plan events (the publisher is `event.source`): each a command on the plan, with
# the contract's data as it is
PLAN_COMMANDS: dict[type[CloudEvent[Any]], Callable[[Plan, Any, Act], None]] = {
    PartyJoined: Plan.join,
    PartyLeft: Plan.leave,
    RegieAssigned: Plan.assign_regie,
    GoalSet: Plan.set_goal,
    AgreementMade: Plan.make_agreement,
    ActionAgreed: Plan.agree_action,
    ActionDone: Plan.complete_action,
    ParentLinked: Plan.link_parent,
    ParentUnlinked: Plan.unlink_parent,
    ObjectionRecorded: Plan.record_objection,
    ObjectionDecided: Plan.decide_objection,
}


def act_of(event: CloudEvent[Any], role_of: Callable[[str], str | None]) -> Act:
    """Who acts on the plan by publishing `event` (`role_of`: a partner's registered role)."""
    role = role_of(event.source)
    linked = role_of(event.data.parent) if isinstance(event, ParentLinked) else None
    return Act(event.source, role, event.id, _sealed(event.data), parent_link_rule(), linked)


def applier_for(
    event: CloudEvent[Any], role_of: Callable[[str], str | None] = partner_role
) -> Apply | None:
    """How `event` changes a plan and its views (None: the plan does not take it); `role_of`
    is the service's partner registry's (the registry read on first use without one)."""
    command = PLAN_COMMANDS.get(type(event))
    if command is not None:
        return lambda plan, view, e: command(plan, e.data, act_of(e, role_of))
    return PROJECTIONS.get(type(event))


# outbound


to_contract = Outbound(
    SOURCE,
    {
        Plan.PartyJoined: PartyJoined,
        Plan.PartyLeft: PartyLeft,
        Plan.RegieAssigned: RegieAssigned,
        Plan.ParentLinked: ParentLinked,
        Plan.ParentUnlinked: ParentUnlinked,
        Plan.ObjectionRecorded: ObjectionRecorded,
        Plan.ObjectionDecided: ObjectionDecided,
        Plan.GoalSet: GoalSet,
        Plan.AgreementMade: AgreementMade,
        Plan.ActionAgreed: ActionAgreed,
        Plan.ActionDone: ActionDone,
    },
)
"""The outbound contract for one of the plan's own recorded events (None: not published): under
the partner's event id (the sealed sections are bound to it) and source `ketenbus.integral-plan`;
other domains' events the plan projects are not re-published."""

"""Translation between arrangements' contract events and its domain events.

Inbound contracts become commands on the child's arrangements (the publishing partner and its
registered role are what entitlement is checked against); recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.arrangements.*`.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from ketenbus_contracts.arrangements import (
    ArrangementAgreed,
    ArrangementAgreedData,
    DisputeDeadlinePassed,
    DisputeDeadlinePassedData,
    DisputeDecided,
    DisputeDecidedData,
    DisputeEscalated,
    DisputeEscalatedData,
    FundingDisputed,
    FundingDisputedData,
    FundingShare,
    Holder,
    OppDrawnUp,
    OppDrawnUpData,
    Party,
    ReducedTeachingTimeRequested,
    ReducedTeachingTimeRequestedData,
    RegieChanged,
    RegieChangedData,
    ReminderDue,
    ReminderDueData,
    ScheduleStep,
    SupportRequested,
    SupportRequestedData,
    TlvIssued,
    TlvIssuedData,
    YouthCareDecided,
    YouthCareDecidedData,
)
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from services.arrangements.application import ArrangementsApplication
from services.arrangements.domain import ChildArrangements
from services.runtime.store import Batch

SOURCE = "ketenbus.arrangements"

Inbound = (
    SupportRequested
    | TlvIssued
    | OppDrawnUp
    | YouthCareDecided
    | ArrangementAgreed
    | FundingDisputed
    | DisputeDecided
    | ReducedTeachingTimeRequested
    | RegieChanged
)


def _sealed(event: CloudEvent[Any]) -> dict[str, str]:
    return {purpose.value: token for purpose, token in event.data.sealed.items()}


def _split(shares: list[FundingShare] | None) -> list[dict[str, Any]] | None:
    return None if shares is None else [s.model_dump() for s in shares]


def apply_inbound(app: ArrangementsApplication, event: Inbound, batch: Batch) -> None:
    """Turn an inbound partner event into the command it asks for."""
    child = app.arrangements(batch, event.subject)
    rules, today, source = app.rules, app.today(), event.source
    common: dict[str, Any] = {"source": source, "event_id": event.id, "sealed": _sealed(event)}
    role = rules.role_of(source)
    if isinstance(event, SupportRequested):
        d = event.data
        child.request_support(
            role=role, request_id=d.request_id, school=d.school.model_dump(), swv=d.swv,
            requested_on=d.requested_on, kind=d.kind, today=today, rules=rules, **common,
        )  # fmt: skip
    elif isinstance(event, TlvIssued):
        t = event.data
        child.issue_tlv(
            role=role, tlv_id=t.tlv_id, beschikkingsnummer=t.beschikkingsnummer,
            swv_number=t.swv_number, categorie=t.categorie, start_on=t.start_on,
            end_on=t.end_on, swv=t.swv.model_dump(), school=t.school, request_id=t.request_id,
            rules=rules, **common,
        )  # fmt: skip
    elif isinstance(event, OppDrawnUp):
        o = event.data
        child.draw_up_opp(
            role=role, opp_id=o.opp_id, school=o.school, regie=o.regie.model_dump(),
            drawn_up_on=o.drawn_up_on, review_dates=list(o.review_dates), today=today,
            rules=rules, **common,
        )  # fmt: skip
    elif isinstance(event, YouthCareDecided):
        y = event.data
        child.decide_youth_care(
            role=role, decision_id=y.decision_id, beschikkingsnummer=y.beschikkingsnummer,
            access_team=y.access_team.model_dump(), provider=y.provider.model_dump(),
            start_on=y.start_on, end_on=y.end_on, regie=y.regie.model_dump(), rules=rules,
            **common,
        )  # fmt: skip
    elif isinstance(event, ArrangementAgreed):
        a = event.data
        child.agree_arrangement(
            role=role, arrangement_id=a.arrangement_id, kind=a.kind, region=a.region,
            parties=[p.model_dump() for p in a.parties], start_on=a.start_on, end_on=a.end_on,
            funding=_split(a.funding), rules=rules, **common,
        )  # fmt: skip
    elif isinstance(event, FundingDisputed):
        f = event.data
        child.dispute_funding(
            role=role, dispute_id=f.dispute_id, arrangement_id=f.arrangement_id,
            raised_by=f.raised_by, raised_on=f.raised_on, proposed=_split(f.proposed),
            today=today, rules=rules, **common,
        )  # fmt: skip
    elif isinstance(event, DisputeDecided):
        c = event.data
        child.decide_dispute(
            dispute_id=c.dispute_id, arrangement_id=c.arrangement_id, decided_by=c.decided_by,
            decided_on=c.decided_on, funding=cast(list[dict[str, Any]], _split(c.funding)),
            today=today, **common,
        )  # fmt: skip
    elif isinstance(event, ReducedTeachingTimeRequested):
        v = event.data
        child.request_reduced_teaching_time(
            role=role, request_id=v.request_id, school=v.school, opp_id=v.opp_id,
            requested_on=v.requested_on, hours_per_week=v.hours_per_week, start_on=v.start_on,
            end_on=v.end_on, back_to_full_time=[s.model_dump() for s in v.back_to_full_time],
            earlier_request=v.earlier_request, today=today, rules=rules, **common,
        )  # fmt: skip
    else:
        r = event.data
        child.change_regie(
            source=source, role=role, domain=r.domain, ref_id=r.ref_id,
            regie=r.regie.model_dump(), changed_on=r.changed_on, today=today, rules=rules,
            event_id=event.id,
        )  # fmt: skip


def _purposes(sealed: dict[Purpose, str]) -> dict[str, Any]:
    return {"purposes": sorted(sealed)} if sealed else {}


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract event for a recorded domain event (None: not published)."""
    e = domain_event
    common: dict[str, Any] = {"id": event_id, "source": SOURCE, "time": e.timestamp}
    sealed = {Purpose(p): t for p, t in getattr(e, "sealed", {}).items()}
    # A partner's decision goes out under the partner's event id: its sealed sections are
    # bound to it.
    partner = common | {"id": e.event_id} | _purposes(sealed) if hasattr(e, "event_id") else {}
    C = ChildArrangements
    if isinstance(e, C.SupportRequested):
        return SupportRequested.create(
            subject=e.child,
            data=SupportRequestedData(
                request_id=e.request_id, school=Party(**e.school), swv=e.swv,
                requested_on=e.requested_on, kind=e.kind, sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.TlvIssued):
        return TlvIssued.create(
            subject=e.child,
            data=TlvIssuedData(
                tlv_id=e.tlv_id, beschikkingsnummer=e.beschikkingsnummer,
                swv_number=e.swv_number, categorie=cast(Any, e.categorie), start_on=e.start_on,
                end_on=e.end_on, swv=Party(**e.swv), school=e.school, request_id=e.request_id,
                sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.OppDrawnUp):
        return OppDrawnUp.create(
            subject=e.child,
            data=OppDrawnUpData(
                opp_id=e.opp_id, school=e.school, regie=Party(**e.regie),
                drawn_up_on=e.drawn_up_on, review_dates=e.review_dates, sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.YouthCareDecided):
        return YouthCareDecided.create(
            subject=e.child,
            data=YouthCareDecidedData(
                decision_id=e.decision_id, beschikkingsnummer=e.beschikkingsnummer,
                access_team=Party(**e.access_team), provider=Party(**e.provider),
                start_on=e.start_on, end_on=e.end_on, regie=Party(**e.regie), sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.ArrangementAgreed):
        return ArrangementAgreed.create(
            subject=e.child,
            data=ArrangementAgreedData(
                arrangement_id=e.arrangement_id, kind=e.kind, region=e.region,
                parties=[Party(**p) for p in e.parties], start_on=e.start_on, end_on=e.end_on,
                funding=[FundingShare(**s) for s in e.funding],
                funding_basis=cast(Any, e.funding_basis), sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.FundingDisputed):
        return FundingDisputed.create(
            subject=e.child,
            data=FundingDisputedData(
                dispute_id=e.dispute_id, arrangement_id=e.arrangement_id,
                raised_by=e.raised_by, raised_on=e.raised_on,
                proposed=None if e.proposed is None else [FundingShare(**s) for s in e.proposed],
                sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.DisputeEscalated):
        return DisputeEscalated.create(
            subject=e.child,
            data=DisputeEscalatedData(
                dispute_id=e.dispute_id, arrangement_id=e.arrangement_id, region=e.region,
                holders=[Holder(**h) for h in e.holders], escalated_on=e.escalated_on,
                deadline=e.deadline,
            ),
            **common,
        )  # fmt: skip
    if isinstance(e, C.DisputeDecided):
        return DisputeDecided.create(
            subject=e.child,
            data=DisputeDecidedData(
                dispute_id=e.dispute_id, arrangement_id=e.arrangement_id,
                decided_by=e.decided_by, decided_on=e.decided_on,
                funding=[FundingShare(**s) for s in e.funding], sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.DisputeDeadlinePassed):
        return DisputeDeadlinePassed.create(
            subject=e.child,
            data=DisputeDeadlinePassedData(
                dispute_id=e.dispute_id, arrangement_id=e.arrangement_id, deadline=e.deadline,
                holders=[Holder(**h) for h in e.holders],
            ),
            **common,
        )  # fmt: skip
    if isinstance(e, C.ReducedTeachingTimeRequested):
        return ReducedTeachingTimeRequested.create(
            subject=e.child,
            data=ReducedTeachingTimeRequestedData(
                request_id=e.request_id, school=e.school, opp_id=e.opp_id,
                requested_on=e.requested_on, hours_per_week=e.hours_per_week,
                start_on=e.start_on, end_on=e.end_on,
                back_to_full_time=[ScheduleStep(**s) for s in e.back_to_full_time],
                earlier_request=e.earlier_request, sealed=sealed,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.RegieChanged):
        return RegieChanged.create(
            subject=e.child,
            data=RegieChangedData(
                domain=cast(Any, e.domain), ref_id=e.ref_id, regie=Party(**e.regie),
                changed_on=e.changed_on,
            ),
            **partner,
        )  # fmt: skip
    if isinstance(e, C.ReminderDue):
        return ReminderDue.create(
            subject=e.child,
            data=ReminderDueData(about=cast(Any, e.about), ref_id=e.ref_id, due_on=e.due_on,
                                 to=e.to),
            **common,
        )  # fmt: skip
    return None

"""Translation between arrangements' contract events and its domain events.

Inbound contracts become commands on the child's arrangements (the publishing partner and its
registered role are what entitlement is checked against); recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.arrangements.*`.
"""

from __future__ import annotations

from typing import Any, cast

from ketenbus_contracts.arrangements import (
    ArrangementAgreed,
    DisputeDeadlinePassed,
    DisputeDecided,
    DisputeEscalated,
    FundingDisputed,
    FundingShare,
    OppDrawnUp,
    ReducedTeachingTimeRequested,
    RegieChanged,
    ReminderDue,
    SupportRequested,
    TlvIssued,
    YouthCareDecided,
)
from ketenbus_contracts.envelope import CloudEvent
from services.arrangements.application import ArrangementsApplication
from services.arrangements.domain import ChildArrangements
from services.runtime.outbound import Outbound
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


# A partner's decision goes out under the partner's event id (its sealed sections are bound
# to it); the clock's reminders and the escalations are arrangements' own.
to_contract = Outbound(
    SOURCE,
    {
        ChildArrangements.SupportRequested: SupportRequested,
        ChildArrangements.TlvIssued: TlvIssued,
        ChildArrangements.OppDrawnUp: OppDrawnUp,
        ChildArrangements.YouthCareDecided: YouthCareDecided,
        ChildArrangements.ArrangementAgreed: ArrangementAgreed,
        ChildArrangements.FundingDisputed: FundingDisputed,
        ChildArrangements.DisputeEscalated: DisputeEscalated,
        ChildArrangements.DisputeDecided: DisputeDecided,
        ChildArrangements.DisputeDeadlinePassed: DisputeDeadlinePassed,
        ChildArrangements.ReducedTeachingTimeRequested: ReducedTeachingTimeRequested,
        ChildArrangements.RegieChanged: RegieChanged,
        ChildArrangements.ReminderDue: ReminderDue,
    },
)
"""The outbound contract event for a recorded domain event (None: not published)."""

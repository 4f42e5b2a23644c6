"""Translation between arrangements' contract events and its domain events.

Inbound contracts become commands on the child's arrangements (the publishing partner and its
registered role are what entitlement is checked against); recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.arrangements.*`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketenbus_contracts.arrangements import (
    AanmeldingReceived,
    ArrangementAgreed,
    DeadlinePassed,
    DecisionPeriodExtended,
    DisputeDeadlinePassed,
    DisputeDecided,
    DisputeEscalated,
    FundingDisputed,
    HandelingsdeelConsented,
    HandoverNeeded,
    InboundArrangements,
    OppDrawnUp,
    PlacementDecided,
    ReducedTeachingTimeRequested,
    RegieChanged,
    ReminderDue,
    SupportRequested,
    TlvIssued,
    YouthCareDecided,
)
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.truancy import PupilEnrolled
from services.arrangements.application import ArrangementsApplication
from services.arrangements.domain import ChildArrangements, Decision
from services.runtime.outbound import Outbound
from services.runtime.parent_links import ParentLinks, apply_link
from services.runtime.store import Batch

SOURCE = "ketenbus.arrangements"

# Which command each inbound decision asks for; each takes the contract's data as it is.
COMMANDS: dict[type[CloudEvent[Any]], Callable[[ChildArrangements, Any, Decision], None]] = {
    SupportRequested: ChildArrangements.request_support,
    TlvIssued: ChildArrangements.issue_tlv,
    OppDrawnUp: ChildArrangements.draw_up_opp,
    YouthCareDecided: ChildArrangements.decide_youth_care,
    ArrangementAgreed: ChildArrangements.agree_arrangement,
    FundingDisputed: ChildArrangements.dispute_funding,
    DisputeDecided: ChildArrangements.decide_dispute,
    ReducedTeachingTimeRequested: ChildArrangements.request_reduced_teaching_time,
    RegieChanged: ChildArrangements.change_regie,
    HandelingsdeelConsented: ChildArrangements.consent_to_handelingsdeel,
    AanmeldingReceived: ChildArrangements.receive_aanmelding,
    DecisionPeriodExtended: ChildArrangements.extend_decision_period,
    PlacementDecided: ChildArrangements.decide_placement,
}


# Besides what partners publish, truancy's record of an enrolment (it may start a handover),
# and the plan's parent links (whose own answers on a child's OPP it takes).
Inbound = InboundArrangements | PupilEnrolled | ParentLinks


def apply_inbound(app: ArrangementsApplication, event: Inbound, batch: Batch) -> None:
    """Turn an inbound partner decision into the command it asks for: the publishing partner
    and its registered role are what entitlement is checked against (a parent's account: its
    link to the child, which the plan's parent links tell)."""
    if isinstance(event, ParentLinks):
        apply_link(app, event, batch)
        return
    if isinstance(event, PupilEnrolled):
        # Read from truancy's stream (the school's enrolment as truancy recorded it).
        child = app.arrangements(batch, event.subject)
        child.receive_enrolment(event.data, app.today(), app.rules)
        return
    decision = Decision(
        source=event.source,
        role=app.rules.role_of(event.source),
        today=app.today(),
        rules=app.rules,
        event_id=event.id,
        sealed={purpose.value: token for purpose, token in event.data.sealed.items()},
        linked_parent=bool(app.parent_link(batch, event.subject, event.source)),
    )
    COMMANDS[type(event)](app.arrangements(batch, event.subject), event.data, decision)


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
        ChildArrangements.HandelingsdeelConsented: HandelingsdeelConsented,
        ChildArrangements.AanmeldingReceived: AanmeldingReceived,
        ChildArrangements.DecisionPeriodExtended: DecisionPeriodExtended,
        ChildArrangements.PlacementDecided: PlacementDecided,
        ChildArrangements.DeadlinePassed: DeadlinePassed,
        ChildArrangements.HandoverNeeded: HandoverNeeded,
    },
)
"""The outbound contract event for a recorded domain event (None: not published)."""

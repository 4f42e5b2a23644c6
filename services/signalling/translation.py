"""Translation between signalling's contract events and its domain events.

Inbound contracts become commands on the application; recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.signalling.*`.
"""

from __future__ import annotations

from ketenbus_contracts.signalling import (
    AgeBandDeclared,
    ChildDeceased,
    ContactEscalated,
    ContactMade,
    ContactReminder,
    CoordinatorAssigned,
    CoordinatorChanged,
    HistoryNotice,
    InformingConfirmed,
    InformingDue,
    InformingPostponed,
    MatchEnded,
    MatchFound,
    ParentsInformed,
    RiskInventoryRecorded,
    SignalRegistered,
    SignalWithdrawn,
)
from services.runtime.outbound import Outbound
from services.runtime.store import Batch
from services.signalling.application import SignallerMismatchError, SignallingApplication
from services.signalling.domain import ChildSignals, Coordinator, MatchHolder, Party

SOURCE = "ketenbus.signalling"

Inbound = (
    SignalRegistered
    | InformingConfirmed
    | InformingPostponed
    | AgeBandDeclared
    | SignalWithdrawn
    | ChildDeceased
    | ContactMade
    | CoordinatorChanged
    | RiskInventoryRecorded
)


def _sealed(event: SignalRegistered | RiskInventoryRecorded) -> dict[str, str]:
    return {purpose.value: token for purpose, token in event.data.sealed.items()}


def apply_inbound(app: SignallingApplication, event: Inbound, batch: Batch | None = None) -> None:
    """Turn an inbound partner event into the application command it asks for.

    The publishing partner (`source`, checked at ingress) is who acts: a partner can only
    register in its own name, and withdraw, report contact or hand over coordination only
    where it is a party (the domain checks that).
    """
    if isinstance(event, SignalRegistered):
        if event.data.signaller.partner != event.source:
            raise SignallerMismatchError("signaller.partner must be the publishing partner")
        app.register_signal(
            child=event.subject,
            signal_id=event.data.signal_id,
            signaller=Party.of(event.data.signaller),
            registered_on=event.data.registered_on,
            planned_removal_on=event.data.planned_removal_on,
            event_id=event.id,
            sealed=_sealed(event),
            household=event.data.household,
            municipality=event.data.municipality,
            age_band=event.data.age_band,
            batch=batch,
        )
    elif isinstance(event, SignalWithdrawn):
        app.withdraw_signal(
            child=event.subject,
            signal_id=event.data.signal_id,
            partner=event.source,
            withdrawn_on=event.data.withdrawn_on,
            reason=event.data.reason,
            batch=batch,
        )
    elif isinstance(event, InformingConfirmed):
        app.confirm_informing(
            child=event.subject,
            signal_id=event.data.signal_id,
            partner=event.source,
            audience=list(event.data.audience),
            informed_on=event.data.informed_on,
            batch=batch,
        )
    elif isinstance(event, InformingPostponed):
        app.postpone_informing(
            child=event.subject,
            signal_id=event.data.signal_id,
            partner=event.source,
            ground=event.data.ground,
            until=event.data.until,
            batch=batch,
        )
    elif isinstance(event, AgeBandDeclared):
        app.declare_age_band(
            child=event.subject,
            signal_id=event.data.signal_id,
            partner=event.source,
            age_band=event.data.age_band,
            declared_on=event.data.declared_on,
            batch=batch,
        )
    elif isinstance(event, ChildDeceased):
        app.record_death(
            child=event.subject, partner=event.source, died_on=event.data.died_on, batch=batch
        )
    elif isinstance(event, ContactMade):
        if event.data.partner != event.source:
            raise SignallerMismatchError("contact-made: partner must be the publishing partner")
        app.record_contact(
            child=event.subject,
            match_id=event.data.match_id,
            household=event.data.household,
            partner=event.source,
            contacted_on=event.data.contacted_on,
            batch=batch,
        )
    elif isinstance(event, CoordinatorChanged):
        app.change_coordinator(
            child=event.subject,
            match_id=event.data.match_id,
            household=event.data.household,
            by=event.source,
            coordinator=Coordinator.of(event.data.coordinator),
            batch=batch,
        )
    else:
        if event.data.recorded_by.partner != event.source:
            raise SignallerMismatchError("recorded_by.partner must be the publishing partner")
        app.record_risk_inventory(
            child=event.subject,
            inventory_id=event.data.inventory_id,
            recorded_by=Party.of(event.data.recorded_by),
            inventoried_on=event.data.inventoried_on,
            age_band=event.data.age_band,
            participants=list(event.data.participants),
            parents_involved=event.data.parents_involved,
            plan_needed=event.data.plan_needed,
            plan_due_on=event.data.plan_due_on,
            event_id=event.id,
            sealed=_sealed(event),
            batch=batch,
        )


to_contract = Outbound(
    SOURCE,
    {
        ChildSignals.SignalRegistered: SignalRegistered,
        ChildSignals.SignalWithdrawn: SignalWithdrawn,
        MatchHolder.MatchFound: (
            MatchFound,
            lambda e: {"scope": "household" if getattr(e, "household", None) else "child"},
        ),
        MatchHolder.MatchEnded: MatchEnded,
        MatchHolder.CoordinatorAssigned: CoordinatorAssigned,
        MatchHolder.ContactMade: ContactMade,
        MatchHolder.ContactReminderSent: ContactReminder,
        MatchHolder.ContactEscalated: ContactEscalated,
        ChildSignals.HistoryNoticeGiven: HistoryNotice,
        ChildSignals.ParentsInformed: ParentsInformed,
        ChildSignals.InformingDue: InformingDue,
        ChildSignals.RiskInventoryRecorded: RiskInventoryRecorded,
    },
)
"""The outbound contract event for a recorded domain event (None: not published)."""

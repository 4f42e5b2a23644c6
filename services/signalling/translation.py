"""Translation between signalling's contract events and its domain events.

Inbound contracts become commands on the application; recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.signalling.*`.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
    Audience,
    ChildDeceased,
    ContactEscalated,
    ContactEscalatedData,
    ContactMade,
    ContactMadeData,
    ContactReminder,
    ContactReminderData,
    Coordinator,
    CoordinatorAssigned,
    CoordinatorAssignedData,
    CoordinatorChanged,
    CoordinatorRule,
    HistoryNotice,
    HistoryNoticeData,
    MatchContact,
    MatchEnded,
    MatchEndedData,
    MatchFound,
    MatchFoundData,
    ParentsInformed,
    ParentsInformedData,
    RiskInventoryRecorded,
    RiskInventoryRecordedData,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
    SignalWithdrawn,
    SignalWithdrawnData,
    WithdrawalReason,
)
from services.runtime.store import Batch
from services.signalling.application import SignallerMismatchError, SignallingApplication
from services.signalling.domain import ChildSignals, MatchHolder

SOURCE = "ketenbus.signalling"

Inbound = (
    SignalRegistered
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
            signaller=event.data.signaller.model_dump(),
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
            coordinator=event.data.coordinator.model_dump(),
            batch=batch,
        )
    else:
        if event.data.recorded_by.partner != event.source:
            raise SignallerMismatchError("recorded_by.partner must be the publishing partner")
        app.record_risk_inventory(
            child=event.subject,
            inventory_id=event.data.inventory_id,
            recorded_by=event.data.recorded_by.model_dump(),
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


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract event for a recorded domain event (None: not published)."""
    common = {"id": event_id, "source": SOURCE, "time": domain_event.timestamp}
    e = domain_event
    if isinstance(e, ChildSignals.SignalRegistered):
        sealed = {Purpose(purpose): token for purpose, token in e.sealed.items()}
        return SignalRegistered.create(
            subject=e.child,
            data=SignalRegisteredData(
                signal_id=e.signal_id,
                signaller=Signaller(**e.signaller),
                registered_on=e.registered_on,
                planned_removal_on=e.planned_removal_on,
                household=getattr(e, "household", None),
                municipality=getattr(e, "municipality", None),
                age_band=getattr(e, "age_band", None),
                sealed=sealed,
            ),
            purposes=sorted(sealed),
            # The partner's event id: the sealed sections are bound to it.
            **(common | {"id": e.event_id}),
        )
    if isinstance(e, ChildSignals.SignalWithdrawn):
        return SignalWithdrawn.create(
            subject=e.child,
            data=SignalWithdrawnData(
                signal_id=e.signal_id,
                withdrawn_on=e.withdrawn_on,
                reason=cast(WithdrawalReason, e.reason),
            ),
            **common,
        )
    if isinstance(e, MatchHolder.MatchFound):
        household = getattr(e, "household", None)
        coordinator = getattr(e, "coordinator", None)
        return MatchFound.create(
            subject=e.child,
            data=MatchFoundData(
                match_id=e.match_id,
                signal_ids=e.signal_ids,
                signallers=[Signaller(**s) for s in e.signallers],
                found_at=e.found_at,
                scope="household" if household else "child",
                household=household,
                municipality=getattr(e, "municipality", None),
                municipal_coordinator=getattr(e, "municipal_coordinator", None),
                contacts=[MatchContact(**c) for c in getattr(e, "contacts", None) or []],
                coordinator=Coordinator(**coordinator) if coordinator else None,
                notify=getattr(e, "notify", None) or [],
            ),
            **common,
        )
    if isinstance(e, MatchHolder.MatchEnded):
        return MatchEnded.create(
            subject=e.child,
            data=MatchEndedData(match_id=e.match_id, household=e.household, ended_on=e.ended_on),
            **common,
        )
    if isinstance(e, MatchHolder.CoordinatorAssigned):
        return CoordinatorAssigned.create(
            subject=e.child,
            data=CoordinatorAssignedData(
                match_id=e.match_id,
                household=e.household,
                coordinator=Coordinator(**e.coordinator),
                rule=cast(CoordinatorRule, e.rule),
                previous=e.previous,
                assigned_at=e.assigned_at,
            ),
            **common,
        )
    if isinstance(e, MatchHolder.ContactMade):
        return ContactMade.create(
            subject=e.child,
            data=ContactMadeData(
                match_id=e.match_id,
                household=e.household,
                partner=e.partner,
                contacted_on=e.contacted_on,
                all_contacted=e.all_contacted,
            ),
            **common,
        )
    if isinstance(e, MatchHolder.ContactReminderSent):
        return ContactReminder.create(
            subject=e.child,
            data=ContactReminderData(
                match_id=e.match_id, household=e.household, partners=e.partners, due_at=e.due_at
            ),
            **common,
        )
    if isinstance(e, MatchHolder.ContactEscalated):
        return ContactEscalated.create(
            subject=e.child,
            data=ContactEscalatedData(
                match_id=e.match_id,
                household=e.household,
                partners=e.partners,
                municipal_coordinator=e.municipal_coordinator,
                due_at=e.due_at,
            ),
            **common,
        )
    if isinstance(e, ChildSignals.HistoryNoticeGiven):
        return HistoryNotice.create(
            subject=e.child,
            data=HistoryNoticeData(
                signal_id=e.signal_id,
                partner=e.partner,
                earlier_signals=e.earlier_signals,
                last_ended_on=e.last_ended_on,
                earlier_partners=e.earlier_partners,
            ),
            **common,
        )
    if isinstance(e, ChildSignals.ParentsInformed):
        return ParentsInformed.create(
            subject=e.child,
            data=ParentsInformedData(
                signal_id=e.signal_id,
                signaller=Signaller(**e.signaller),
                registered_on=e.registered_on,
                audience=cast(list[Audience], e.audience),
                age_band=e.age_band,
            ),
            **common,
        )
    if isinstance(e, ChildSignals.RiskInventoryRecorded):
        sealed = {Purpose(purpose): token for purpose, token in e.sealed.items()}
        return RiskInventoryRecorded.create(
            subject=e.child,
            data=RiskInventoryRecordedData(
                inventory_id=e.inventory_id,
                recorded_by=Signaller(**e.recorded_by),
                inventoried_on=e.inventoried_on,
                age_band=e.age_band,
                participants=e.participants,
                parents_involved=e.parents_involved,
                plan_needed=e.plan_needed,
                plan_due_on=e.plan_due_on,
                sealed=sealed,
            ),
            purposes=sorted(sealed),
            **(common | {"id": e.event_id}),
        )
    return None

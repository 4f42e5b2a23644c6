"""Translation between handover's contract events and its domain events.

Inbound partner events become commands; recorded domain events become the outbound contracts
the outbox relay publishes on `ketenbus.handover.*`. The sealed sections of a prepared dossier
are not republished with `dossier-prepared-info`: only `dossier-delivered` carries them, and only
those that may leave.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    ContinuityGapFound,
    ContinuityGapFoundData,
    DeliveredSection,
    DossierDelivered,
    DossierDeliveredData,
    DossierPrepared,
    DossierPreparedInfo,
    DossierPreparedInfoData,
    DossierProcessingRecorded,
    DossierProcessingRecordedData,
    DossierReleased,
    DossierRequested,
    DossierRequestedData,
    Enrolment,
    HandoverClosed,
    HandoverClosedData,
    HandoverEscalated,
    HandoverEscalatedData,
    HandoverStarted,
    HandoverStartedData,
    Organisation,
    ParentsViewed,
    ParentsViewedData,
    Participant,
    RunningSupport,
    SectionInfo,
    WarmConversationHeld,
    WarmConversationHeldData,
)
from ketenbus_contracts.purposes import Purpose
from services.handover.application import HandoverApplication
from services.handover.domain import Handover
from services.runtime.store import Batch

SOURCE = "ketenbus.handover"

Inbound = (
    HandoverStarted
    | DossierPrepared
    | ParentsViewed
    | ConsentRecorded
    | DossierRequested
    | DossierReleased
    | WarmConversationHeld
    | HandoverClosed
)


def apply_inbound(app: HandoverApplication, event: Inbound, batch: Batch | None = None) -> None:
    """Turn an inbound partner event into the application command it asks for."""
    common: dict[str, Any] = {
        "child": event.subject,
        "handover_id": event.data.handover_id,
        "batch": batch,
    }
    if isinstance(event, HandoverStarted):
        from services.handover.domain import NotTheSenderError

        if event.data.sender.partner != event.source:
            raise NotTheSenderError("sender.partner must be the publishing partner")
        app.start(
            transition=event.data.transition,
            sender=event.data.sender.model_dump(),
            receiver=event.data.receiver,
            swv=event.data.swv,
            planned_on=event.data.planned_on,
            pupil_decides=event.data.pupil_decides,
            **common,
        )
    elif isinstance(event, DossierPrepared):
        app.prepare_dossier(
            partner=event.source,
            sections=[s.model_dump() for s in event.data.sections],
            running=[r.model_dump() for r in event.data.running],
            event_id=event.id,
            **common,
        )
    elif isinstance(event, ParentsViewed):
        app.record_parents_view(
            partner=event.source,
            viewed_on=event.data.viewed_on,
            agreed=event.data.agreed,
            opted_out=list(event.data.opted_out),
            event_id=event.id,
            sealed={p.value: token for p, token in event.data.sealed.items()},
            **common,
        )
    elif isinstance(event, ConsentRecorded):
        app.record_consent(
            partner=event.source,
            given_by=event.data.given_by,
            granted=event.data.granted,
            recorded_on=event.data.recorded_on,
            **common,
        )
    elif isinstance(event, DossierRequested):
        enrolment = event.data.enrolment
        app.request(
            partner=event.source,
            receiver=event.data.receiver.model_dump(),
            enrolment=enrolment.model_dump() if enrolment else None,
            requested_on=event.data.requested_on,
            traceparent=event.traceparent,
            **common,
        )
    elif isinstance(event, DossierReleased):
        app.release(
            partner=event.source,
            released_on=event.data.released_on,
            traceparent=event.traceparent,
            **common,
        )
    elif isinstance(event, WarmConversationHeld):
        app.hold_conversation(
            partner=event.source,
            held_on=event.data.held_on,
            participants=[p.model_dump() for p in event.data.participants],
            **common,
        )
    else:
        app.close_handover(partner=event.source, closed_on=event.data.closed_on, **common)


def _running(items: list[dict[str, Any]]) -> list[RunningSupport]:
    return [RunningSupport(**item) for item in items]


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract event for a recorded domain event (None: not published)."""
    common: dict[str, Any] = {"id": event_id, "source": SOURCE, "time": domain_event.timestamp}
    if isinstance(domain_event, Handover.Started):
        return HandoverStarted.create(
            subject=domain_event.child,
            data=HandoverStartedData(
                handover_id=domain_event.handover_id,
                transition=cast(Any, domain_event.transition),
                sender=Organisation(**domain_event.sender),
                receiver=domain_event.receiver,
                swv=domain_event.swv,
                planned_on=domain_event.planned_on,
                pupil_decides=domain_event.pupil_decides,
            ),
            **common,
        )
    if isinstance(domain_event, Handover.DossierPrepared):
        return DossierPreparedInfo.create(
            subject=domain_event.child,
            data=DossierPreparedInfoData(
                handover_id=domain_event.handover_id,
                sections=[
                    SectionInfo(category=s["category"], rule=cast(Any, s["rule"]))
                    for s in domain_event.sections
                ],
                running=_running(domain_event.running),
            ),
            **common,
        )
    if isinstance(domain_event, Handover.ContinuityGapFound):
        return ContinuityGapFound.create(
            subject=domain_event.child,
            data=ContinuityGapFoundData(
                handover_id=domain_event.handover_id,
                gaps=_running(domain_event.gaps),
                found_on=domain_event.found_on,
            ),
            **common,
        )
    if isinstance(domain_event, Handover.ParentsViewed):
        sealed = {Purpose(p): token for p, token in domain_event.sealed.items()}
        return ParentsViewed.create(
            subject=domain_event.child,
            data=ParentsViewedData(
                handover_id=domain_event.handover_id,
                viewed_on=domain_event.viewed_on,
                agreed=domain_event.agreed,
                opted_out=domain_event.opted_out,
                sealed=sealed,
            ),
            purposes=sorted(sealed),
            # The partner's event id: the sealed reason is bound to it.
            **(common | {"id": domain_event.event_id}),
        )
    if isinstance(domain_event, Handover.ConsentRecorded):
        return ConsentRecorded.create(
            subject=domain_event.child,
            data=ConsentRecordedData(
                handover_id=domain_event.handover_id,
                given_by=cast(Any, domain_event.given_by),
                granted=domain_event.granted,
                recorded_on=domain_event.recorded_on,
            ),
            **common,
        )
    if isinstance(domain_event, Handover.DossierRequested):
        return DossierRequested.create(
            subject=domain_event.child,
            data=DossierRequestedData(
                handover_id=domain_event.handover_id,
                receiver=Organisation(**domain_event.receiver),
                enrolment=Enrolment(**domain_event.enrolment),
                requested_on=domain_event.requested_on,
            ),
            **common,
        )
    if isinstance(domain_event, Handover.ProcessingRecorded):
        return DossierProcessingRecorded.create(
            subject=domain_event.child,
            data=DossierProcessingRecordedData(
                handover_id=domain_event.handover_id,
                activity=domain_event.activity,
                action=cast(Any, domain_event.action),
                actor=domain_event.actor,
                at=domain_event.at,
                traceparent=domain_event.traceparent,
            ),
            **common,
        )
    if isinstance(domain_event, Handover.DossierDelivered):
        return DossierDelivered.create(
            subject=domain_event.child,
            data=DossierDeliveredData(
                handover_id=domain_event.handover_id,
                sender=domain_event.sender,
                receiver=domain_event.receiver,
                delivered_on=domain_event.delivered_on,
                sections=[DeliveredSection(**cast(Any, s)) for s in domain_event.sections],
                withheld=[SectionInfo(**cast(Any, s)) for s in domain_event.withheld],
                running=_running(domain_event.running),
            ),
            purposes=[Purpose.HANDOVER] if domain_event.sections else [],
            **common,
        )
    if isinstance(domain_event, Handover.WarmConversationHeld):
        return WarmConversationHeld.create(
            subject=domain_event.child,
            data=WarmConversationHeldData(
                handover_id=domain_event.handover_id,
                held_on=domain_event.held_on,
                participants=[Participant(**p) for p in domain_event.participants],
            ),
            **common,
        )
    if isinstance(domain_event, Handover.Closed):
        return HandoverClosed.create(
            subject=domain_event.child,
            data=HandoverClosedData(
                handover_id=domain_event.handover_id, closed_on=domain_event.closed_on
            ),
            **common,
        )
    if isinstance(domain_event, Handover.Escalated):
        return HandoverEscalated.create(
            subject=domain_event.child,
            data=HandoverEscalatedData(
                handover_id=domain_event.handover_id,
                level=domain_event.level,
                to=cast(Any, domain_event.to),
                partner=domain_event.partner,
                contact=domain_event.contact,
                planned_on=domain_event.planned_on,
                escalated_at=domain_event.escalated_at,
            ),
            **common,
        )
    return None

"""Translation between handover's contract events and its domain events.

Inbound partner events become commands; recorded domain events become the outbound contracts
the outbox relay publishes on `ketenbus.handover.*`. `dossier-prepared-info.v2` republishes the
prepared dossier's sections still sealed (for the linked parents' inzage before it goes, whom the
feed and the plan alone give them); `dossier-delivered` carries those that may leave.
"""

from __future__ import annotations

from typing import Any

from ketenbus_contracts.arrangements import HandoverNeeded
from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentWithdrawn,
    ContinuityGapFound,
    DossierDelivered,
    DossierPrepared,
    DossierPreparedInfoV2,
    DossierProcessingRecorded,
    DossierReleased,
    DossierRequested,
    DossierRequestedData,
    HandoverClosed,
    HandoverEscalated,
    HandoverStarted,
    HandoverStartedData,
    InboundHandover,
    ParentsViewed,
    RunningSupport,
    WarmConversationHeld,
)
from ketenbus_contracts.purposes import Purpose
from services.handover.application import HandoverApplication
from services.handover.domain import Arrival, Handover, NotTheSenderError
from services.runtime.outbound import Outbound
from services.runtime.parent_links import ParentLinks, apply_link
from services.runtime.store import Batch

SOURCE = "ketenbus.handover"

# The backbone's own handover-needed besides what partners publish, and the plan's parent
# links (whose own consent a child's handovers take).
Inbound = HandoverNeeded | InboundHandover


def apply_inbound(
    app: HandoverApplication, event: Inbound | ParentLinks, batch: Batch | None = None
) -> None:
    """Turn an inbound partner event into the application command it asks for."""
    if isinstance(event, ParentLinks):
        apply_link(app, event, batch)
        return
    common: dict[str, Any] = {
        "child": event.subject,
        "handover_id": event.data.handover_id,
        "batch": batch,
    }
    if isinstance(event, HandoverNeeded | HandoverStarted):
        # Started by a partner as its sender, or by the backbone itself (handover-needed: a
        # child with an OPP or running arrangement changing school).
        start, automatic = event.data, isinstance(event, HandoverNeeded)
        if not automatic and start.sender.partner != event.source:
            raise NotTheSenderError("sender.partner must be the publishing partner")
        app.start(
            transition=start.transition,
            sender=start.sender.model_dump(),
            receiver=start.receiver,
            swv=start.swv,
            planned_on=start.planned_on,
            pupil_decides=isinstance(start, HandoverStartedData) and start.pupil_decides,
            automatic=automatic,
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
    elif isinstance(event, ConsentWithdrawn):
        app.withdraw_consent(
            partner=event.source,
            given_by=event.data.given_by,
            withdrawn_on=event.data.withdrawn_on,
            **common,
        )
    elif isinstance(event, DossierRequested):
        app.request(
            partner=event.source,
            receiver=event.data.receiver.model_dump(),
            arrival=arrival(event.data),
            requested_on=event.data.requested_on,
            traceparent=event.traceparent,
            **common,
        )
    elif isinstance(event, DossierReleased):
        app.release(
            partner=event.source,
            released_on=event.data.released_on,
            parents_copy_on=event.data.parents_copy_on,
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


def arrival(data: DossierRequestedData) -> Arrival | None:
    """The child's arrival the request names: its enrolment there, else its aanmelding."""
    if data.enrolment is not None:
        return Arrival(data.enrolment.partner, data.enrolment.enrolled_on, "enrolment")
    if data.aanmelding is not None:
        return Arrival(data.aanmelding.partner, data.aanmelding.aangemeld_on, "aanmelding")
    return None


def _running(items: list[dict[str, Any]]) -> list[RunningSupport]:
    return [RunningSupport(**item) for item in items]


to_contract = Outbound(
    SOURCE,
    {
        Handover.Started: HandoverStarted,
        Handover.DossierPrepared: (
            DossierPreparedInfoV2,
            # The sections as the sender sealed them (never opened here), each bound to the
            # sender's event, for the linked parents' inzage; under the outbox's id.
            lambda e: {
                "id": None,
                "sections": [
                    {
                        "category": s["category"],
                        "rule": s["rule"],
                        "sealed": s["sealed"],
                        "sealed_in": str(e.event_id),
                    }
                    for s in e.sections
                ],
            },
        ),
        Handover.ContinuityGapFound: ContinuityGapFound,
        Handover.ParentsViewed: ParentsViewed,
        Handover.ConsentRecorded: ConsentRecorded,
        Handover.ConsentWithdrawn: ConsentWithdrawn,
        Handover.DossierRequested: DossierRequested,
        Handover.ProcessingRecorded: DossierProcessingRecorded,
        Handover.DossierDelivered: (
            DossierDelivered,
            # The sections carry their own sealed content.
            lambda e: {"purposes": [Purpose.HANDOVER] if e.sections else []},
        ),
        Handover.WarmConversationHeld: WarmConversationHeld,
        Handover.Closed: HandoverClosed,
        Handover.Escalated: HandoverEscalated,
    },
)
"""The outbound contract event for a recorded domain event (None: not published)."""

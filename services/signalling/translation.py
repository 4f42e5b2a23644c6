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
    MatchFound,
    MatchFoundData,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
    SignalWithdrawn,
    SignalWithdrawnData,
    WithdrawalReason,
)
from services.runtime.store import Batch
from services.signalling.application import SignallerMismatchError, SignallingApplication
from services.signalling.domain import ChildSignals

SOURCE = "ketenbus.signalling"


def apply_inbound(
    app: SignallingApplication,
    event: SignalRegistered | SignalWithdrawn,
    batch: Batch | None = None,
) -> None:
    """Turn an inbound partner event into the application command it asks for."""
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
            sealed={purpose.value: token for purpose, token in event.data.sealed.items()},
            batch=batch,
        )
    else:
        app.withdraw_signal(
            child=event.subject,
            signal_id=event.data.signal_id,
            partner=event.source,
            withdrawn_on=event.data.withdrawn_on,
            reason=event.data.reason,
            batch=batch,
        )


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract event for a recorded domain event (None: not published)."""
    common = {"id": event_id, "source": SOURCE, "time": domain_event.timestamp}
    if isinstance(domain_event, ChildSignals.SignalRegistered):
        sealed = {Purpose(purpose): token for purpose, token in domain_event.sealed.items()}
        return SignalRegistered.create(
            subject=domain_event.child,
            data=SignalRegisteredData(
                signal_id=domain_event.signal_id,
                signaller=Signaller(**domain_event.signaller),
                registered_on=domain_event.registered_on,
                planned_removal_on=domain_event.planned_removal_on,
                sealed=sealed,
            ),
            purposes=sorted(sealed),
            # The partner's event id: the sealed sections are bound to it.
            **(common | {"id": domain_event.event_id}),
        )
    if isinstance(domain_event, ChildSignals.SignalWithdrawn):
        return SignalWithdrawn.create(
            subject=domain_event.child,
            data=SignalWithdrawnData(
                signal_id=domain_event.signal_id,
                withdrawn_on=domain_event.withdrawn_on,
                reason=cast(WithdrawalReason, domain_event.reason),
            ),
            **common,
        )
    if isinstance(domain_event, ChildSignals.MatchFound):
        return MatchFound.create(
            subject=domain_event.child,
            data=MatchFoundData(
                match_id=domain_event.match_id,
                signal_ids=domain_event.signal_ids,
                signallers=[Signaller(**s) for s in domain_event.signallers],
                found_at=domain_event.found_at,
            ),
            **common,
        )
    return None

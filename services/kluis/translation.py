"""What kluis publishes: a child erased because retention ran out, as `child-erased`."""

from __future__ import annotations

import uuid
from typing import Any

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from services.kluis.domain import ChildRelations
from services.kluis.erasure import ERASURE_NAMESPACE


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    if isinstance(domain_event, ChildRelations.RetentionExpired) and domain_event.erased:
        return ChildErased.create(
            # the same id as an erasure on request: one child, one erasure
            id=uuid.uuid5(ERASURE_NAMESPACE, domain_event.child),
            source="ketenbus.kluis",
            subject=domain_event.child,
            time=domain_event.at,
            data=ChildErasedData(erased_at=domain_event.at, reason="retention"),
        )
    return None

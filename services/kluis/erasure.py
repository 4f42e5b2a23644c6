"""Erasing a child: destroy its data keys in kluis, then tell every service (`child-erased`).

After this no sealed section about the child opens anywhere (crypto-shredding), and every
projection drops what it derived. Keys first: if the announcement were lost, the data would
still be unreadable; the announcement is published with a stable id, so repeating an erasure
is harmless.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog

from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from services.kluis.application import KluisApplication
from services.kluis.keystore import Keystore
from services.kluis.master_key import master_key
from services.runtime import nats_auth
from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

# child-erased is kluis's event: announced as its NATS user (its service name)
KLUIS_USER = "kluis"
ERASURE_NAMESPACE = uuid.UUID("3c1f9a0e-5d2b-4e7a-9b61-657261736564")


def known_child(application: KluisApplication, child: str) -> bool:
    """Whether kluis knows the child: a relation with it, keys for it, or an erasure of it
    (erasing again is harmless, and re-announces what may have been lost)."""
    keystore = application.keystore
    return (
        bool(application.relations_of(child).relations)
        or child in keystore.purposes_by_child()
        or keystore.is_erased(child)
    )


def destroy_keys(settings: Settings, child: str) -> int:
    """Delete the child's data keys physically; returns how many were deleted."""
    keystore = Keystore.open(settings, master_key(settings))
    try:
        return keystore.erase(child)
    finally:
        keystore.close()


async def announce_erasure(
    url: str, child: str, reason: str = "request", settings: Settings | None = None
) -> ChildErased:
    """Publish `child-erased` as kluis (its NATS user; settings: `nats_auth.settings_for`)."""
    event = ChildErased.create(
        id=uuid.uuid5(ERASURE_NAMESPACE, child),
        source="ketenbus.kluis",
        subject=child,
        data=ChildErasedData(erased_at=datetime.now(UTC), reason=reason),  # type: ignore[arg-type]
    )
    nc = await nats_auth.connect(nats_auth.settings_for(url, settings), KLUIS_USER, url)
    try:
        await nc.jetstream().publish(
            event.outbound_subject(), event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)}
        )
    finally:
        await nc.close()
    log.info("child_erased", event_id=str(event.id))
    return event

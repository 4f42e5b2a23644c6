"""handover's subscribers: the partners' handover events, decoded and handed to the
application; and the attachment desk (request/reply), which checks each request with the
application."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream.nats import NatsMessage, NatsRouter
from joserfc.jwk import OKPKey

from ketenbus_contracts.arrangements import HandoverNeeded
from ketenbus_contracts.handover import InboundHandoverEvent
from services.handover.application import HandoverApplication
from services.handover.attachments import GET_SUBJECT, PUT_SUBJECT, AttachmentDesk, refused
from services.runtime.host import ServiceContext
from services.runtime.parent_links import parent_links
from services.runtime.service import Consumes, application_of
from services.runtime.streams import HANDOVER_ARRANGEMENTS, HANDOVER_INBOUND, HANDOVER_PLAN

log = structlog.get_logger(__name__)

INBOUND = Consumes(
    HANDOVER_INBOUND,
    "partners start handovers, prepare dossiers, record the parents' view and consent (or the "
    "linked parents give and withdraw it themselves), request "
    "(after enrolment) and release dossiers, and hold the warm conversation. Refused input goes "
    "to `ketenbus.deadletter.handover`.",
    payload=InboundHandoverEvent,
    signed=True,
)
NEEDED = Consumes(
    HANDOVER_ARRANGEMENTS,
    "a child with an OPP or a running arrangement is aangemeld at another school: the handover "
    "starts by itself, from the current school to the new one.",
    payload=HandoverNeeded,
)
LINKS = parent_links(HANDOVER_PLAN, "gives or withdraws the parents' consent on its handovers")

# The desk's two operations: what each does with a request (its headers and body).
Operation = Callable[[AttachmentDesk, NatsMessage], Awaitable[dict[str, Any]]]
DESK: tuple[tuple[str, str, Operation, str], ...] = (
    (
        PUT_SUBJECT,
        "put",
        lambda desk, msg: desk.put(dict(msg.headers), msg.body),
        "the handover's sender hands over one chunk of a sealed OSO attachment (the body); "
        "header Ketenbus-Request: an AttachmentRequest (op put, handover, name, chunk, last, the "
        "chunk's sha256, nonce) as a JWS signed with the partner's Ed25519 key. The object is "
        "stored when the last chunk arrives. Partners never touch the object store themselves.",
    ),
    (
        GET_SUBJECT,
        "get",
        lambda desk, msg: desk.get(dict(msg.headers)),
        "one chunk (base64) of a sealed attachment by its name (`<sealed-in event id>/"
        "<reference>`, known only from the opened section), for the handover's sender, or its "
        "receiver once delivered; header Ketenbus-Request: a signed AttachmentRequest (op get).",
    ),
)


def _open_desk(ctx: ServiceContext | None) -> AttachmentDesk:
    app = application_of(ctx, HandoverApplication)
    if ctx is None or ctx.nc is None:
        raise RuntimeError("handover's desk used without its connection")
    service = ctx

    async def access(handover_id: uuid.UUID, partner: str, op: str) -> str | None:
        refusal: str | None = await service.call(app.attachment_refusal, handover_id, partner, op)
        return refusal

    registry = app.registry
    if registry is None:
        raise RuntimeError("handover's desk checks signatures with its service's registry")

    def public_key_for(partner: str) -> OKPKey | None:
        found = registry.public_keys(partner)
        return None if found is None else found.signing

    if ctx.replays is None:
        return AttachmentDesk(ctx.nc, public_key_for, access)
    return AttachmentDesk(ctx.nc, public_key_for, access, ctx.replays)


def attachment_desk(router: NatsRouter, ctx: ServiceContext | None) -> None:
    """The attachment desk's subscribers; the desk opens on the first request."""
    desks: list[AttachmentDesk] = []
    for subject, op, operation, description in DESK:
        _desk_subscriber(router, ctx, desks, subject, op, operation, description)


def _desk_subscriber(
    router: NatsRouter,
    ctx: ServiceContext | None,
    desks: list[AttachmentDesk],
    subject: str,
    op: str,
    operation: Operation,
    description: str,
) -> None:
    async def on_request(body: bytes, msg: NatsMessage) -> dict[str, Any]:
        try:
            if not desks:
                desks.append(_open_desk(ctx))
            return await operation(desks[0], msg)
        except Exception as exc:  # an answer, never a restart of the service's consumers
            log.error(f"attachment_{op}_failed", error=type(exc).__name__)
            return refused("failed")

    router.subscriber(
        subject,
        queue="handover",
        title=f"handover/attachment-{op}",
        description=f"Request/reply: {description}",
    )(on_request)

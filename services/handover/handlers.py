"""handover's subscribers: decode the partners' handover events, call the application, done."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from faststream.nats import NatsMessage, NatsRouter
from joserfc.jwk import OKPKey
from pydantic import TypeAdapter

from ketenbus_contracts.handover import InboundHandoverEvent
from services.handover.application import HandoverApplication
from services.handover.attachments import GET_SUBJECT, PUT_SUBJECT, AttachmentDesk, refused
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.partners import PartnerRegistry
from services.runtime.streams import HANDOVER_INBOUND

log = structlog.get_logger(__name__)


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()
    desks: list[AttachmentDesk] = []

    def desk() -> AttachmentDesk:
        if ctx is None or ctx.nc is None:
            raise RuntimeError("handover router used without its running service")
        if not desks:
            service, app = ctx, ctx.application
            if not isinstance(app, HandoverApplication):
                raise RuntimeError("handover router used without its application")

            async def access(handover_id: uuid.UUID, partner: str, op: str) -> str | None:
                refusal: str | None = await service.call(
                    app.attachment_refusal, handover_id, partner, op
                )
                return refusal

            registry = PartnerRegistry.load(ctx.settings.data_dir)

            def public_key_for(partner: str) -> OKPKey | None:
                found = registry.public_keys(partner)
                return None if found is None else found.signing

            desks.append(AttachmentDesk(ctx.nc, public_key_for, access))
        return desks[0]

    @router.subscriber(
        PUT_SUBJECT,
        queue="handover",
        title="handover/attachment-put",
        description=(
            "Request/reply: the handover's sender hands over one chunk of a sealed OSO "
            "attachment (the body); header Ketenbus-Request: an AttachmentRequest (op put, "
            "handover, name, chunk, last, the chunk's sha256, nonce) as a JWS signed with the "
            "partner's Ed25519 key. The object is stored when the last chunk arrives. Partners "
            "never touch the object store themselves."
        ),
    )
    async def on_attachment_put(body: bytes, msg: NatsMessage) -> dict[str, Any]:
        try:
            return await desk().put(dict(msg.headers), msg.body)
        except Exception as exc:  # an answer, never a restart of the service's consumers
            log.error("attachment_put_failed", error=type(exc).__name__)
            return refused("failed")

    @router.subscriber(
        GET_SUBJECT,
        queue="handover",
        title="handover/attachment-get",
        description=(
            "Request/reply: one chunk (base64) of a sealed attachment by its name "
            "(`<sealed-in event id>/<reference>`, known only from the opened section), for the "
            "handover's sender, or its receiver once delivered; header Ketenbus-Request: a "
            "signed AttachmentRequest (op get)."
        ),
    )
    async def on_attachment_get(body: bytes, msg: NatsMessage) -> dict[str, Any]:
        try:
            return await desk().get(dict(msg.headers))
        except Exception as exc:  # an answer, never a restart of the service's consumers
            log.error("attachment_get_failed", error=type(exc).__name__)
            return refused("failed")

    batch_consumer(
        router,
        HANDOVER_INBOUND,
        ctx,
        InboundHandoverEvent,
        TypeAdapter[InboundHandoverEvent](InboundHandoverEvent).validate_json,
        title="handover/inbound",
        description=(
            "partners start handovers, prepare dossiers, record the parents' view and consent, "
            "request (after enrolment) and release dossiers, and hold the warm conversation. "
            "Refused input goes to `ketenbus.deadletter.handover`."
        ),
    )
    return router

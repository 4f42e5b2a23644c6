"""The edge where a partner's event enters: validated before it is published.

What fails is refused with a clear reason and dead-lettered on `ketenbus.deadletter.ingress`;
nothing invalid reaches the INBOUND stream from here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

from pydantic import ValidationError

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN, CloudEvent, parse_event
from ketenbus_contracts.sealing import check_sealed
from ketenbus_partner.publish import inbound_headers
from services.runtime.deadletter import (
    Refused,
    SealOriginal,
    publish_deadletter,
    shared_kluis_sealer,
)
from services.runtime.inbound import Admission, Limits, Refusal, admit, location
from services.runtime.nats_auth import SUPERVISOR_USER, Connections, settings_for
from services.runtime.receipts import publish_receipts, readable_event_id, receipt
from services.runtime.settings import Settings
from services.runtime.signatures import check_signature, registry_keys

INGRESS = "ingress"
PARTNER_ID = re.compile(PARTNER_ID_PATTERN)


class IngressRefusedError(ValueError):
    """The event was not published; the message says why, `code` names it."""

    def __init__(
        self, message: str, code: str = "invalid-event", refusal: Refusal | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        # What the dead letter keeps: the code and details without input values.
        self.refusal = refusal


class NotTheSourceError(ValueError):
    """The event names another partner as its source than the one publishing it."""

    code = "not-the-source"


def validate_inbound(partner: str, raw: bytes, settings: Settings | None = None) -> CloudEvent[Any]:
    """The parsed event, or IngressRefusedError with a reason that quotes no input.

    Admitted as the services admit a message (`services.runtime.inbound.admit`: size, encoding
    and nesting before parsing), then the contract, the publishing partner as its source, and
    the partner's signature on the bytes as received (`KETENBUS_SIGNATURES`), and its sealed
    sections checked without opening them (`ketenbus_contracts.sealing.check_sealed`).
    """
    resolved = settings or Settings()
    limits = Limits.of(resolved)

    def decode(data: bytes) -> CloudEvent[Any]:
        event = parse_event(data, max_depth=limits.max_depth)
        if event.source != partner:
            raise NotTheSourceError(f"source {event.source!r} is not the publishing partner")
        check_signature(
            data, registry_keys(resolved.data_dir), required=resolved.signatures == "required"
        )
        check_sealed(event)
        return event

    admission = admit(raw, decode, limits)
    if admission.refusal is not None:
        code = admission.refusal.code
        explained = _explained(admission)
        raise IngressRefusedError(
            f"{code}: {explained}" if explained else code, code, admission.refusal
        )
    event: CloudEvent[Any] = admission.event
    return event


def _explained(admission: Admission) -> str:
    """The refusal in words for the partner that publishes (its own input, on its screen)."""
    error = admission.error
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{location(d['loc'])}: {d['msg']}".lstrip(": ")
            for d in error.errors(include_url=False, include_input=False)
        )
    if error is not None:
        return str(error)
    refusal = admission.refusal
    return "; ".join(f"{k} {v}" for d in (refusal.details if refusal else ()) for k, v in d.items())


class Published(NamedTuple):
    """Where the event went, and whether JetStream had it already (same id: dropped)."""

    subject: str
    duplicate: bool


async def publish_inbound(
    url: str,
    partner: str,
    raw: bytes,
    seal: SealOriginal | None = None,
    settings: Settings | None = None,
) -> Published:
    """Validate and publish on `in.<partner>.<domain>.<event>`.

    The event goes out as the partner; a refused one is dead-lettered by the backbone (its
    `backbone` user: a partner publishes only on its own inbound subjects), its original
    sealed with `seal`, else to kluis's key as the backbone shares it."""
    resolved = settings_for(url, settings)
    async with Connections(resolved, url) as conns:
        try:
            event = validate_inbound(partner, raw, settings)
        except IngressRefusedError as exc:
            backbone = await conns.user(SUPERVISOR_USER)
            if seal is None:
                seal = await shared_kluis_sealer(backbone, resolved.data_dir)
            refused = Refused(INGRESS, exc.refusal or exc, raw, f"in.{partner}", None, seal)
            await publish_deadletter(backbone.jetstream(), refused, backbone.max_payload)
            if PARTNER_ID.match(partner):
                # The partner's feed says so too: its system reads one answer per event.
                digest = hashlib.sha256(raw).hexdigest()
                event_id = readable_event_id(raw)
                await publish_receipts(
                    backbone.jetstream(),
                    [receipt(INGRESS, partner, stream_seq=None, event_id=event_id,
                             refusal=exc.refusal or exc, key=digest)],
                )  # fmt: skip
            raise
        subject = event.inbound_subject(partner)
        js = (await conns.partner(partner)).jetstream()
        ack = await js.publish(subject, raw, headers=inbound_headers(event))
        return Published(subject, bool(ack.duplicate))

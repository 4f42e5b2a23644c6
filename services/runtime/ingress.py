"""The edge where a partner's event enters: validated before it is published.

What fails is refused with a clear reason and dead-lettered on `ketenbus.deadletter.ingress`;
nothing invalid reaches the INBOUND stream from here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import ValidationError

from ketenbus_contracts.envelope import (
    PARTNER_ID_PATTERN,
    CloudEvent,
    UnknownEventTypeError,
    parse_event,
)
from ketenbus_contracts.signing import SignatureError
from services.runtime.deadletter import SealOriginal, describe, publish_deadletter
from services.runtime.nats_auth import SUPERVISOR_USER, Connections, settings_for
from services.runtime.partner import inbound_headers
from services.runtime.receipts import publish_receipts, readable_event_id, receipt
from services.runtime.settings import Settings
from services.runtime.signatures import check_signature, registry_keys

INGRESS = "ingress"
PARTNER_ID = re.compile(PARTNER_ID_PATTERN)


class IngressRefusedError(ValueError):
    """The event was not published; the message says why, `code` names it."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def validate_inbound(partner: str, raw: bytes, settings: Settings | None = None) -> CloudEvent[Any]:
    """The parsed event, or IngressRefusedError with a reason that quotes no input.

    The partner's signature is verified on the bytes as received (`KETENBUS_SIGNATURES`):
    a forged or altered one is always refused, a missing one under `required` (the default).
    """
    resolved = settings or Settings()
    try:
        event = parse_event(raw)
    except (ValidationError, UnknownEventTypeError) as exc:
        code, details = describe(exc)
        text = "; ".join(f"{d.get('loc', '')}: {d['msg']}".lstrip(": ") for d in details)
        raise IngressRefusedError(f"{code}: {text}", code) from exc
    if event.source != partner:
        raise IngressRefusedError(
            f"source {event.source!r} is not the publishing partner", "not-the-source"
        )
    try:
        check_signature(
            raw, registry_keys(resolved.data_dir), required=resolved.signatures == "required"
        )
    except SignatureError as exc:
        raise IngressRefusedError(f"{exc.code}: {exc}", exc.code) from exc
    return event


async def publish_inbound(
    url: str,
    partner: str,
    raw: bytes,
    seal: SealOriginal | None = None,
    settings: Settings | None = None,
) -> str:
    """Validate and publish on `in.<partner>.<domain>.<event>`; returns the subject.

    The event goes out as the partner; a refused one is dead-lettered by the backbone (its
    `backbone` user: a partner publishes only on its own inbound subjects)."""
    async with Connections(settings_for(url, settings), url) as conns:
        try:
            event = validate_inbound(partner, raw, settings)
        except IngressRefusedError as exc:
            backbone = (await conns.user(SUPERVISOR_USER)).jetstream()
            await publish_deadletter(
                backbone, INGRESS, exc, raw, subject=f"in.{partner}", stream_seq=None, seal=seal
            )
            if PARTNER_ID.match(partner):
                # The partner's feed says so too: its system reads one answer per event.
                digest = hashlib.sha256(raw).hexdigest()
                event_id = readable_event_id(raw)
                await publish_receipts(
                    backbone,
                    [receipt(INGRESS, partner, stream_seq=None, event_id=event_id,
                             refusal=exc, key=digest)],
                )  # fmt: skip
            raise
        subject = event.inbound_subject(partner)
        js = (await conns.partner(partner)).jetstream()
        await js.publish(subject, raw, headers=inbound_headers(event))
        return subject

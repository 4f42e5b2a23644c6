"""Dead letters: refused input goes to `ketenbus.deadletter.<service>` with its reason.

A message that fails validation, names an unknown type or breaks a business rule is never
retried: it is published to the dead-letter stream with the reason and the original bytes and
then acknowledged with its batch, so the consumer goes on with the next (valid) message. The
reason never quotes the input, since the input may hold personal data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from nats.js import JetStreamContext
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError
from ketenbus_contracts.sealing import encrypt_to
from services.runtime.keyring import KLUIS_PARTNER_ID, load_public_keys
from services.runtime.streams import DEADLETTER, deadletter_subject

log = structlog.get_logger(__name__)

# Seals the original bytes of a dead letter (they may hold personal data).
SealOriginal = Callable[[bytes], str]


def describe(exc: BaseException) -> tuple[str, list[dict[str, Any]]]:
    """A reason code and details for a refusal, without any input values."""
    if isinstance(exc, ValidationError):
        details = [
            {"loc": _location(err["loc"]), "type": err["type"], "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        if [d["loc"] for d in details] == ["ketenbussig"]:
            # A signature refusal (services.runtime.signatures) is named by its own code.
            return str(details[0]["type"]), details
        return "invalid", details
    if isinstance(exc, UnknownEventTypeError):
        return "unknown-type", [{"msg": str(exc)}]
    code = getattr(exc, "code", None)
    # A refusal that names itself (ingress: `missing-signature`, …) keeps that name.
    return (code if isinstance(code, str) else type(exc).__name__), [{"msg": str(exc)}]


def _location(loc: tuple[int | str, ...]) -> str:
    """A field path inside the event, without the discriminated union's type tag."""
    parts = [str(p) for p in loc]
    for index, part in enumerate(parts):
        if part.startswith("nl.ketenbus."):
            return ".".join(parts[index + 1 :])
    return ".".join(parts)


def deadletter_record(
    service: str,
    exc: BaseException,
    body: bytes,
    *,
    subject: str,
    stream_seq: int | None,
    seal: SealOriginal | None = None,
) -> dict[str, Any]:
    """The dead letter: reason, where it came from, and the original sealed to kluis.

    The original may hold personal data in clear (that may be why it was refused), so it is
    kept only as a JWE to kluis's X25519 key; without that key it is withheld.
    """
    code, details = describe(exc)
    original: dict[str, Any]
    if seal is None:
        original = {"withheld": "no key to seal the original to"}
    else:
        original = {"sealed_to": "kluis", "jwe": seal(body)}
    return {
        "service": service,
        "reason": code,
        "details": details,
        "subject": subject,
        "stream_seq": stream_seq,
        "refused_at": datetime.now(UTC).isoformat(),
        "original": original,
    }


def kluis_sealer(data_dir: Path) -> SealOriginal | None:
    """Seals dead-letter originals to kluis's public X25519 key, when kluis has one."""
    public = load_public_keys(data_dir, KLUIS_PARTNER_ID)
    if public is None:
        return None
    recipient = public.encryption

    def seal(body: bytes) -> str:
        return encrypt_to({"original_b64": base64.b64encode(body).decode()}, recipient)

    return seal


async def publish_deadletter(
    js: JetStreamContext,
    service: str,
    exc: BaseException,
    body: bytes,
    *,
    subject: str,
    stream_seq: int | None,
    seal: SealOriginal | None = None,
) -> None:
    """Publish a refusal to `ketenbus.deadletter.<service>` (deduplicated per source message)."""
    record = deadletter_record(
        service, exc, body, subject=subject, stream_seq=stream_seq, seal=seal
    )
    headers = {"Ketenbus-Reason": record["reason"]}
    if stream_seq is not None:
        headers["Nats-Msg-Id"] = f"{service}:{subject.split('.')[0]}:{stream_seq}"
    await js.publish(
        deadletter_subject(service),
        json.dumps(record).encode(),
        stream=DEADLETTER.name,
        headers=headers,
    )
    log.warning("input_refused", service=service, reason=record["reason"], stream_seq=stream_seq)

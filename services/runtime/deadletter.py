"""Dead letters: refused input goes to `ketenbus.deadletter.<service>` with its reason.

A message that fails validation, names an unknown type or breaks a business rule is never
retried: it is published to the dead-letter stream with the reason and then acknowledged with
its batch, so the consumer goes on with the next (valid) message. The reason never quotes the
input, since the input may hold personal data: the original bytes are kept only sealed to
kluis, and a message refused as `too-large` only as its size and sha256. A dead letter never
exceeds the server's max_payload: when the sealed original would not fit, it is left out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pydantic import ValidationError

from ketenbus_contracts.envelope import EventTooDeepError, UnknownEventTypeError
from ketenbus_contracts.sealing import PartnerKeys, encrypt_to
from ketenbus_contracts.signing import SignatureError
from ketenbus_partner.keys import KLUIS_PARTNER_ID, fetch_signer_keys, load_public_keys
from services.runtime.inbound import Refusal, refusal_of
from services.runtime.streams import DEADLETTER, deadletter_subject

log = structlog.get_logger(__name__)

# Seals the original bytes of a dead letter (they may hold personal data).
SealOriginal = Callable[[bytes], str]

# Room left in the server's max_payload for the dead letter's headers.
HEADER_ROOM = 1024


@dataclass(frozen=True)
class Refused:
    """One refused input: which service refused it, why, its bytes and where they came from
    (`stream_seq` None for what never reached a stream), and how to seal the original."""

    service: str
    reason: BaseException | Refusal
    body: bytes
    subject: str
    stream_seq: int | None
    seal: SealOriginal | None = None


def describe(reason: BaseException | Refusal) -> Refusal:
    """The refusal with its reason code, without any input values.

    A business rule's refusal (a named `…Error` of a service, with a `code` or named by its
    type) keeps its message: ours, quoting no input."""
    if isinstance(reason, Refusal):
        return reason
    if isinstance(
        reason, ValidationError | UnknownEventTypeError | EventTooDeepError | SignatureError
    ):
        return refusal_of(reason)
    code = getattr(reason, "code", None)
    name = code if isinstance(code, str) else type(reason).__name__
    return Refusal(name, ({"msg": str(reason)},))


def partner_of(subject: str) -> str | None:
    """The publishing partner of an inbound subject (`in.<partner>.…`), None for others."""
    parts = subject.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "in" else None


def deadletter_record(refused: Refused, max_bytes: int | None = None) -> dict[str, Any]:
    """The dead letter: reason, where it came from, and the original sealed to kluis.

    The original may hold personal data in clear (that may be why it was refused), so it is
    kept only as a JWE to kluis's X25519 key; without that key it is withheld, and so it is
    for a message too large to accept or when the record would exceed `max_bytes`.
    """
    refusal, body = describe(refused.reason), refused.body
    record: dict[str, Any] = {
        "service": refused.service,
        "reason": refusal.code,
        "details": list(refusal.details),
        "subject": refused.subject,
        "partner": partner_of(refused.subject),
        "stream_seq": refused.stream_seq,
        "refused_at": datetime.now(UTC).isoformat(),
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    if refusal.code == "too-large":
        record["original"] = {"withheld": "too large: kept as its size and sha256"}
    elif refused.seal is None:
        record["original"] = {"withheld": "no key to seal the original to"}
    else:
        record["original"] = {"sealed_to": "kluis", "jwe": refused.seal(body)}
    if max_bytes is not None and len(json.dumps(record)) > max_bytes:
        record["details"] = record["details"][:1]
        record["original"] = {"withheld": "the sealed original exceeds the dead letter's limit"}
    return record


def kluis_sealer(data_dir: Path, public: PartnerKeys | None = None) -> SealOriginal | None:
    """Seals dead-letter originals to kluis's public X25519 key (`public`: as every host shares
    it, services.runtime.signers; else the data directory's), when kluis has one."""
    public = public or load_public_keys(data_dir, KLUIS_PARTNER_ID)
    if public is None:
        return None
    recipient = public.encryption

    def seal(body: bytes) -> str:
        return encrypt_to({"original_b64": base64.b64encode(body).decode()}, recipient)

    return seal


async def shared_kluis_sealer(nc: NatsClient, data_dir: Path) -> SealOriginal | None:
    """`kluis_sealer` with kluis's key as the backbone shares it (read over `nc` from the
    signers' bucket), else the data directory's: a CLI on a host without kluis seals too."""
    return kluis_sealer(data_dir, await fetch_signer_keys(nc, KLUIS_PARTNER_ID))


async def publish_deadletter(
    js: JetStreamContext, refused: Refused, max_payload: int | None = None
) -> None:
    """Publish a refusal to `ketenbus.deadletter.<service>` (deduplicated per source message),
    within the connection's `max_payload`."""
    service, subject, stream_seq = refused.service, refused.subject, refused.stream_seq
    max_bytes = None if max_payload is None else max_payload - HEADER_ROOM
    record = deadletter_record(refused, max_bytes)
    headers = {"Ketenbus-Reason": record["reason"]}
    if stream_seq is not None:
        headers["Nats-Msg-Id"] = f"{service}:{subject.split('.')[0]}:{stream_seq}"
    await js.publish(
        deadletter_subject(service),
        json.dumps(record).encode(),
        stream=DEADLETTER.name,
        headers=headers,
    )
    log.warning(
        "input_refused",
        service=service,
        reason=record["reason"],
        partner=record["partner"],
        stream_seq=stream_seq,
    )

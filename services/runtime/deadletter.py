"""Dead letters: refused input goes to `ketenbus.deadletter.<service>` with its reason.

A message that fails validation, names an unknown type or breaks a business rule is never
retried: it is published to the dead-letter stream with the reason and the original bytes and
then acknowledged with its batch, so the consumer goes on with the next (valid) message. The
reason never quotes the input, since the input may hold personal data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from nats.js import JetStreamContext
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError
from services.runtime.streams import DEADLETTER, deadletter_subject

log = structlog.get_logger(__name__)

# Seals the original bytes of a dead letter (they may hold personal data); set once sealing
# exists, until then the bytes are kept base64-encoded.
SealOriginal = Callable[[bytes], Awaitable[dict[str, Any]]]


def describe(exc: BaseException) -> tuple[str, list[dict[str, Any]]]:
    """A reason code and details for a refusal, without any input values."""
    if isinstance(exc, ValidationError):
        details = [
            {"loc": _location(err["loc"]), "type": err["type"], "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return "invalid", details
    if isinstance(exc, UnknownEventTypeError):
        return "unknown-type", [{"msg": str(exc)}]
    return type(exc).__name__, [{"msg": str(exc)}]


def _location(loc: tuple[int | str, ...]) -> str:
    """A field path inside the event: without the handler's argument name and type tag."""
    parts = [str(p) for p in loc]
    for index, part in enumerate(parts):
        if part.startswith("nl.ketenbus."):  # the discriminated-union tag
            parts = parts[index + 1 :]
            break
    else:
        if len(parts) > 1 and parts[0] in HANDLER_ARGUMENTS:
            parts = parts[1:]
    return ".".join(parts)


# The names service handlers give their decoded argument (faststream puts it in the path).
HANDLER_ARGUMENTS = frozenset({"event", "query", "body"})


def deadletter_record(
    service: str, exc: BaseException, body: bytes, *, subject: str, stream_seq: int | None
) -> dict[str, Any]:
    code, details = describe(exc)
    return {
        "service": service,
        "reason": code,
        "details": details,
        "subject": subject,
        "stream_seq": stream_seq,
        "refused_at": datetime.now(UTC).isoformat(),
        "original": {"encoding": "base64", "bytes": base64.b64encode(body).decode()},
    }


async def publish_deadletter(
    js: JetStreamContext,
    service: str,
    exc: BaseException,
    body: bytes,
    *,
    subject: str,
    stream_seq: int | None,
) -> None:
    """Publish a refusal to `ketenbus.deadletter.<service>` (deduplicated per source message)."""
    record = deadletter_record(service, exc, body, subject=subject, stream_seq=stream_seq)
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

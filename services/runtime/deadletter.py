"""Dead letters: refused input goes to `ketenbus.deadletter.<service>` with its reason.

A message that fails validation, names an unknown type or breaks a business rule is never
retried: it is published to the dead-letter stream with the reason and the original bytes and
then acknowledged, so the consumer goes on with the next (valid) message. The reason never
quotes the input, since the input may hold personal data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream._internal.middlewares import BaseMiddleware
from faststream.message import StreamMessage
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
            {"loc": ".".join(str(p) for p in err["loc"]), "type": err["type"], "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return "invalid", details
    if isinstance(exc, UnknownEventTypeError):
        return "unknown-type", [{"msg": str(exc)}]
    return type(exc).__name__, [{"msg": str(exc)}]


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


def deadletter_middleware(
    service: str, refused: tuple[type[BaseException], ...]
) -> type[BaseMiddleware[Any, Any]]:
    """A faststream middleware that dead-letters the `refused` exceptions of `service`."""
    catch = (ValidationError, UnknownEventTypeError, *refused)

    class DeadLetter(BaseMiddleware[Any, Any]):
        async def consume_scope(
            self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            try:
                return await call_next(msg)
            except catch as exc:
                raw = msg.raw_message
                metadata = getattr(raw, "metadata", None)
                seq = metadata.sequence.stream if metadata is not None else None
                subject = getattr(raw, "subject", "")
                record = deadletter_record(service, exc, msg.body, subject=subject, stream_seq=seq)
                broker = self.context.get("broker")
                await broker.publish(
                    json.dumps(record).encode(),
                    deadletter_subject(service),
                    stream=DEADLETTER.name,
                    headers={
                        "Nats-Msg-Id": f"{service}:{subject.split('.')[0]}:{seq}",
                        "Ketenbus-Reason": record["reason"],
                    },
                )
                log.warning(
                    "input_refused", service=service, reason=record["reason"], stream_seq=seq
                )
                return None

    return DeadLetter

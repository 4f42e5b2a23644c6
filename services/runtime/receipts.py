"""Receipts: every inbound event is answered on its partner's feed, accepted or refused.

The service that decides on an inbound message (or ingress, when it refuses before the
stream) publishes a `Receipt` on `feed.<partner>.receipt`: `accepted` with the INBOUND stream
sequence and the event id, `refused` with a kebab-case reason code and the event id when the
message had a readable one. Never the content. `Nats-Msg-Id` = the receipt id, derived from
the service and the stream sequence, so a batch processed again after a restart answers once.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import nats.errors
import structlog
from nats.js import JetStreamContext

from ketenbus_contracts.envelope import check_depth
from ketenbus_contracts.feed import REASON_CODE_PATTERN, Receipt
from services.runtime.deadletter import describe
from services.runtime.inbound import Refusal
from services.runtime.streams import FEED, receipt_subject

log = structlog.get_logger(__name__)

RECEIPT_NAMESPACE = uuid.UUID("7d3c1f0a-9e2b-4a55-8c61-726563656970")
# An event id is looked for only in a message this small (a refused one may be anything).
ID_LOOKUP_LIMIT = 256 * 1024
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def reason_code(exc: BaseException | Refusal) -> str:
    """The refusal's kebab-case reason code (a named error without a code: its name)."""
    code = describe(exc).code
    if re.match(REASON_CODE_PATTERN, code):
        return code
    name = code.removesuffix("Error")
    kebab = _CAMEL.sub("-", name).lower()
    return kebab if re.match(REASON_CODE_PATTERN, kebab) else "refused"


def inbound_partner(subject: str) -> str | None:
    """The publishing partner of `in.<partner>.…` (None for any other subject)."""
    parts = subject.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "in" else None


def readable_event_id(raw: bytes) -> uuid.UUID | None:
    """The `id` of a refused message when it is a small JSON object with a UUID there."""
    if len(raw) > ID_LOOKUP_LIMIT:
        return None
    try:
        check_depth(raw)  # a recursive parser on deep input: RecursionError
        envelope = json.loads(raw)
        return uuid.UUID(str(envelope["id"])) if isinstance(envelope, dict) else None
    except Exception:  # anything a partner sent: no id, then
        return None


def receipt(
    service: str,
    partner: str,
    *,
    stream_seq: int | None,
    event_id: uuid.UUID | None,
    refusal: BaseException | Refusal | None = None,
    key: str | None = None,
) -> Receipt:
    """The receipt for one inbound message (`refusal` None: accepted); `key` identifies the
    message when it has no stream sequence (refused at the edge)."""
    which = f"{service}/{stream_seq}" if stream_seq is not None else f"{service}/{key}"
    return Receipt(
        id=uuid.uuid5(RECEIPT_NAMESPACE, which),
        partner=partner,
        status="accepted" if refusal is None else "refused",
        event_id=event_id,
        stream_seq=stream_seq,
        service=service,
        reason=None if refusal is None else reason_code(refusal),
        decided_at=datetime.now(UTC),
    )


def batch_receipts(
    service: str,
    messages: Mapping[int, Any],
    decoded: Iterable[tuple[int, Any]],
    refused: Iterable[tuple[int, BaseException | Refusal]],
) -> list[Receipt]:
    """The receipts of a consumed INBOUND batch: stream sequence → message (with `subject`
    and `data`), the decoded events, and the refusals (decoding or business rules)."""
    events = dict(decoded)
    refusals = dict(refused)
    receipts = []
    for seq in sorted(messages):
        partner = inbound_partner(messages[seq].subject)
        if partner is None:
            continue
        event = events.get(seq)
        event_id = event.id if event is not None else readable_event_id(messages[seq].data)
        receipts.append(
            receipt(service, partner, stream_seq=seq, event_id=event_id, refusal=refusals.get(seq))
        )
    return receipts


async def publish_receipts(js: JetStreamContext, receipts: Iterable[Receipt]) -> None:
    """Publish the receipts on their partners' feeds (deduplicated by receipt id).

    A receipt that cannot be published is logged, not raised: the answer must not stop the
    record (a user without `feed.*.receipt` in its permissions would otherwise stall the
    service on every batch). A server that is away fails the batch's acks as well, so the
    batch comes again and its receipts with it.
    """
    todo = list(receipts)
    try:
        acks = [
            await js.publish_async(
                receipt_subject(r.partner),
                r.to_bytes(),
                stream=FEED.name,
                headers={"Nats-Msg-Id": str(r.id)},
            )
            for r in todo
        ]
        await asyncio.gather(*acks)
    except (nats.errors.Error, TimeoutError) as exc:
        log.error("receipts_not_published", count=len(todo), error=type(exc).__name__)

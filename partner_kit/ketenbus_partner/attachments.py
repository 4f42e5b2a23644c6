"""Handing a handover's sealed attachments to the handover service and getting them back, as a
partner: the asking side of `ketenbus.attachment.put` and `.get` (the backbone's handover
service is the desk that answers).

Each request is signed by the partner (an `AttachmentRequest` JWS, ketenbus_contracts.handover)
and carries one chunk, at most `CHUNK_BYTES`; the OSO adapter and a partner's own tools use
this, never the object store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Literal

from nats.aio.client import Client as NatsClient

from ketenbus_contracts.handover import (
    ATTACHMENT_GET_SUBJECT,
    ATTACHMENT_PUT_SUBJECT,
    ATTACHMENT_REQUEST_HEADER,
    ATTACHMENT_REQUEST_TYP,
    AttachmentRequest,
)
from ketenbus_contracts.sealing import PartnerKeys, sign_request

# Raw bytes per chunk: base64 in a JSON answer stays well below the 1 MB payload limit.
CHUNK_BYTES = 256 * 1024


def attachment_name(sealed_in: uuid.UUID, ref: str) -> str:
    """The store name of an attachment sealed in event `sealed_in` under OSO reference `ref`."""
    return f"{sealed_in}/{ref}"


def chunks_of(blob: bytes) -> list[bytes]:
    return [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]


class AttachmentRefusedError(RuntimeError):
    """The handover service refused an attachment (the reason code is the message)."""


def attachment_request(
    keys: PartnerKeys,
    op: Literal["put", "get"],
    handover_id: uuid.UUID,
    name: str,
    chunk: int,
    body: bytes = b"",
    *,
    last: bool = False,
) -> dict[str, str]:
    """The header of a signed attachment request of `keys`'s partner."""
    request = AttachmentRequest(
        partner=keys.partner,
        op=op,
        handover_id=handover_id,
        name=name,
        chunk=chunk,
        last=last,
        sha256=hashlib.sha256(body).hexdigest() if op == "put" else None,
    )
    token = sign_request(request, keys.signing, typ=ATTACHMENT_REQUEST_TYP)
    return {ATTACHMENT_REQUEST_HEADER: token.decode("ascii")}


async def put_attachment(
    nc: NatsClient,
    keys: PartnerKeys,
    handover_id: uuid.UUID,
    name: str,
    blob: bytes,
    timeout: float = 10.0,
) -> None:
    """Hand a sealed attachment of the handover to the handover service (as `keys`'s partner,
    its sender)."""
    parts = chunks_of(blob)
    for n, part in enumerate(parts):
        headers = attachment_request(
            keys, "put", handover_id, name, n, part, last=n == len(parts) - 1
        )
        reply = json.loads(
            (await nc.request(ATTACHMENT_PUT_SUBJECT, part, timeout=timeout, headers=headers)).data
        )
        if not reply.get("ok"):
            raise AttachmentRefusedError(str(reply.get("reason")))


async def get_attachment(
    nc: NatsClient, keys: PartnerKeys, handover_id: uuid.UUID, name: str, timeout: float = 10.0
) -> bytes:
    """A sealed attachment of the handover from the handover service (as `keys`'s partner)."""
    out, n, total = bytearray(), 0, 1
    while n < total:
        headers = attachment_request(keys, "get", handover_id, name, n)
        reply = json.loads(
            (await nc.request(ATTACHMENT_GET_SUBJECT, b"", timeout=timeout, headers=headers)).data
        )
        if not reply.get("ok"):
            raise AttachmentRefusedError(str(reply.get("reason")))
        out += base64.b64decode(reply["data"])
        total, n = int(reply["chunks"]), n + 1
    return bytes(out)

"""A handover's sealed attachments, kept by the handover service: partners never touch the
object store.

A partner's NATS user has no object-store permission (a publish on the store's subjects can
replace any object, and a roll-up header purge the whole store). It hands a sealed attachment to
the handover service over request/reply, in chunks below the payload limit, and gets one back
the same way. Every request is signed as a kluis request is: an `AttachmentRequest`
(ketenbus_contracts.handover) as a JWS in the header `Ketenbus-Request`, naming the partner,
the operation, the handover, the object and the chunk, issued within two minutes, answered once
(its nonce), a put's chunk bound by its sha256.

- `ketenbus.attachment.put`: the body is the chunk (0, 1, …; `last` on the last one). Only the
  handover's sender puts; the object is stored when the last chunk arrives, with the handover it
  belongs to; a name is written once (`exists` otherwise).
- `ketenbus.attachment.get`: the answer carries the chunk (base64) and the number of chunks.
  The sender gets, and the receiver once the dossier is delivered; the object must belong to
  the handover the request names (`not-found` otherwise, as for a name that does not exist).

Every answer is JSON: `{"ok": true, ...}` or `{"ok": false, "reason": <code>}`: the signed
request's codes (`unsigned-request`, `invalid-request`, `unknown-partner`, `bad-signature`,
`stale-request`, `replayed-request`), `unknown-handover`, `not-the-sender`, `not-a-party`, and
the desk's own (`invalid`, `out-of-order`, `too-large`, `exists`, `not-found`). The name is
`<id of the event the attachment was sealed in>/<the OSO reference>`; what it names is sealed
with the child's handover key besides. This is the desk that answers; what asks is the partner
kit's `ketenbus_partner/attachments.py` (partner_kit/).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient
from nats.js.api import ObjectMeta
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore
from pydantic import TypeAdapter

from ketenbus_contracts.handover import (
    ATTACHMENT_GET_SUBJECT,
    ATTACHMENT_PUT_SUBJECT,
    ATTACHMENT_REQUEST_HEADER,
    ATTACHMENT_REQUEST_TYP,
    AttachmentRequest,
)
from ketenbus_contracts.sealing import (
    MAX_REQUEST_SKEW_SECONDS,
    KluisProtocolError,
    verify_signed,
)
from ketenbus_partner.attachments import CHUNK_BYTES, chunks_of
from services.runtime.replay import ReplayGuard, Replays
from services.runtime.streams import HANDOVER_ATTACHMENTS

log = structlog.get_logger(__name__)

PUT_SUBJECT = ATTACHMENT_PUT_SUBJECT
GET_SUBJECT = ATTACHMENT_GET_SUBJECT
# The handover an object belongs to, in its object-store metadata.
HANDOVER_META = "Ketenbus-Handover"
_REQUESTS = TypeAdapter(AttachmentRequest)

MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_UPLOADS = 16  # unfinished uploads held at once
CACHED_OBJECTS = 4  # whole objects kept for chunked reads


def refused(reason: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason}


@dataclass
class _Upload:
    partner: str
    handover_id: uuid.UUID
    data: bytearray = field(default_factory=bytearray)
    next_chunk: int = 0


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# May `partner` `op` ("put", "get") an attachment of the handover? None, or the refusal code.
Access = Callable[[uuid.UUID, str, str], Awaitable[str | None]]


@dataclass
class AttachmentDesk:
    """The handover service's side: signed requests checked, uploads in progress and recently
    read objects."""

    nc: NatsClient
    public_key_for: Callable[[str], OKPKey | None]
    access: Access
    # The running service's shared guard (services.runtime.replay), or one in memory.
    replays: Replays = field(default_factory=lambda: ReplayGuard(MAX_REQUEST_SKEW_SECONDS))
    uploads: OrderedDict[str, _Upload] = field(default_factory=OrderedDict)
    cache: OrderedDict[str, tuple[uuid.UUID, bytes]] = field(default_factory=OrderedDict)
    _store: ObjectStore | None = None

    async def store(self) -> ObjectStore:
        if self._store is None:
            self._store = await self.nc.jetstream().object_store(HANDOVER_ATTACHMENTS.name)
        return self._store

    async def _verified(self, op: str, headers: dict[str, str], body: bytes) -> AttachmentRequest:
        """The signed request of this message, checked; its partner may do `op` on the named
        handover (`_Refused` with the code otherwise)."""
        token = headers.get(ATTACHMENT_REQUEST_HEADER, "")
        if not token:
            raise _Refused("unsigned-request")
        try:
            request = verify_signed(
                token.encode(), self.public_key_for, _REQUESTS, typ=ATTACHMENT_REQUEST_TYP
            )
        except KluisProtocolError as exc:
            raise _Refused(exc.code) from None
        if request.op != op:
            raise _Refused("invalid-request")
        if op == "put" and request.sha256 != hashlib.sha256(body).hexdigest():
            raise _Refused("bad-signature")  # the chunk is not the one that was signed
        if not await self.replays.first(request.partner, request.nonce, time.time()):
            raise _Refused("replayed-request")
        refusal = await self.access(request.handover_id, request.partner, op)
        if refusal is not None:
            raise _Refused(refusal)
        return request

    async def put(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        try:
            request = await self._verified("put", headers, body)
        except _Refused as refusal:
            log.warning("attachment_refused", op="put", reason=refusal.code)
            return refused(refusal.code)
        name, chunk = request.name, request.chunk
        if len(body) > CHUNK_BYTES:
            return refused("invalid")
        upload = self.uploads.get(name)
        if upload is None:
            if chunk != 0:
                return refused("out-of-order")
            if len(self.uploads) >= MAX_UPLOADS:
                self.uploads.popitem(last=False)  # the oldest unfinished upload is given up
            upload = self.uploads[name] = _Upload(request.partner, request.handover_id)
        if (upload.partner, upload.handover_id) != (request.partner, request.handover_id):
            return refused("out-of-order")  # another's upload of that name: leave it alone
        if chunk != upload.next_chunk:
            self.uploads.pop(name, None)
            return refused("out-of-order")
        if len(upload.data) + len(body) > MAX_OBJECT_BYTES:
            self.uploads.pop(name, None)
            return refused("too-large")
        upload.data += body
        upload.next_chunk += 1
        if not request.last:
            return {"ok": True}
        del self.uploads[name]
        store = await self.store()
        try:
            await store.get_info(name)
        except NotFoundError:
            meta = ObjectMeta(name=name, headers={HANDOVER_META: str(request.handover_id)})
            await store.put(name, bytes(upload.data), meta=meta)
            log.info("attachment_stored", chunks=upload.next_chunk, size=len(upload.data))
            return {"ok": True}
        return refused("exists")

    async def get(self, headers: dict[str, str]) -> dict[str, Any]:
        try:
            request = await self._verified("get", headers, b"")
        except _Refused as refusal:
            log.warning("attachment_refused", op="get", reason=refusal.code)
            return refused(refusal.code)
        name = request.name
        cached = self.cache.get(name)
        if cached is None:
            try:
                found = await (await self.store()).get(name)
            except NotFoundError:
                return refused("not-found")
            meta_headers = found.info.headers or {}
            cached = (
                uuid.UUID(meta_headers.get(HANDOVER_META, str(uuid.UUID(int=0)))),
                found.data or b"",
            )
            self.cache[name] = cached
            while len(self.cache) > CACHED_OBJECTS:
                self.cache.popitem(last=False)
        belongs_to, blob = cached
        if belongs_to != request.handover_id:
            return refused("not-found")  # as if it did not exist: names are not to be probed
        parts = chunks_of(blob)
        if request.chunk >= len(parts):
            return refused("invalid")
        data = base64.b64encode(parts[request.chunk]).decode()
        return {"ok": True, "chunks": len(parts), "data": data}

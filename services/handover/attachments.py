"""A handover's sealed attachments, kept by the handover service: partners never touch the
object store.

A partner's NATS user has no object-store permission (a publish on the store's subjects can
replace any object, and a roll-up header purge the whole store). It hands a sealed attachment to
the handover service over request/reply, in chunks below the payload limit, and gets one back
the same way:

- `ketenbus.attachment.put`: headers `Ketenbus-Object` (the name), `Ketenbus-Chunk`
  (0, 1, …) and `Ketenbus-Last` (`1` on the last chunk); the body is the chunk. The object is
  stored when the last chunk arrives; a name is written once (`exists` otherwise).
- `ketenbus.attachment.get`: headers `Ketenbus-Object` and `Ketenbus-Chunk`; the answer
  carries the chunk (base64) and the number of chunks.

Every answer is JSON: `{"ok": true, ...}` or `{"ok": false, "reason": <code>}`. The name is
`<id of the event the attachment was sealed in>/<the OSO reference>`: the event id is a random
UUID only those who opened the sealed section learn, so knowing the name is the grant, and what
it names is sealed with the child's handover key besides.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from services.runtime.streams import HANDOVER_ATTACHMENTS

log = structlog.get_logger(__name__)

PUT_SUBJECT = "ketenbus.attachment.put"
GET_SUBJECT = "ketenbus.attachment.get"
OBJECT_HEADER = "Ketenbus-Object"
CHUNK_HEADER = "Ketenbus-Chunk"
LAST_HEADER = "Ketenbus-Last"

# Raw bytes per chunk: base64 in a JSON answer stays well below the 1 MB payload limit.
CHUNK_BYTES = 256 * 1024
MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_UPLOADS = 16  # unfinished uploads held at once
CACHED_OBJECTS = 4  # whole objects kept for chunked reads

_NAME = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[A-Za-z0-9._-]{1,128}$"
)


def attachment_name(sealed_in: uuid.UUID, ref: str) -> str:
    """The store name of an attachment sealed in event `sealed_in` under OSO reference `ref`."""
    return f"{sealed_in}/{ref}"


def chunks_of(blob: bytes) -> list[bytes]:
    return [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]


def refused(reason: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason}


@dataclass
class _Upload:
    data: bytearray = field(default_factory=bytearray)
    next_chunk: int = 0


@dataclass
class AttachmentDesk:
    """The handover service's side: uploads in progress and recently read objects."""

    nc: NatsClient
    uploads: OrderedDict[str, _Upload] = field(default_factory=OrderedDict)
    cache: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    _store: ObjectStore | None = None

    async def store(self) -> ObjectStore:
        if self._store is None:
            self._store = await self.nc.jetstream().object_store(HANDOVER_ATTACHMENTS.name)
        return self._store

    async def put(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        name, chunk = headers.get(OBJECT_HEADER, ""), headers.get(CHUNK_HEADER, "")
        if not _NAME.match(name) or not chunk.isdigit() or len(body) > CHUNK_BYTES:
            return refused("invalid")
        upload = self.uploads.get(name)
        if upload is None:
            if int(chunk) != 0:
                return refused("out-of-order")
            if len(self.uploads) >= MAX_UPLOADS:
                self.uploads.popitem(last=False)  # the oldest unfinished upload is given up
            upload = self.uploads[name] = _Upload()
        if int(chunk) != upload.next_chunk:
            self.uploads.pop(name, None)
            return refused("out-of-order")
        if len(upload.data) + len(body) > MAX_OBJECT_BYTES:
            self.uploads.pop(name, None)
            return refused("too-large")
        upload.data += body
        upload.next_chunk += 1
        if headers.get(LAST_HEADER) != "1":
            return {"ok": True}
        del self.uploads[name]
        store = await self.store()
        try:
            await store.get_info(name)
        except NotFoundError:
            await store.put(name, bytes(upload.data))
            log.info("attachment_stored", chunks=upload.next_chunk, size=len(upload.data))
            return {"ok": True}
        return refused("exists")

    async def get(self, headers: dict[str, str]) -> dict[str, Any]:
        name, chunk = headers.get(OBJECT_HEADER, ""), headers.get(CHUNK_HEADER, "0")
        if not _NAME.match(name) or not chunk.isdigit():
            return refused("invalid")
        blob = self.cache.get(name)
        if blob is None:
            try:
                blob = (await (await self.store()).get(name)).data or b""
            except NotFoundError:
                return refused("not-found")
            self.cache[name] = blob
            while len(self.cache) > CACHED_OBJECTS:
                self.cache.popitem(last=False)
        parts = chunks_of(blob)
        if int(chunk) >= len(parts):
            return refused("invalid")
        data = base64.b64encode(parts[int(chunk)]).decode()
        return {"ok": True, "chunks": len(parts), "data": data}


class AttachmentRefusedError(RuntimeError):
    """The handover service refused an attachment (the reason code is the message)."""


async def put_attachment(nc: NatsClient, name: str, blob: bytes, timeout: float = 10.0) -> None:
    """Hand a sealed attachment to the handover service (as the connection's partner)."""
    parts = chunks_of(blob)
    for n, part in enumerate(parts):
        headers = {
            OBJECT_HEADER: name,
            CHUNK_HEADER: str(n),
            LAST_HEADER: "1" if n == len(parts) - 1 else "0",
        }
        reply = json.loads(
            (await nc.request(PUT_SUBJECT, part, timeout=timeout, headers=headers)).data
        )
        if not reply.get("ok"):
            raise AttachmentRefusedError(str(reply.get("reason")))


async def get_attachment(nc: NatsClient, name: str, timeout: float = 10.0) -> bytes:
    """A sealed attachment from the handover service."""
    out, n, total = bytearray(), 0, 1
    while n < total:
        headers = {OBJECT_HEADER: name, CHUNK_HEADER: str(n)}
        reply = json.loads(
            (await nc.request(GET_SUBJECT, b"", timeout=timeout, headers=headers)).data
        )
        if not reply.get("ok"):
            raise AttachmentRefusedError(str(reply.get("reason")))
        out += base64.b64decode(reply["data"])
        total, n = int(reply["chunks"]), n + 1
    return bytes(out)

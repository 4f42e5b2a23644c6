"""The handover service keeps the sealed attachments: partners hand them over in chunks and get
them back by name; a name is written once."""

from __future__ import annotations

import json
import uuid
from functools import partial

import nats
import pytest

from services.handover import attachments
from services.handover.attachments import (
    CHUNK_HEADER,
    OBJECT_HEADER,
    AttachmentDesk,
    AttachmentRefusedError,
    attachment_name,
    get_attachment,
    put_attachment,
)
from services.runtime.streams import ensure_streams

pytestmark = pytest.mark.integration


async def test_an_attachment_goes_in_and_out_in_chunks_and_is_written_once(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "CHUNK_BYTES", 4)
    nc = await nats.connect(nats_url)
    try:
        await ensure_streams(nc.jetstream())
        desk = AttachmentDesk(nc)
        sub_put = await nc.subscribe(attachments.PUT_SUBJECT, cb=partial(answer, desk))
        sub_get = await nc.subscribe(attachments.GET_SUBJECT, cb=partial(answer, desk))
        name = attachment_name(uuid.uuid4(), "bijlage-1")
        await put_attachment(nc, name, b"sealed attachment")
        back = await get_attachment(nc, name)
        with pytest.raises(AttachmentRefusedError, match="exists"):
            await put_attachment(nc, name, b"replaced")
        with pytest.raises(AttachmentRefusedError, match="not-found"):
            await get_attachment(nc, attachment_name(uuid.uuid4(), "bijlage-1"))
        refused = await desk.get({OBJECT_HEADER: "../../etc/passwd", CHUNK_HEADER: "0"})
        await sub_put.unsubscribe()
        await sub_get.unsubscribe()
    finally:
        await nc.close()

    assert b"sealed attachment" == back
    assert {"ok": False, "reason": "invalid"} == refused


async def answer(desk: AttachmentDesk, msg: nats.aio.msg.Msg) -> None:
    headers = dict(msg.headers or {})
    if msg.subject == attachments.PUT_SUBJECT:
        reply = await desk.put(headers, msg.data)
    else:
        reply = await desk.get(headers)
    await msg.respond(json.dumps(reply).encode())

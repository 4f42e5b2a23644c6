"""The handover service keeps the sealed attachments: the sender hands them over in chunks and
the parties get them back by name, each request signed; a name is written once.

The desk answers here on a real nats-server, with the handover's rule of who may do what as
`HandoverApplication.attachment_refusal` gives it (tested on its own): the sender puts and
gets, the receiver gets once delivered. The attacks on the desk run under the registry
authorization in tests/integration/test_wire_attacks.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import nats
import pytest
import pytest_asyncio
from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_partner import attachments as partner_kit
from ketenbus_partner.attachments import (
    AttachmentRefusedError,
    attachment_name,
    attachment_request,
    get_attachment,
    put_attachment,
)
from services.handover import attachments
from services.handover.attachments import (
    AttachmentDesk,
)
from services.runtime.streams import ensure_streams

pytestmark = pytest.mark.integration

SENDER, RECEIVER, OTHER = "bs-de-regenboog", "vo-het-lyceum", "bs-andere-school"


@dataclass
class Handovers:
    """Who may put and get the attachments of which handover, as the handover service says."""

    keys: dict[str, PartnerKeys] = field(
        default_factory=lambda: {p: PartnerKeys.generate(p) for p in (SENDER, RECEIVER, OTHER)}
    )
    started: uuid.UUID = field(default_factory=uuid.uuid4)
    delivered: bool = False

    def public_key_for(self, partner: str) -> OKPKey | None:
        keys = self.keys.get(partner)
        return None if keys is None else keys.signing

    async def access(self, handover_id: uuid.UUID, partner: str, op: str) -> str | None:
        if handover_id != self.started:
            return "unknown-handover"
        if partner == SENDER:
            return None
        if op == "put":
            return "not-the-sender"
        return None if partner == RECEIVER and self.delivered else "not-a-party"


async def answer(desk: AttachmentDesk, msg: nats.aio.msg.Msg) -> None:
    headers = dict(msg.headers or {})
    if msg.subject == attachments.PUT_SUBJECT:
        reply = await desk.put(headers, msg.data)
    else:
        reply = await desk.get(headers)
    await msg.respond(json.dumps(reply).encode())


async def serve(nc: NatsClient, handovers: Handovers) -> AttachmentDesk:
    desk = AttachmentDesk(nc, handovers.public_key_for, handovers.access)
    for subject in (attachments.PUT_SUBJECT, attachments.GET_SUBJECT):
        await nc.subscribe(subject, cb=partial(answer, desk))
    return desk


@pytest_asyncio.fixture
async def desk(nats_url: str) -> AsyncIterator[tuple[NatsClient, Handovers, AttachmentDesk]]:
    nc = await nats.connect(nats_url)
    try:
        await ensure_streams(nc.jetstream())
        handovers = Handovers()
        yield nc, handovers, await serve(nc, handovers)
    finally:
        await nc.close()


async def test_an_attachment_goes_in_and_out_in_chunks_and_is_written_once(
    desk: tuple[NatsClient, Handovers, AttachmentDesk], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The desk's limit and the partner kit's chunking, both small.
    monkeypatch.setattr(attachments, "CHUNK_BYTES", 4)
    monkeypatch.setattr(partner_kit, "CHUNK_BYTES", 4)
    nc, handovers, _ = desk
    sender, handover = handovers.keys[SENDER], handovers.started
    name = attachment_name(uuid.uuid4(), "bijlage-1")

    await put_attachment(nc, sender, handover, name, b"sealed attachment")
    back = await get_attachment(nc, sender, handover, name)
    with pytest.raises(AttachmentRefusedError, match="exists"):
        await put_attachment(nc, sender, handover, name, b"replaced")
    with pytest.raises(AttachmentRefusedError, match="not-found"):
        await get_attachment(nc, sender, handover, attachment_name(uuid.uuid4(), "bijlage-1"))

    assert b"sealed attachment" == back


async def test_the_receiver_gets_an_attachment_only_once_the_dossier_is_delivered(
    desk: tuple[NatsClient, Handovers, AttachmentDesk],
) -> None:
    nc, handovers, _ = desk
    receiver = handovers.keys[RECEIVER]
    name = attachment_name(uuid.uuid4(), "bijlage-1")
    await put_attachment(nc, handovers.keys[SENDER], handovers.started, name, b"sealed")

    with pytest.raises(AttachmentRefusedError, match="not-a-party"):
        await get_attachment(nc, receiver, handovers.started, name)
    handovers.delivered = True
    back = await get_attachment(nc, receiver, handovers.started, name)

    assert b"sealed" == back


async def test_a_request_is_refused_unsigned_altered_replayed_or_for_another_handover(
    desk: tuple[NatsClient, Handovers, AttachmentDesk],
) -> None:
    nc, handovers, desk_ = desk
    sender, handover = handovers.keys[SENDER], handovers.started
    name = attachment_name(uuid.uuid4(), "bijlage-1")
    await put_attachment(nc, sender, handover, name, b"sealed")
    signed_get = attachment_request(sender, "get", handover, name, 0)
    signed_put = attachment_request(sender, "put", handover, name, 0, b"chunk")

    answers = [
        await desk_.get({}),
        await desk_.put(signed_put, b"another chunk"),
        await desk_.get(signed_get),
        await desk_.get(signed_get),
        await desk_.get(attachment_request(sender, "get", uuid.uuid4(), name, 0)),
        await desk_.put(attachment_request(sender, "get", handover, name, 0), b""),
    ]

    assert [
        "unsigned-request",
        "bad-signature",
        None,
        "replayed-request",
        "unknown-handover",
        "invalid-request",
    ] == [a.get("reason") for a in answers]

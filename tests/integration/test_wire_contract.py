"""The AsyncAPI document held to the wire: every message the demo story puts on NATS fits it.

The whole backbone runs (its services as tasks, on a nats-server without authorization, so a
tap may read everything); a raw subscriber on `>` keeps every message while the demo story
runs, with a few more things a partner does that the story does not (a worklist query, an
event the backbone refuses). Then each message is matched to the document by its subject:

- a subject of a channel (`in.{partner}.signalling.signal-registered`, `feed.{partner}.receipt`,
  `ketenbus.kluis.key`, ...) must validate, payload and headers, against one of its messages
  (a signed request: its JWS header and claims too);
- a reply (on the requester's inbox) against the reply of the operation it answers;
- JetStream's own traffic (`$JS.…`, `$O.…`, `$KV.…`), the deliveries of a pull consumer (reply
  `$JS.ACK.…`) and JetStream's publish acknowledgements are NATS's, not ours.

A subject no channel covers fails the test, as does a message no message of its channel fits.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import nats
import pytest

from demo.story import SCHOOL, Story, run_scenario
from ketenbus_contracts.envelope import PARTNER_ID_PATTERN  # noqa: F401  (documents the ids)
from ketenbus_contracts.signalling import SignalWithdrawn, SignalWithdrawnData
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import query_worklist
from services import registry
from services.runtime.settings import Settings, server_list
from tests.backbone import InProcessBackbone
from tests.contract.document import document, message_errors, messages_for, resolve

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Seen:
    subject: str
    reply: str
    headers: dict[str, str]
    data: bytes


@dataclass
class Wire:
    story: Story
    seen: list[Seen] = field(default_factory=list)


async def _extras(url: str, data_dir: Any, child: str) -> str:
    """What a partner does that the story does not: ask its worklist, publish an unsigned
    event (refused, with a receipt and a dead letter)."""
    nc = await nats.connect(server_list(url))
    try:
        keys = load_or_create_partner_keys(data_dir, SCHOOL.partner)
        await query_worklist(nc, keys)
        unsigned = SignalWithdrawn.create(
            source=SCHOOL.partner,
            subject=child,
            data=SignalWithdrawnData(
                signal_id="00000000-0000-4000-8000-000000000001", withdrawn_on=date(2026, 9, 1)
            ),
        )
        await nc.jetstream().publish(
            unsigned.inbound_subject(SCHOOL.partner),
            unsigned.to_bytes(),
            headers={"Nats-Msg-Id": str(unsigned.id)},
        )
        return str(unsigned.id)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    data_dir = tmp_path_factory.mktemp("wire") / "data"
    settings = Settings(data_dir=data_dir, store="sqlite", nats_auth="none")
    with InProcessBackbone(settings, list(registry.SERVICES)) as backbone:
        seen: list[Seen] = []

        async def scenario() -> Story:
            tap = await nats.connect(server_list(backbone.url))

            async def keep(msg: Any) -> None:
                seen.append(Seen(msg.subject, msg.reply or "", dict(msg.headers or {}), msg.data))

            await tap.subscribe(">", cb=keep)
            try:
                story = await run_scenario(backbone.url, data_dir, settings=settings)
                unsigned = await _extras(backbone.url, data_dir, story.child)
                # The unsigned event's receipt (refused), before the tap stops listening.
                for _ in range(600):
                    if any(unsigned.encode() in s.data for s in seen if "receipt" in s.subject):
                        break
                    await asyncio.sleep(0.1)
                return story
            finally:
                await tap.flush()
                await tap.close()

        yield Wire(asyncio.run(scenario()), seen)


NATS_OWN = ("$JS.", "$O.", "$KV.", "$SYS.")


def _reply_operations() -> dict[str, list[dict[str, Any]]]:
    """Per request address, the reply messages its operation documents."""
    doc = document()
    replies: dict[str, list[dict[str, Any]]] = {}
    for operation in doc["operations"].values():
        reply = operation.get("reply")
        if reply is None:
            continue
        address = resolve(operation["channel"])["address"]
        replies[address] = [resolve(ref) for ref in reply["messages"]]
    return replies


def _payload(message: dict[str, Any], data: bytes) -> Any:
    schema = resolve(message.get("payload", {}))
    if schema.get("type") == "string":
        return data.decode("utf-8", "replace")
    return json.loads(data)


def _errors_of(candidates: list[tuple[str, dict[str, Any]]], seen: Seen) -> list[str] | None:
    """None when one candidate fits; else the errors of the likeliest one."""
    if not candidates:
        return [f"no channel of the document covers {seen.subject}"]
    found: list[tuple[str, list[str]]] = []
    for key, message in candidates:
        try:
            payload = _payload(message, seen.data)
        except ValueError:
            found.append((key, ["the payload is not JSON"]))
            continue
        errors = message_errors(message, payload, seen.headers)
        if not errors:
            return None
        name = payload.get("type") if isinstance(payload, dict) else None
        found.append((key, errors) if name is None or name == message.get("name") else (key, []))
    key, errors = next(((k, e) for k, e in found if e), found[0])
    return [f"{seen.subject} as {key}: {e}" for e in errors] or [f"{seen.subject}: fits none"]


@dataclass
class Checked:
    errors: list[str] = field(default_factory=list)
    covered: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)


def refused_inbound(wire: Wire) -> set[int]:
    """The INBOUND stream sequences the backbone refused (its receipts say so)."""
    refused = set()
    for seen in wire.seen:
        if seen.subject.startswith("feed.") and seen.subject.endswith(".receipt"):
            receipt = json.loads(seen.data)
            if receipt["status"] == "refused" and receipt.get("stream_seq"):
                refused.add(receipt["stream_seq"])
    return refused


def inbound_sequences(wire: Wire) -> dict[int, int]:
    """Per captured inbound message (by index), the stream sequence JetStream acknowledged."""
    waiting = {
        s.reply: i for i, s in enumerate(wire.seen) if s.subject.startswith("in.") and s.reply
    }
    sequences = {}
    for seen in wire.seen:
        if seen.subject in waiting and seen.data.startswith(b"{"):
            ack = json.loads(seen.data)
            if ack.get("stream") == "INBOUND":
                sequences[waiting.pop(seen.subject)] = ack["seq"]
    return sequences


def check(wire: Wire) -> Checked:
    """Every captured message against the document. An inbound message that does not fit
    must be one the backbone refused (a poison message of the story, an unsigned event):
    it is listed under `refused`, not as an error."""
    replies = _reply_operations()
    refused, sequences = refused_inbound(wire), inbound_sequences(wire)
    requests: dict[str, str] = {}
    out = Checked()
    for index, seen in enumerate(wire.seen):
        if seen.subject.startswith(NATS_OWN) or seen.reply.startswith("$JS.ACK."):
            continue
        if seen.subject in requests:
            address = requests.pop(seen.subject)
            candidates = [(f"{address} reply", m) for m in replies[address]]
            label = f"reply:{address}"
        elif seen.subject.startswith("_INBOX."):
            continue  # JetStream's publish acknowledgement, or a reply to no request of ours
        else:
            candidates = [(m.key, m.message) for m in messages_for(seen.subject)]
            if seen.reply and seen.subject in replies:
                requests[seen.reply] = seen.subject
            label = ""
        errors = _errors_of(candidates, seen)
        if errors and sequences.get(index) in refused:
            out.refused.append(seen.subject)
            continue
        if errors:
            out.errors.extend(errors)
            continue
        if not label:
            payload = _payload(candidates[0][1], seen.data)
            kind = candidates[0][0].split(".", 1)[0].split(":", 1)[0]
            name = payload.get("type") if isinstance(payload, dict) else None
            label = f"{kind}:{name or seen.subject}"
        out.covered[label] += 1
    return out


def test_every_message_on_the_wire_fits_the_asyncapi_document(wire: Wire) -> None:
    checked = check(wire)

    assert [] == checked.errors[:20], f"{len(checked.errors)} messages do not fit"


def test_the_story_covers_inbound_streams_feeds_receipts_and_every_kind_of_request(
    wire: Wire,
) -> None:
    covered = check(wire).covered
    kinds = {label.split(":", 1)[0] for label in covered}
    replies = {label.split(":", 1)[1] for label in covered if label.startswith("reply:")}

    assert {"inbound", "event", "feed", "request", "reply"} <= kinds, sorted(covered)
    assert {
        "ketenbus.kluis.key",
        "ketenbus.kluis.batch",
        "ketenbus.pseudonym",
        "ketenbus.query.plan",
        "ketenbus.query.worklist",
    } <= replies, sorted(covered)
    assert "feed:nl.ketenbus.feed.receipt.v1" in covered
    assert "DeadLetter:DeadLetter" in covered or any("deadletter" in k for k in covered)


def test_what_does_not_fit_is_only_what_the_backbone_refused(wire: Wire) -> None:
    checked = check(wire)

    # The story's poison message and the unsigned withdrawal: refused, with receipts.
    assert [
        "in.bs-de-regenboog.signalling.signal-registered",
        "in.bs-de-regenboog.signalling.signal-withdrawn",
    ] == checked.refused

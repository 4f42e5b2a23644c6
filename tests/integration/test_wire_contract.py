"""The AsyncAPI document held to the wire: every message the demo story puts on NATS fits it.

The whole backbone runs (its services as tasks, on a nats-server of its own without
authorization, so a tap may read everything); a raw subscriber on `>` (tests/wire.py) keeps
every message while the demo story runs, with a few more things a partner does that the story
does not (a worklist query, an unsigned event the backbone refuses). Then each message is
matched to the document by its subject (`tests.wire.check`): only what the backbone refused
may not fit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import nats
import pytest

from demo.story import SCHOOL, Story, run_scenario
from ketenbus_contracts.signalling import SignalWithdrawn, SignalWithdrawnData
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import query_worklist
from services import registry
from services.runtime.nats_auth import credential_source
from services.runtime.settings import Settings, server_list
from tests.backbone import InProcessBackbone
from tests.wire import Seen, WireTap, check

pytestmark = pytest.mark.integration


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
            data=SignalWithdrawnData(signal_id=uuid.UUID(int=1), withdrawn_on=date(2026, 9, 1)),
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
        tap = WireTap(backbone.url).start()

        async def scenario() -> Story:
            story = await run_scenario(
                backbone.url, data_dir, credentials=credential_source(settings)
            )
            unsigned = await _extras(backbone.url, data_dir, story.child)
            # The unsigned event's receipt (refused), before the tap stops listening.
            for _ in range(600):
                if any(unsigned.encode() in s.data for s in tap.seen if "receipt" in s.subject):
                    break
                await asyncio.sleep(0.1)
            return story

        try:
            story = asyncio.run(scenario())
        finally:
            tap.stop()
        yield Wire(story, tap.seen)


def test_every_message_on_the_wire_fits_the_asyncapi_document(wire: Wire) -> None:
    checked = check(wire.seen)

    assert [] == checked.errors[:20], f"{len(checked.errors)} messages do not fit"


def test_the_story_covers_inbound_streams_feeds_receipts_and_every_kind_of_request(
    wire: Wire,
) -> None:
    covered = check(wire.seen).covered
    kinds = {label.split(".", 1)[0].split(":", 1)[0] for label in covered}
    replies = {label.split(":", 1)[1] for label in covered if label.startswith("reply:")}

    assert {"inbound", "event", "feed", "request", "reply", "DeadLetter"} <= kinds, sorted(covered)
    assert {
        "ketenbus.kluis.key",
        "ketenbus.kluis.batch",
        "ketenbus.pseudonym",
        "ketenbus.query.plan",
        "ketenbus.query.worklist",
    } <= replies, sorted(covered)
    assert "feed.receipt:Message" in covered


def test_what_does_not_fit_is_only_what_the_backbone_refused(wire: Wire) -> None:
    checked = check(wire.seen)

    # The story's poison message and the unsigned withdrawal: refused, with receipts.
    assert [
        "in.bs-de-regenboog.signalling.signal-registered",
        "in.bs-de-regenboog.signalling.signal-withdrawn",
    ] == checked.refused

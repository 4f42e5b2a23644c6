"""A feed per partner under the registry authorization: each partner, on its own NATS user,
reads only the events about its own children (without the sections its role may not hold)
and a receipt for every event it published; it cannot read another partner's feed nor make
a consumer of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal as signal_module
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig

from ketenbus_contracts.feed import FEED_SIGNER, verify_feed_entry
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import make_kid, seal
from ketenbus_partner.feed import FeedItem
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone
from tests.events import signal
from tests.integration.helpers import JGZ, SCHOOL, child, eventually, feed_items

pytestmark = pytest.mark.integration

KETENBUS = Path(sys.executable).parent / "ketenbus"


@pytest.fixture
def backbone(tmp_path: Path, start_backbone: StartBackbone) -> Backbone:
    settings = Settings(data_dir=tmp_path / "data", nats_auth="registry")
    return start_backbone(settings, ["signalling", "feed"])


def test_a_school_reads_only_its_own_children_and_the_receipts_of_what_it_published(
    backbone: Backbone,
) -> None:
    settings, ours, theirs = backbone.settings, child(31), child(32)

    def sealed_by(partner: str, kid: str, event_id: uuid.UUID) -> dict[Purpose, str]:
        """A signal's two sections (`identity`, `signalling`), sealed for the event."""
        return {
            purpose: seal(
                {"notes": "x"},
                key=bytes(32),
                kid=make_kid(kid, purpose, partner, 1),
                event_id=event_id,
            )
            for purpose in (Purpose.IDENTITY, Purpose.SIGNALLING)
        }

    own_id, their_id = uuid.uuid4(), uuid.uuid4()
    sealed = sealed_by(SCHOOL.partner, ours, own_id)
    own = signal(SCHOOL, child=ours, sealed=sealed, event_id=own_id)
    # The JGZ's role may not hold `identity`: its copy keeps only `signalling`.
    their_sealed = sealed_by(JGZ.partner, theirs, their_id)
    their_signal = signal(JGZ, child=theirs, sealed=their_sealed, event_id=their_id)
    unsigned = signal(SCHOOL, child=child(33))

    async def scenario() -> tuple[list[FeedItem], list[FeedItem]]:
        school = await partner_connect(settings, SCHOOL.partner, backbone.url)
        jgz = await partner_connect(settings, JGZ.partner, backbone.url)
        try:
            school_keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
            jgz_keys = load_or_create_partner_keys(settings.data_dir, JGZ.partner)
            await publish_signed(jgz.jetstream(), their_signal, jgz_keys)
            await publish_signed(school.jetstream(), own, school_keys)
            await school.jetstream().publish(
                unsigned.inbound_subject(SCHOOL.partner), unsigned.to_bytes()
            )
            theirs_too = await feed_items(jgz, JGZ.partner, 3)
            return await feed_items(school, SCHOOL.partner, 4), theirs_too
        finally:
            await school.close()
            await jgz.close()

    school_feed, jgz_feed = asyncio.run(scenario())

    copies = [i for i in school_feed if not i.is_receipt]
    registered = [c for c in copies if c.subject.endswith(".signal-registered")]
    receipts = sorted(
        (i.body["status"], i.body.get("event_id"), i.body.get("reason"))
        for i in school_feed
        if i.is_receipt
    )
    # The school's own signal (and what signalling recorded about it, parents informed), with
    # both sections (a school may hold both); nothing about the JGZ's child.
    both = {p.value: t for p, t in sealed.items()}
    assert [(str(own.id), both, ["identity", "signalling"])] == [
        (c.body["id"], c.body["data"]["sealed"], c.body["purposes"]) for c in registered
    ]
    assert {ours} == {c.body["subject"] for c in copies}
    feed_keys = load_or_create_partner_keys(settings.data_dir, FEED_SIGNER)
    for copy in copies:
        verify_feed_entry(copy.raw, copy.headers, feed_keys)
    assert [
        ("accepted", str(own.id), None),
        ("refused", str(unsigned.id), "missing-signature"),
    ] == receipts
    assert {theirs} == {i.body["subject"] for i in jgz_feed if not i.is_receipt}
    # The JGZ's own signal, the identity section gone (its role may not hold it).
    assert [({"signalling": their_sealed[Purpose.SIGNALLING]}, ["signalling"])] == [
        (i.body["data"]["sealed"], i.body["purposes"])
        for i in jgz_feed
        if i.subject.endswith(".signal-registered")
    ]


def test_a_partner_cannot_read_another_partners_feed_nor_make_a_consumer(
    backbone: Backbone,
) -> None:
    settings = backbone.settings

    async def attack() -> tuple[list[str], list[str], int]:
        jgz = await partner_connect(settings, JGZ.partner, backbone.url)
        keys = load_or_create_partner_keys(settings.data_dir, JGZ.partner)
        await publish_signed(jgz.jetstream(), signal(JGZ, child=child(34)), keys)
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        school = await partner_connect(settings, SCHOOL.partner, backbone.url, error_cb=on_error)
        stolen: list[str] = []
        try:
            sub = await school.jetstream().pull_subscribe_bind(
                durable=f"feed-{JGZ.partner}", stream="FEED"
            )
            for _ in range(3):
                with contextlib.suppress(TimeoutError):
                    stolen += [m.subject for m in await sub.fetch(10, timeout=1)]
            try:
                await school.jetstream().add_consumer(
                    "FEED", ConsumerConfig(durable_name="mine", filter_subject="feed.>"), timeout=1
                )
                stolen.append("created a consumer")
            except (nats.errors.Error, TimeoutError):
                pass
            # The JGZ's entries are all still there for the JGZ.
            mine = await feed_items(jgz, JGZ.partner, 4)
        finally:
            await school.close()
            await jgz.close()
        return stolen, errors, len(mine)

    stolen, errors, left = asyncio.run(attack())

    assert [] == stolen
    assert any("permissions violation" in e.lower() for e in errors)
    assert 4 == left  # the receipt, the signal, "parents informed" and its informing task


def test_ketenbus_feed_prints_a_line_per_entry_without_the_pseudonym(
    backbone: Backbone, tmp_path: Path
) -> None:
    settings, kid = backbone.settings, child(35)
    event, refused = signal(JGZ, child=kid), signal(JGZ, child=child(36))
    bad = json.loads(refused.to_bytes())
    bad["data"]["name"] = "Kanariepietje"  # not in the contract: ingress refuses it
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    env = {
        **os.environ,
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_DATA_DIR": str(settings.data_dir),
        "KETENBUS_NATS_AUTH": "registry",
        "KETENBUS_LOG_FORMAT": "json",
    }

    def ketenbus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KETENBUS), *args], env=env, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip

    async def publish() -> None:
        nc = await partner_connect(settings, JGZ.partner, backbone.url)
        try:
            keys = load_or_create_partner_keys(settings.data_dir, JGZ.partner)
            await publish_signed(nc.jetstream(), event, keys)
            await pending(nc, 5)
        finally:
            await nc.close()

    async def pending(nc: NatsClient, entries: int) -> None:
        # Until the receipts and the copies are on the feed (asked as the partner: info only).
        async def there() -> bool:
            info = await nc.jetstream().consumer_info("FEED", f"feed-{JGZ.partner}")
            return info.num_pending >= entries

        await eventually(there, f"{entries} entries pending on the feed of {JGZ.partner}", 60.0)

    published = ketenbus("publish", "--as", JGZ.partner, str(tmp_path / "bad.json"))
    asyncio.run(publish())

    shown = ketenbus("feed", "--as", JGZ.partner)

    lines = sorted(
        line.split(" ", 1)[1]
        for line in shown.stdout.splitlines()
        if "parents-informed" not in line and "informing-due" not in line
    )
    # The reason is the code ingress refused it with (`refused: <code>: …` on stderr).
    code = published.stderr.split("refused: ", 1)[1].split(":", 1)[0]
    assert (2, 0) == (published.returncode, shown.returncode)
    assert [
        f"receipt accepted event={event.id} inbound-seq=1 by=signalling",
        f"receipt refused reason={code} event={refused.id} by=ingress",
        f"signalling.signal-registered event={event.id} sections=- signed=ok",
    ] == lines
    assert kid not in shown.stdout
    # The operator sees that the JGZ has read its feed (nothing left on its consumer).
    status = ketenbus("status")
    assert [f"FEED/feed-{JGZ.partner}", "lag", "0", "unacked", "0"] == next(
        line.split()[:5] for line in status.stdout.splitlines() if f"feed-{JGZ.partner}" in line
    )


def test_ketenbus_feed_follow_prints_entries_as_they_arrive_until_interrupted(
    backbone: Backbone,
) -> None:
    settings, event = backbone.settings, signal(SCHOOL, child=child(37))
    env = {
        **os.environ,
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_DATA_DIR": str(settings.data_dir),
        "KETENBUS_NATS_AUTH": "registry",
        "KETENBUS_LOG_FORMAT": "json",
    }
    follow = subprocess.Popen(
        [str(KETENBUS), "feed", "--as", SCHOOL.partner, "--follow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        async def publish() -> None:
            nc = await partner_connect(settings, SCHOOL.partner, backbone.url)
            try:
                keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
                await publish_signed(nc.jetstream(), event, keys)
            finally:
                await nc.close()

        asyncio.run(publish())
        printed: queue.Queue[str] = queue.Queue()
        stdout = follow.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [printed.put(x) for x in stdout], daemon=True).start()
        lines: list[str] = []
        while not any("signal-registered" in line for line in lines):
            lines.append(printed.get(timeout=60))  # a generous deadline, not a timing
    finally:
        follow.send_signal(signal_module.SIGINT)
        code = follow.wait(timeout=30)

    assert (0, True, True) == (
        code,
        any(f"receipt accepted event={event.id}" in line for line in lines),
        any(f"signalling.signal-registered event={event.id}" in line for line in lines),
    )

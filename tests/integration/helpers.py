"""Helpers for integration tests: publishing (signed), waiting (with a deadline), reading."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from ketenbus_contracts.envelope import CloudEvent, parse_event
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import Signaller
from ketenbus_partner import plan as client
from ketenbus_partner.feed import read_feed
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import DataDirKeys
from services.kluis.domain import Decision, Operation, ProcessingRecord
from services.kluis.keystore import Keystore
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone

T = TypeVar("T")

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz")
CHILDCARE = Signaller(partner="kdv-het-speelhuis", role="pm", contact="kdv")


def child(n: int) -> str:
    """A valid pseudonym for test child n."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    digits = ""
    for _ in range(32):
        digits += alphabet[n % 32]
        n //= 32
    return digits


# The tests' one way to wait: poll until something holds, with a generous deadline that only
# ends a test that would otherwise hang (no timing assertion: the machine is shared and noisy).


def wait_until(check: Callable[[], T | None], timeout: float = 90.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail after a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or check}")
        time.sleep(0.1)


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str = "", timeout: float = 90.0
) -> T:
    """`wait_until` inside a test's event loop: await `check` until it returns something
    truthy. No responders counts as not yet (the service is still subscribing)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
        except nats.errors.NoRespondersError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or check}")
        await asyncio.sleep(0.1)


async def feed_items(
    nc: Any, partner: str, count: int, keep: Callable[[Any], bool] = lambda item: True
) -> list[Any]:
    """The partner's feed entries (those it would `keep`), once `count` have come: read from
    its feed consumer as they arrive, waited for as everything else (`eventually`)."""
    found: list[Any] = []

    async def enough() -> list[Any] | None:
        found.extend([item async for item in read_feed(nc, partner, wait=0.5) if keep(item)])
        return found if len(found) >= count else None

    return await eventually(enough, f"{count} entries on the feed of {partner}", timeout=60.0)


async def publish_all(url: str, items: list[tuple[str, bytes, str | None]]) -> None:
    """Publish (subject, payload, msg id) to JetStream, in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for subject, payload, msg_id in items:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await js.publish(subject, payload, headers=headers)
    finally:
        await nc.close()


def signed_items(data_dir: Path, events: list[CloudEvent[Any]]) -> list[tuple[str, bytes, str]]:
    """(subject, payload, msg id) of `events`, each signed by its source (keys in `data_dir`)."""
    signer = DataDirKeys(data_dir)
    messages = [signer.message(e) for e in events]
    return [(m.subject, m.payload, m.headers["Nats-Msg-Id"]) for m in messages]


def publish_events(url: str, events: list[CloudEvent[Any]], data_dir: Path) -> None:
    """Publish `events` as their partners do: signed by each source, with its data-dir keys."""
    asyncio.run(publish_all(url, signed_items(data_dir, events)))


async def _read_stream(url: str, stream: str, subjects: str) -> list[tuple[int, bytes, dict]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        last = info.state.last_seq
        out: list[tuple[int, bytes, dict]] = []
        if info.state.messages == 0:
            return out
        sub = await js.pull_subscribe(
            subjects,
            stream=stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30),
        )
        while not out or out[-1][0] < last:
            for msg in await sub.fetch(500, timeout=5):
                out.append((msg.metadata.sequence.stream, msg.data, dict(msg.headers or {})))
                await msg.ack()
        return out
    finally:
        await nc.close()


def read_stream(url: str, stream: str, subjects: str = ">") -> list[tuple[int, bytes, dict]]:
    """Every message of a stream as (sequence, payload, headers)."""
    return asyncio.run(_read_stream(url, stream, subjects))


def stream_events(url: str, stream: str) -> list[CloudEvent[Any]]:
    return [parse_event(data) for _, data, _ in read_stream(url, stream)]


async def _consumer_lag(url: str, stream: str, durable: str) -> tuple[int, int]:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def consumer_idle(url: str, stream: str, durable: str) -> bool:
    """True when the durable consumer has nothing pending and nothing unacknowledged."""
    try:
        return asyncio.run(_consumer_lag(url, stream, durable)) == (0, 0)
    except nats.js.errors.NotFoundError:
        return False


async def _query_plan(url: str, keys: PartnerKeys, subject: str) -> dict[str, Any] | None:
    nc = await nats.connect(url)
    try:
        return await client.query_plan(nc, subject, keys)
    except nats.errors.NoRespondersError:
        return None
    finally:
        await nc.close()


def query_plan(
    backbone: Backbone, subject: str, partner: str = SCHOOL.partner
) -> dict[str, Any] | None:
    """The child's plan as `partner` (by default the signalling school) receives it, sealed."""
    keys = load_or_create_partner_keys(backbone.settings.data_dir, partner)
    return asyncio.run(_query_plan(backbone.url, keys, subject))


async def _subject_counts(url: str, stream: str) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def subject_counts(url: str, stream: str) -> dict[str, int]:
    """Messages per subject in a stream."""
    return asyncio.run(_subject_counts(url, stream))


def add_processing_record(
    settings: Settings, pseudonym: str, decision: Decision, at: datetime
) -> None:
    """A kluis processing record (a release or a no-relation refusal) straight into its store."""
    keystore = Keystore.open(settings)
    try:
        keystore.add_record(
            ProcessingRecord(
                trace_id=uuid.uuid4().hex,
                span_id=uuid.uuid4().hex[:16],
                parent_span_id=None,
                operation=Operation.RELEASE,
                processing_activity_id="signalering",
                data_subject=pseudonym,
                requester=SCHOOL.partner,
                purpose=Purpose.SIGNALLING,
                decision=decision,
                refusal_code=None if decision is Decision.RELEASED else "no-relation",
                kid=f"{pseudonym}/signalling/1" if decision is Decision.RELEASED else None,
                at=at,
                register_version="test",
            )
        )
    finally:
        keystore.close()

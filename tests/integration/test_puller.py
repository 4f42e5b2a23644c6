"""How a service's consumer hands over its messages (`services.runtime.batching.Puller`), on a
real nats-server: what has arrived at once, without waiting for a batch to fill."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from services.runtime.batching import Puller

pytestmark = pytest.mark.integration

# Far longer than any of these tests takes: a puller that waited for its batch to fill (or for
# its pull request to end) would hit the deadline below instead of answering.
LINGER = 30.0
DEADLINE = LINGER / 3


async def pulling(url: str, linger: float = LINGER) -> tuple[nats.NATS, Puller]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PULLED", subjects=["pulled.>"]))
    await js.add_consumer(
        "PULLED", ConsumerConfig(durable_name="pulled", ack_policy=AckPolicy.EXPLICIT)
    )
    subscription = await js.pull_subscribe_bind("pulled", "PULLED")
    return nc, Puller(subscription, batch=256, linger=linger)


async def test_messages_already_published_are_handed_over_without_filling_the_batch(
    nats_url: str,
) -> None:
    nc, puller = await pulling(nats_url)
    try:
        for i in range(3):
            await nc.jetstream().publish("pulled.x", str(i).encode())
        batch: list[bytes] = []
        while len(batch) < 3:
            batch += [m.data for m in await asyncio.wait_for(puller.next_batch(), DEADLINE)]
        assert [b"0", b"1", b"2"] == batch
    finally:
        await nc.close()


async def test_a_message_published_to_an_idle_consumer_is_handed_over_as_it_arrives(
    nats_url: str,
) -> None:
    nc, puller = await pulling(nats_url)
    try:
        waiting = asyncio.create_task(puller.next_batch())
        await asyncio.sleep(0.2)  # the pull request is on the server, nothing to deliver
        await nc.jetstream().publish("pulled.x", b"late")
        assert [b"late"] == [m.data for m in await asyncio.wait_for(waiting, DEADLINE)]
    finally:
        await nc.close()


async def test_a_consumer_idle_past_its_pull_requests_life_still_gets_the_next_message(
    nats_url: str,
) -> None:
    nc, puller = await pulling(nats_url, linger=0.2)
    try:
        assert [] == await asyncio.wait_for(puller.next_batch(), DEADLINE)  # it expired
        await asyncio.sleep(0.3)
        await nc.jetstream().publish("pulled.x", b"after")
        got: list[bytes] = []
        while not got:
            got = [m.data for m in await asyncio.wait_for(puller.next_batch(), DEADLINE)]
        assert [b"after"] == got
    finally:
        await nc.close()


async def test_messages_keep_their_order_across_batches(nats_url: str) -> None:
    nc, puller = await pulling(nats_url)
    try:
        js = nc.jetstream()
        acks = [await js.publish_async("pulled.x", str(i).encode()) for i in range(1000)]
        await asyncio.gather(*acks)
        seen: list[bytes] = []
        while len(seen) < 1000:
            for msg in await asyncio.wait_for(puller.next_batch(), DEADLINE):
                seen.append(msg.data)
                await msg.ack()
        assert [str(i).encode() for i in range(1000)] == seen
    finally:
        await nc.close()

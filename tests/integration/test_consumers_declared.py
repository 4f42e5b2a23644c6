"""Who declares which consumer, and how a service's consumer heals.

`ensure_streams` (the supervisor) declares the streams and the partners' feed consumers, never a
service's consumer; a service's `ensure_consumer` keeps its consumer when it delivered exactly up
to the stored position, puts a changed description back in place, and re-creates it from the
stored position when it is missing, its filter was changed or it has unacknowledged messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import nats
import pytest
from nats.js import JetStreamContext

from services.runtime.host import ServiceContext, watch_deliveries
from services.runtime.status import collect_status, format_status
from services.runtime.streams import (
    CONSUMERS,
    KLUIS_SIGNALLING,
    ConsumerSpec,
    drift,
    ensure_consumer,
    ensure_streams,
    feed_consumer,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")


def on_server(url: str, work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    async def run() -> T:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            return await work(js)
        finally:
            await nc.close()

    return asyncio.run(run())


async def publish(js: JetStreamContext, n: int) -> None:
    for i in range(n):
        await js.publish("ketenbus.signalling.signal-registered.v1", str(i).encode())


async def consume(js: JetStreamContext, spec: ConsumerSpec, n: int, ack: bool = True) -> None:
    sub = await js.pull_subscribe_bind(spec.durable, stream=spec.stream.name)
    for msg in await sub.fetch(n, timeout=2):
        if ack:
            await msg.ack_sync()
    await sub.unsubscribe()


async def start_seq(js: JetStreamContext, spec: ConsumerSpec) -> int | None:
    info = await js.consumer_info(spec.stream.name, spec.durable)
    return info.config.opt_start_seq


def test_ensure_streams_declares_the_feed_consumers_and_no_service_consumer(nats_url: str) -> None:
    async def work(js: JetStreamContext) -> list[str]:
        await ensure_streams(js, owned=[feed_consumer("bs-a")])
        return [
            f"{spec.stream.name}/{spec.durable}"
            for spec in (*CONSUMERS, feed_consumer("bs-a"))
            if await exists(js, spec)
        ]

    assert ["FEED/feed-bs-a"] == on_server(nats_url, work)


async def exists(js: JetStreamContext, spec: ConsumerSpec) -> bool:
    try:
        await js.consumer_info(spec.stream.name, spec.durable)
    except nats.js.errors.NotFoundError:
        return False
    return True


def test_a_consumer_that_delivered_up_to_the_stored_position_is_kept(nats_url: str) -> None:
    async def work(js: JetStreamContext) -> tuple[int, int | None, int, int | None]:
        await publish(js, 3)
        first = await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        await consume(js, KLUIS_SIGNALLING, 3)
        again = await ensure_consumer(js, KLUIS_SIGNALLING, 3)
        return first, None, again, await start_seq(js, KLUIS_SIGNALLING)

    assert (1, None, 4, None) == on_server(nats_url, work)


def test_unacknowledged_messages_recreate_the_consumer_from_the_stored_position(
    nats_url: str,
) -> None:
    async def work(js: JetStreamContext) -> tuple[int, int | None]:
        await publish(js, 3)
        await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        await consume(js, KLUIS_SIGNALLING, 3, ack=False)
        return await ensure_consumer(js, KLUIS_SIGNALLING, 1), await start_seq(js, KLUIS_SIGNALLING)

    assert (1, 2) == on_server(nats_url, work)


def test_a_changed_filter_recreates_the_consumer_and_a_changed_description_is_put_back(
    nats_url: str,
) -> None:
    async def work(js: JetStreamContext) -> tuple[list[str], list[str], list[str], int | None]:
        await publish(js, 2)
        await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        await consume(js, KLUIS_SIGNALLING, 2)
        info = await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        attacked = info.config
        attacked.description = "changed"
        attacked.filter_subjects = ["ketenbus.signalling.nothing"]
        await js.add_consumer(KLUIS_SIGNALLING.stream.name, attacked)
        seen = drift(
            KLUIS_SIGNALLING,
            await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable),
        )
        await ensure_consumer(js, KLUIS_SIGNALLING, 2)
        healed = await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        after_heal = drift(KLUIS_SIGNALLING, healed)
        healed.config.description = "changed"
        await js.add_consumer(KLUIS_SIGNALLING.stream.name, healed.config)
        await ensure_consumer(js, KLUIS_SIGNALLING, 2)
        kept = await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        return seen, after_heal, drift(KLUIS_SIGNALLING, kept), kept.config.opt_start_seq

    assert (["description", "filter_subjects"], [], [], 3) == on_server(nats_url, work)


def test_a_deleted_consumer_is_recreated_from_the_stored_position(nats_url: str) -> None:
    async def work(js: JetStreamContext) -> tuple[int, int | None]:
        await publish(js, 4)
        await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        await js.delete_consumer(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        return await ensure_consumer(js, KLUIS_SIGNALLING, 4), await start_seq(js, KLUIS_SIGNALLING)

    assert (1, 5) == on_server(nats_url, work)


def test_status_reports_a_changed_and_a_missing_consumer(nats_url: str) -> None:
    async def work(js: JetStreamContext) -> dict[str, Any]:
        await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        info = await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        info.config.description = "changed"
        await js.add_consumer(KLUIS_SIGNALLING.stream.name, info.config)
        return await collect_status(nats_url)

    report = on_server(nats_url, work)

    by_name = {f"{c['stream']}/{c['durable']}": c for c in report["consumers"]}
    shown = format_status(report)
    assert (["description"], True) == (
        by_name["SIGNALLING/kluis"]["drift"],
        by_name["SIGNALLING/integral-plan"]["missing"],
    )
    assert "DIFFERS from the declared: description" in shown
    assert "SIGNALLING/integral-plan" in [
        line.split()[0] for line in shown.splitlines() if "MISSING" in line
    ]


@pytest.mark.parametrize("attack", ["delete", "rewrite"])
def test_a_running_service_notices_its_consumer_deleted_or_rewritten(
    nats_url: str, attack: str
) -> None:
    async def work(js: JetStreamContext) -> bool:
        await ensure_consumer(js, KLUIS_SIGNALLING, 0)
        failed = asyncio.Event()
        ctx = cast(ServiceContext, SimpleNamespace(in_flight=0, consumed={}, metrics=None))
        watch = asyncio.create_task(watch_deliveries(js, [KLUIS_SIGNALLING], ctx, failed))
        if attack == "delete":
            await js.delete_consumer(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
        else:
            info = await js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
            info.config.filter_subjects = ["ketenbus.signalling.nothing"]
            await js.add_consumer(KLUIS_SIGNALLING.stream.name, info.config)
        try:
            await asyncio.wait_for(failed.wait(), 30)  # a bound, not a timing assertion
        finally:
            watch.cancel()
        return failed.is_set()

    assert on_server(nats_url, work)

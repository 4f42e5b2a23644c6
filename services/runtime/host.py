"""Running one service process: connect, declare streams, start subscribers and the outbox.

Each service's `bootstrap.py` is its composition root; it builds a `ServiceSpec` and hands it
here. Nothing connects until `run_service` is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import nats
import structlog
from eventsourcing.persistence import PersistenceError
from faststream._internal.middlewares import BaseMiddleware
from faststream.message import StreamMessage
from faststream.nats import NatsBroker, NatsRouter
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError
from services.runtime.deadletter import publish_deadletter
from services.runtime.outbox import OutboxRelay, Translate
from services.runtime.settings import Settings, server_list
from services.runtime.store import TrackedApplication
from services.runtime.streams import ConsumerSpec, ensure_streams, resume_consumer

log = structlog.get_logger(__name__)


@dataclass
class ServiceContext:
    """What a running service's handlers may use."""

    settings: Settings
    application: TrackedApplication
    limiter: anyio.CapacityLimiter
    relay: OutboxRelay | None = None
    nc: NatsClient | None = None

    service: str = ""

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a (synchronous) application method in the service's single store thread."""
        result = await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        if self.relay is not None:
            self.relay.wake()
        return result

    async def consume(
        self, consumer: ConsumerSpec, messages: Sequence[Msg], decode: Callable[[bytes], Any]
    ) -> None:
        """Process a fetched batch in stream order: decode each message, apply the valid ones
        in one transaction with their position, and dead-letter what was refused.

        Decoding per message (not the whole batch at once) keeps one bad message from refusing
        the valid ones around it.
        """
        by_seq = {m.metadata.sequence.stream: m for m in messages}
        decoded: list[tuple[int, Any]] = []
        refused: list[tuple[int, Exception]] = []
        for seq in sorted(by_seq):
            try:
                decoded.append((seq, decode(by_seq[seq].data)))
            except (ValidationError, UnknownEventTypeError) as exc:
                refused.append((seq, exc))
        refused += await self.call(self.application.process_batch, consumer.tracking_name, decoded)
        if refused and self.nc is not None:
            js = self.nc.jetstream()
            for seq, reason in sorted(refused, key=lambda r: r[0]):
                await publish_deadletter(
                    js, self.service, reason, by_seq[seq].data,
                    subject=by_seq[seq].subject, stream_seq=seq,
                )  # fmt: skip


@dataclass
class ServiceSpec:
    name: str
    application_factory: Callable[[Settings], TrackedApplication]
    router_factory: Callable[[ServiceContext], NatsRouter]
    consumers: tuple[ConsumerSpec, ...] = ()
    translate: Translate | None = None


def fail_fast_middleware(failed: asyncio.Event) -> type[BaseMiddleware[Any, Any]]:
    """On an unexpected error (not a refusal), stop consuming and restart from the store.

    Nacking and going on would let later messages overtake the failed one; restarting the
    consumers from the tracked position keeps stream order.
    """

    class FailFast(BaseMiddleware[Any, Any]):
        async def consume_scope(
            self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            try:
                return await call_next(msg)
            except Exception as exc:
                log.error("handler_failed", error=type(exc).__name__)
                failed.set()
                raise

    return FailFast


RESTART_BACKOFF = 0.5
MAX_RESTART_BACKOFF = 30.0


async def _first(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of `awaitables` is done; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def nats_url_of(settings: Settings) -> str:
    if settings.nats_url is None:
        raise RuntimeError("KETENBUS_NATS_URL is not set; use `ketenbus up` to start everything")
    return settings.nats_url


async def connect(settings: Settings, name: str) -> NatsClient:
    url = nats_url_of(settings)
    return await nats.connect(server_list(url), name=name, max_reconnect_attempts=-1)


async def open_application(
    spec: ServiceSpec, settings: Settings, attempts: int = 5
) -> TrackedApplication:
    """Construct the service's application; retry when another service creates its tables at
    the same moment (PostgreSQL: concurrent `CREATE … IF NOT EXISTS` of shared objects)."""
    for attempt in range(1, attempts + 1):
        try:
            return await anyio.to_thread.run_sync(spec.application_factory, settings)
        except PersistenceError as exc:
            if attempt == attempts:
                raise
            log.warning("store_open_retry", service=spec.name, error=type(exc).__name__)
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


async def run_service(
    spec: ServiceSpec, settings: Settings, stop: asyncio.Event | None = None
) -> None:
    """Run the service until `stop` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    application = await open_application(spec, settings)
    nc = await connect(settings, spec.name)
    js = nc.jetstream()
    await ensure_streams(js, settings.nats_replicas)

    ctx = ServiceContext(
        settings=settings,
        application=application,
        limiter=anyio.CapacityLimiter(1),
        nc=nc,
        service=spec.name,
    )
    relay_task: asyncio.Task[None] | None = None
    if spec.translate is not None:
        ctx.relay = OutboxRelay(application, js, spec.translate, limiter=ctx.limiter)
        relay_task = asyncio.create_task(ctx.relay.run(), name=f"{spec.name}-outbox")

    failed = asyncio.Event()
    backoff = RESTART_BACKOFF
    try:
        while not stop.is_set():
            for consumer in spec.consumers:
                position = await ctx.call(application.position, consumer.tracking_name)
                await resume_consumer(js, consumer, position)
            broker = NatsBroker(
                server_list(nats_url_of(settings)),
                middlewares=(fail_fast_middleware(failed),),
                logger=None,
                graceful_timeout=10.0,
                name=f"{spec.name}-consumer",
            )
            broker.include_router(spec.router_factory(ctx))
            await broker.start()
            log.info("service_started", service=spec.name)
            await _first(stop.wait(), failed.wait())
            await broker.stop()
            if failed.is_set() and not stop.is_set():
                log.warning("service_restarting", service=spec.name, after_seconds=backoff)
                failed.clear()
                await _first(stop.wait(), asyncio.sleep(backoff))
                backoff = min(backoff * 2, MAX_RESTART_BACKOFF)
    finally:
        if relay_task is not None:
            relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay_task
        await nc.drain()
        application.close()
        log.info("service_stopped", service=spec.name)

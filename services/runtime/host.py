"""Running one service process: connect, declare streams, start subscribers and the outbox.

Each service's `bootstrap.py` is its composition root; it builds a `ServiceSpec` and hands it
here. Nothing connects until `run_service` is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import nats
import structlog
from faststream.nats import NatsBroker, NatsRouter
from nats.aio.client import Client as NatsClient

from services.runtime.outbox import OutboxRelay, Translate
from services.runtime.settings import Settings
from services.runtime.store import TrackedApplication
from services.runtime.streams import ensure_streams

log = structlog.get_logger(__name__)


@dataclass
class ServiceContext:
    """What a running service's handlers may use."""

    settings: Settings
    application: TrackedApplication
    limiter: anyio.CapacityLimiter
    relay: OutboxRelay | None = None
    nc: NatsClient | None = None

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a (synchronous) application method in the service's single store thread."""
        result = await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        if self.relay is not None:
            self.relay.wake()
        return result


@dataclass
class ServiceSpec:
    name: str
    application_factory: Callable[[Settings], TrackedApplication]
    router_factory: Callable[[ServiceContext], NatsRouter]
    translate: Translate | None = None
    middlewares: tuple[Any, ...] = field(default_factory=tuple)


async def connect(settings: Settings, name: str) -> NatsClient:
    if settings.nats_url is None:
        raise RuntimeError("KETENBUS_NATS_URL is not set; use `ketenbus up` to start everything")
    return await nats.connect(settings.nats_url, name=name, max_reconnect_attempts=-1)


async def run_service(
    spec: ServiceSpec, settings: Settings, stop: asyncio.Event | None = None
) -> None:
    """Run the service until `stop` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    application = await anyio.to_thread.run_sync(spec.application_factory, settings)
    nc = await connect(settings, spec.name)
    js = nc.jetstream()
    await ensure_streams(js, settings.nats_replicas)

    ctx = ServiceContext(
        settings=settings,
        application=application,
        limiter=anyio.CapacityLimiter(1),
        nc=nc,
    )
    relay_task: asyncio.Task[None] | None = None
    if spec.translate is not None:
        ctx.relay = OutboxRelay(application, js, spec.translate, limiter=ctx.limiter)
        relay_task = asyncio.create_task(ctx.relay.run(), name=f"{spec.name}-outbox")

    broker = NatsBroker(
        settings.nats_url,
        middlewares=spec.middlewares,
        logger=None,
        graceful_timeout=10.0,
        name=f"{spec.name}-consumer",
    )
    broker.include_router(spec.router_factory(ctx))
    await broker.start()
    log.info("service_started", service=spec.name)
    try:
        await stop.wait()
    finally:
        await broker.stop()
        if relay_task is not None:
            relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay_task
        await nc.drain()
        application.close()
        log.info("service_stopped", service=spec.name)

"""The webhook bridge: ketenbus's streams in, ZGW notifications out to subscribed callbacks.

In: durable pull consumers on the PLAN, SIGNALLING, HANDOVER, ARRANGEMENTS, TRUANCY and
PRIVACY streams; each event is recorded
(who is involved, which subscriptions want it) before it is acknowledged. Out: a delivery loop
POSTs each queued notification to its callback with the subscription's Authorization header;
a 2xx is delivered, anything else waits per the backoff and is tried again, up to the maximum,
then shown as failed until an operator retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError

from adapters.notificaties.channels import audience_of, involved_of, notificatie_of
from adapters.notificaties.models import BridgeConfig, load_config
from adapters.notificaties.store import DeliveryRow, NotificatieStore
from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.privacy import ChildErased
from services.runtime.host import health_subject
from services.runtime.streams import NOTIFICATIES_SOURCES, declare_consumer
from services.runtime.supervisor import BRIDGE

log = structlog.get_logger(__name__)


class Bridge:
    def __init__(
        self,
        store: NotificatieStore,
        base_url: str,
        config: BridgeConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.config = config or load_config()
        self.clock = clock

    def take(self, event: Any) -> int:
        """Record one contract event; the number of deliveries it queued."""
        notificatie = notificatie_of(event, self.config, self.base_url)
        return self.store.record(
            event_id=str(event.id),
            child=event.subject,
            involved=involved_of(event),
            audience=audience_of(event),
            notificatie=notificatie,
            erased=isinstance(event, ChildErased),
            now=self.clock(),
        )

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """One pass over what is due; the number delivered."""
        delivered = 0
        for row in self.store.due(self.clock()):
            if await self._deliver(client, row):
                delivered += 1
        return delivered

    async def _deliver(self, client: httpx.AsyncClient, row: DeliveryRow) -> bool:
        headers = {"Authorization": row.auth, "Content-Type": "application/json"}
        try:
            response = await client.post(
                row.callback_url,
                content=row.body,
                headers=headers,
                timeout=self.config.delivery.timeout,
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= response.status_code < 300:
                self.store.delivered(row.id, self.clock())
                log.info("notificatie_delivered", delivery=row.id, abonnement=row.abonnement_id)
                return True
            error = f"HTTP {response.status_code}"
        delivery = self.config.delivery
        status = self.store.attempt_failed(
            row.id, self.clock(), error, delivery.backoff, delivery.max_attempts
        )
        log.warning("notificatie_failed", delivery=row.id, status=status, error=error)
        return False

    async def consume(self, nc: NatsClient, stop: asyncio.Event) -> None:
        """Record the streams' events until `stop` (ack after recording: at least once)."""
        js = nc.jetstream()
        for (
            spec
        ) in NOTIFICATIES_SOURCES:  # its own consumers only; `ketenbus up` declared the streams
            await declare_consumer(js, spec)
        subscriptions = [
            await js.pull_subscribe_bind(spec.durable, stream=spec.stream.name)
            for spec in NOTIFICATIES_SOURCES
        ]
        while not stop.is_set():
            idle = True
            for subscription in subscriptions:
                try:
                    messages = await subscription.fetch(100, timeout=0.5)
                except (TimeoutError, NatsTimeoutError):
                    continue
                idle = False
                for msg in messages:
                    try:
                        event = parse_event(msg.data)
                    except (ValueError, UnknownEventTypeError):
                        log.warning("notificatie_event_unreadable", subject=msg.subject)
                    else:
                        await asyncio.to_thread(self.take, event)
                    await msg.ack()
            if idle:
                await asyncio.sleep(0.1)

    async def deliver(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        """Deliver what is due until `stop`."""
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                await self.deliver_due(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    async def _consume_until_stopped(self, nc: NatsClient, stop: asyncio.Event) -> None:
        # What was recorded stays recorded, what was not is redelivered: restarting is safe.
        while not stop.is_set():
            try:
                await self.consume(nc, stop)
            except Exception as exc:
                log.warning("notificatie_consumer_restarting", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    async def run(self, nc: NatsClient, stop: asyncio.Event) -> None:
        """Consume and deliver until `stop`; answers on its health subject meanwhile (the
        supervisor of `ketenbus up` waits for that)."""

        async def answer_health(msg: Msg) -> None:
            # The health report every service answers (contracts/asyncapi.yaml, `health`).
            report = {
                "service": BRIDGE,
                "nats": nc.is_connected,
                "tasks": {},
                "store": "ok",
                "ready": True,
            }
            await msg.respond(json.dumps(report).encode())

        health = await nc.subscribe(health_subject(BRIDGE), cb=answer_health)
        try:
            await asyncio.gather(self._consume_until_stopped(nc, stop), self.deliver(stop))
        finally:
            await health.unsubscribe()

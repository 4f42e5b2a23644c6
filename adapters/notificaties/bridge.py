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
from services.runtime.settings import Settings
from services.runtime.streams import NOTIFICATIES_SOURCES, declare_consumer
from services.runtime.supervisor import BRIDGE
from services.runtime.watch import ServiceGaveUpError, Watch, watched

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

    async def consume(
        self, nc: NatsClient, stop: asyncio.Event, progressed: Callable[[], None] | None = None
    ) -> None:
        """Record the streams' events until `stop` (ack after recording: at least once);
        `progressed` after each pass over the consumers."""
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
            if progressed is not None:
                progressed()
            if idle:
                await asyncio.sleep(0.1)

    async def deliver(
        self,
        stop: asyncio.Event,
        interval: float = 0.5,
        progressed: Callable[[], None] | None = None,
    ) -> None:
        """Deliver what is due until `stop`; `progressed` after each pass."""
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                await self.deliver_due(client)
                if progressed is not None:
                    progressed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    async def run(
        self, nc: NatsClient, stop: asyncio.Event, settings: Settings | None = None
    ) -> None:
        """Consume and deliver until `stop`; answers on its health subject meanwhile (the
        supervisor of `ketenbus up` waits for that).

        Both are watched as a service's tasks are (services/runtime/watch.py): a failed one
        starts again after a growing pause (what was recorded stays recorded, what was not is
        redelivered), and past `KETENBUS_TASK_MAX_FAILURES` in a row or
        `KETENBUS_TASK_MAX_RESTARTS` within the window the bridge gives up
        (`ServiceGaveUpError`: `ketenbus notificaties run` exits non-zero and `ketenbus up`
        starts it again). Its health report shows both tasks and is not ready while one fails.
        """
        watches = {
            task: Watch(BRIDGE, task) if settings is None else Watch.of(settings, BRIDGE, task)
            for task in ("consumers", "deliveries")
        }

        async def answer_health(msg: Msg) -> None:
            # The health report every service answers (contracts/asyncapi.yaml, `health`).
            failing = [name for name, watch in watches.items() if watch.failures]
            report = {
                "service": BRIDGE,
                "nats": nc.is_connected,
                "tasks": {name: watch.report() for name, watch in watches.items()},
                "store": "ok",
                "ready": nc.is_connected and not failing,
            }
            await msg.respond(json.dumps(report).encode())

        gave_up = asyncio.Event()
        consumers, deliveries = watches["consumers"], watches["deliveries"]
        tasks = [
            asyncio.create_task(
                watched(consumers, lambda: self.consume(nc, stop, consumers.ok), gave_up)
            ),
            asyncio.create_task(
                watched(deliveries, lambda: self.deliver(stop, progressed=deliveries.ok), gave_up)
            ),
        ]
        health = await nc.subscribe(health_subject(BRIDGE), cb=answer_health)
        try:
            ended = asyncio.create_task(gave_up.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([ended, stopped], return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            stopped.cancel()
            stop.set()  # the other task ends too
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            await health.unsubscribe()
        if gave_up.is_set():
            failing = [watch for watch in watches.values() if watch.gave_up]
            log.error("service_gave_up", service=BRIDGE, tasks=[w.task for w in failing])
            raise ServiceGaveUpError(", ".join(w.gave_up for w in failing))

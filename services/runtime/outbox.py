"""The outbox relay: publishes what a service recorded to JetStream, in order, exactly once.

It reads the service's notification log from its own recorded position, translates each domain
event into its contract event, publishes with `Nats-Msg-Id` = event id (derived from the stored
event, so a re-publish carries the same id and the server drops it), and then records the new
position in the service's store. A crash between publish and record re-publishes at most one
batch, which JetStream deduplicates within the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from eventsourcing.persistence import Tracking
from nats.js import JetStreamContext

from ketenbus_contracts.envelope import CloudEvent
from services.runtime.store import TrackedApplication

log = structlog.get_logger(__name__)

OUTBOX_NAMESPACE = uuid.UUID("0b1c6f1e-7a58-4c43-9a5e-6b6574656e62")

Translate = Callable[[Any, uuid.UUID], CloudEvent[Any] | None]


def outbound_event_id(application_name: str, domain_event: Any) -> uuid.UUID:
    """A stable id for the contract event of a stored domain event."""
    key = f"{application_name}/{domain_event.originator_id}/{domain_event.originator_version}"
    return uuid.uuid5(OUTBOX_NAMESPACE, key)


class OutboxRelay:
    tracking_name = "outbox"

    def __init__(
        self,
        application: TrackedApplication,
        js: JetStreamContext,
        translate: Translate,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        ack_timeout: float = 10.0,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.application = application
        self.js = js
        self.translate = translate
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.limiter = limiter
        self._wake = asyncio.Event()
        self._position: int | None = None
        self.published = 0

    def wake(self) -> None:
        """Tell the relay there is something new (it also polls, for what others recorded)."""
        self._wake.set()

    async def run(self, progressed: Callable[[], None] | None = None) -> None:
        """Relay for as long as it runs; `progressed` is called after each relay that passed.

        A failure (the stream without a leader, a publish not acknowledged in `ack_timeout`,
        the store away) ends the run; its watcher (`services.runtime.watch`) starts it again,
        from the recorded position: what was published but not recorded goes again, with the
        same ids, and the server drops the copies.
        """
        while True:
            # Cleared before relaying, not after: a wake during a relay (a batch recorded
            # while the previous one was being published) must start the next relay at once.
            self._wake.clear()
            try:
                count = await self.relay_once()
            except Exception:
                self._position = None  # read the recorded position again on the next run
                raise
            if progressed is not None:
                progressed()
            if count < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def lag(self) -> int:
        """What the service recorded and the relay has not yet published (notifications past
        the relay's recorded position), read from the store."""

        def read() -> int:
            app = self.application
            last = app.recorder.max_notification_id() or 0
            return max(0, last - app.position(self.tracking_name))

        return await anyio.to_thread.run_sync(read, limiter=self.limiter)

    async def relay_once(self) -> int:
        """Publish the next batch; returns how many notifications it covered."""
        app = self.application
        if self._position is None:
            # The relay is the only writer of its tracking record: read it once, then keep it.
            self._position = await anyio.to_thread.run_sync(
                app.position, self.tracking_name, limiter=self.limiter
            )
        start = self._position
        notifications = await anyio.to_thread.run_sync(
            lambda: app.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            ),
            limiter=self.limiter,
        )
        if not notifications:
            return 0
        acks = []
        for notification in notifications:
            domain_event = app.mapper.to_domain_event(notification)
            contract = self.translate(domain_event, outbound_event_id(app.name, domain_event))
            if contract is None:
                continue
            acks.append(
                await self.js.publish_async(
                    contract.outbound_subject(),
                    contract.to_bytes(),
                    headers={"Nats-Msg-Id": str(contract.id)},
                )
            )
        # Every publish is waited for (none left behind unobserved), the first failure raised.
        results = await asyncio.wait_for(
            asyncio.gather(*acks, return_exceptions=True), self.ack_timeout
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        last = notifications[-1].id
        await anyio.to_thread.run_sync(
            app.tracker.insert_tracking,
            Tracking(application_name=self.tracking_name, notification_id=last),
            limiter=self.limiter,
        )
        self._position = last
        self.published += len(acks)
        log.debug("outbox_relayed", application=app.name, position=last, count=len(acks))
        return len(notifications)

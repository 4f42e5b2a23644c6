"""The outbox relay takes what its store thread just recorded from memory (the hand-off) and
publishes exactly what it would have read back from the store: the same contract events, once,
in notification order. Where the hand-off does not continue the relay's position without a gap
(another writer's notification in between, a relay started again, an overflow, an erasure) it
reads the store; its position and tracking are as before.

Signalling's application on SQLite with real signals; the relay's publishes are captured (what
JetStream does with them, dedup by `Nats-Msg-Id`, is the relay's as before: test_relay_heals).
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Recording

from services.runtime.handoff import Handoff
from services.runtime.outbox import HandoffMismatchError, OutboxRelay
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.signalling.application import SignallingApplication
from services.signalling.translation import apply_inbound, to_contract
from tests.events import JGZ, SCHOOL, signal
from tests.integration.helpers import child

pytestmark = pytest.mark.integration

TRACKING = "INBOUND:signalling"


class Captured:
    """A JetStream context that keeps what is published (every publish acknowledged)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, str]] = []

    async def publish_async(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        self.messages.append((subject, payload, headers["Nats-Msg-Id"]))
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def application(tmp_path: Path, handoff: Handoff | None = None) -> SignallingApplication:
    settings = Settings(data_dir=tmp_path, store="sqlite")
    app = SignallingApplication(env=store_env(settings, "signalling"), inbound=apply_inbound)
    app.handoff = handoff
    return app


def signals(first: int, children: int) -> list[tuple[int, Any]]:
    """Two signals per child (a match: signalling records and relays more than the signals)."""
    items = []
    for n in range(children):
        pupil = child(first + n)
        items += [(first + 2 * n, signal(SCHOOL, child=pupil))]
        items += [(first + 2 * n + 1, signal(JGZ, child=pupil))]
    return items


def relay_all(app: SignallingApplication, handoff: Handoff | None, name: str) -> OutboxRelay:
    """A relay (its tracking under `name`) run until it has published everything recorded."""
    relay = OutboxRelay(app, Captured(), to_contract, handoff=handoff, check_handoff=True)  # type: ignore[arg-type]
    relay.tracking_name = name
    relay.batch_size = 50

    async def run() -> None:
        while await relay.relay_once():
            pass

    asyncio.run(run())
    return relay


def published(relay: OutboxRelay) -> list[tuple[str, bytes, str]]:
    captured: Captured = relay.js  # type: ignore[assignment]
    return captured.messages


def test_what_was_just_recorded_goes_out_from_memory_as_it_would_from_the_store(
    tmp_path: Path,
) -> None:
    handoff = Handoff()
    app = application(tmp_path, handoff)
    app.process_batch(TRACKING, signals(1, 40))

    relay = relay_all(app, handoff, "outbox")
    from_store = relay_all(app, None, "outbox-from-the-store")

    recorded = app.recorder.max_notification_id()
    assert (published(from_store), recorded, recorded) == (
        published(relay),
        relay.handed,
        app.position("outbox"),
    )


def test_what_another_writer_recorded_in_between_is_read_from_the_store(tmp_path: Path) -> None:
    handoff = Handoff()
    app = application(tmp_path, handoff)
    other = application(tmp_path)  # another instance on the same store: no hand-off here
    app.process_batch(TRACKING, signals(1, 10))
    first_run = app.recorder.max_notification_id()
    other.process_batch(TRACKING, signals(21, 10))
    others = app.recorder.max_notification_id() - first_run
    app.process_batch(TRACKING, signals(41, 10))

    relay = relay_all(app, handoff, "outbox")
    from_store = relay_all(app, None, "outbox-from-the-store")

    # The first run from memory; the other writer's read, and what follows it: from memory
    # again once the relay's position meets it.
    recorded = app.recorder.max_notification_id()
    assert (published(from_store), True) == (
        published(relay),
        first_run <= relay.handed <= recorded - others,
    )


def test_a_relay_started_again_or_overflowed_reads_from_the_store(tmp_path: Path) -> None:
    small = Handoff(capacity=5)
    app = application(tmp_path, small)
    app.process_batch(TRACKING, signals(1, 10))
    before = relay_all(app, None, "outbox")  # published, then the process stopped
    app.process_batch(TRACKING, signals(21, 10))  # more than the hand-off holds

    again = relay_all(app, small, "outbox")  # what was relayed before does not go again
    everything = relay_all(app, None, "outbox-from-the-store")

    recorded = app.recorder.max_notification_id()
    assert (published(everything)[len(published(before)) :], True, recorded) == (
        published(again),
        again.handed <= small.capacity,
        app.position("outbox"),
    )


def test_an_erased_childs_recorded_events_do_not_go_out_from_memory(tmp_path: Path) -> None:
    handoff = Handoff()
    app = application(tmp_path, handoff)
    app.process_batch(TRACKING, signals(1, 3))
    erased = app.recorder.select_notifications(0, 1)[0].originator_id
    app.purge(erased)

    relay = relay_all(app, handoff, "outbox")
    from_store = relay_all(app, None, "outbox-from-the-store")

    assert (published(from_store), 0) == (published(relay), len(handoff))


def test_a_hand_off_that_differs_from_the_store_stops_the_relay_under_the_check(
    tmp_path: Path,
) -> None:
    handoff = Handoff()
    app = application(tmp_path, handoff)
    app.process_batch(TRACKING, signals(1, 1))
    recorded = [(n, app.mapper.to_domain_event(n)) for n in app.recorder.select_notifications(0, 9)]
    # The first event that goes out, in memory with another time than stored.
    n = next(i for i, (_, e) in enumerate(recorded) if to_contract(e, uuid.uuid4()) is not None)
    altered = copy.copy(recorded[n][1])
    object.__setattr__(altered, "timestamp", datetime(2020, 1, 1, tzinfo=UTC))
    recorded[n] = (recorded[n][0], altered)
    handoff.clear()
    handoff.put(Recording(event, notification) for notification, event in recorded)

    with pytest.raises(HandoffMismatchError):
        relay_all(app, handoff, "outbox")
    assert 0 == app.position("outbox")

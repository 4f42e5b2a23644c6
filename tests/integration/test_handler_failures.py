"""A fault in a service's own code cannot stop it; a failing store does not lose valid events.

A service runs in this process (`run_service`) with a probe application on a real nats-server
and SQLite: its `handle` raises an exception nobody named on one message (a bug), or the
store's `OperationalError` for a while (the database is down). The bug's message is
dead-lettered as `unexpected-error` after `KETENBUS_HANDLER_MAX_DELIVERIES` deliveries and the
messages after it are recorded; the store's failure is retried until it passes, and no valid
message is dead-lettered. A batch refused whole still moves the service's recorded position.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, cast

import nats
import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import OperationalError
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from pydantic import BaseModel, SkipValidation

from services.runtime.batching import stream_subscriber
from services.runtime.host import ServiceContext, ServiceSpec, health_subject, run_service
from services.runtime.settings import Settings
from services.runtime.store import Batch, TrackedApplication, store_env
from services.runtime.streams import INBOUND, ConsumerSpec, ensure_streams
from tests.integration.helpers import read_stream

pytestmark = pytest.mark.integration

PROBE = ConsumerSpec(
    stream=INBOUND,
    durable="probe",
    filter_subjects=("in.*.probe.>",),
    description="probe service of the tests",
)
SUBJECT = "in.bs-de-regenboog.probe.noted"
NAMESPACE = uuid.UUID("0b7c44b6-5a3e-4f3c-9f58-70726f626521")


class ProbeMessage(BaseModel):
    """What the probe consumes; its id is what the partner's receipt names."""

    kind: str
    n: int

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"message-{self.n}")


decode = ProbeMessage.model_validate_json


class Noted(Aggregate):
    """One message the probe handled."""

    @staticmethod
    def create_id(n: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, str(n))

    def __init__(self, n: int) -> None:
        self.n = n


class ProbeApplication(TrackedApplication):
    """`ok` is noted; `bug` raises what nobody named; `down` fails like a store that is away
    for its first `outage` tries, each taking `slow` seconds."""

    name = "probe"
    outage: ClassVar[int] = 0
    tries: ClassVar[int] = 0
    slow: ClassVar[float] = 0.0
    failing: ClassVar[threading.Event] = threading.Event()  # a `down` try has started

    def handle(self, batch: Batch, message: ProbeMessage) -> None:
        if message.kind == "bug":
            raise ZeroDivisionError
        if message.kind == "down":
            ProbeApplication.tries += 1
            if ProbeApplication.tries <= ProbeApplication.outage:
                ProbeApplication.failing.set()
                time.sleep(ProbeApplication.slow)
                raise OperationalError("the database is away")
        batch.get(Noted.create_id(message.n), lambda: Noted(message.n))

    def noted(self) -> list[int]:
        found = []
        for n in range(1, 10):
            try:
                found.append(self.repository.get(Noted.create_id(n)).n)
            except Exception:
                continue
        return found


def probe_spec() -> ServiceSpec:
    def router(ctx: ServiceContext | None) -> NatsRouter:
        router = NatsRouter()

        async def on_batch(events: SkipValidation[list[Any]], msg: NatsMessage) -> None:
            assert ctx is not None
            await ctx.consume(PROBE, cast(list[Msg], msg.raw_message), decode)

        stream_subscriber(router, PROBE, title="probe", description="the tests' probe")(on_batch)
        return router

    return ServiceSpec(
        name="probe",
        application_factory=lambda settings: ProbeApplication(store_env(settings, "probe")),
        router_factory=router,
        consumers=(PROBE,),
    )


def run_probe(
    settings: Settings,
    url: str,
    messages: list[bytes],
    until: Callable[[], Awaitable[bool]],
    later: list[bytes] | None = None,
) -> tuple[list[int], int]:
    """Run the probe service, publish `messages` (and `later` once a `down` try has started),
    wait until `until`; what it noted and its recorded position."""
    settings = settings.model_copy(update={"nats_url": url})

    async def main() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_streams(js)
        stop = asyncio.Event()
        service = asyncio.create_task(run_service(probe_spec(), settings, stop))
        try:
            while not service.done():  # its store is open once it answers its health subject
                try:
                    await nc.request(health_subject("probe"), b"", timeout=0.5)
                    break
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    await asyncio.sleep(0.1)
            for body in messages:
                await js.publish(SUBJECT, body)
            for _ in range(1200):  # a bound of two minutes, not a timing assertion
                if later is None or ProbeApplication.failing.is_set():
                    break
                await asyncio.sleep(0.1)
            for body in later or []:
                await js.publish(SUBJECT, body)
            for _ in range(1200):  # a bound of two minutes, not a timing assertion
                if service.done() or await until():
                    break
                await asyncio.sleep(0.1)
            assert not service.done(), "the service stopped"
        finally:
            stop.set()
            await service
            await nc.close()

    asyncio.run(main())
    app = ProbeApplication(store_env(settings, "probe"))
    try:
        return app.noted(), app.position(PROBE.tracking_name)
    finally:
        app.close()


def message(kind: str, n: int) -> bytes:
    return json.dumps({"kind": kind, "n": n}).encode()


def letters(url: str) -> list[tuple[str, int]]:
    return [
        (json.loads(body)["reason"], json.loads(body)["stream_seq"])
        for _, body, _ in read_stream(url, "DEADLETTER")
    ]


def position_reached(settings: Settings, seq: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        app = ProbeApplication(store_env(settings, "probe"))
        try:
            return app.position(PROBE.tracking_name) >= seq
        finally:
            app.close()

    return check


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ProbeApplication.tries, ProbeApplication.outage, ProbeApplication.slow = 0, 0, 0.0
    ProbeApplication.failing.clear()
    return Settings(
        data_dir=tmp_path / "data", nats_auth="none", handler_max_deliveries=2,
        audit_witness_interval=0,
    )  # fmt: skip


def test_a_bug_on_one_message_dead_letters_it_after_the_bounded_deliveries_and_goes_on(
    settings: Settings, nats_url: str
) -> None:
    messages = [message("ok", 1), message("bug", 2), message("ok", 3)]

    noted, position = run_probe(settings, nats_url, messages, position_reached(settings, 3))

    assert ([1, 3], 3) == (noted, position)
    assert [("unexpected-error", 2)] == letters(nats_url)


def test_a_store_that_is_away_is_retried_and_dead_letters_no_valid_message(
    settings: Settings, nats_url: str
) -> None:
    ProbeApplication.outage = 4  # twice the bound on deliveries of a faulty message
    messages = [message("ok", 1), message("down", 2), message("ok", 3)]

    noted, position = run_probe(settings, nats_url, messages, position_reached(settings, 3))

    assert ([1, 2, 3], 3) == (noted, position)
    assert ([], 5) == (letters(nats_url), ProbeApplication.tries)


def test_a_message_that_arrives_while_a_batch_fails_is_not_recorded_ahead_of_it(
    settings: Settings, nats_url: str
) -> None:
    # The third message is handed over while the second's batch is failing, before the
    # service has restarted from its stored position: recorded then, its position would pass
    # the second, which would be skipped when it came again.
    ProbeApplication.outage, ProbeApplication.slow = 1, 0.5
    first = [message("ok", 1), message("down", 2)]

    noted, position = run_probe(
        settings, nats_url, first, position_reached(settings, 3), later=[message("ok", 3)]
    )

    assert ([1, 2, 3], 3) == (noted, position)
    assert ([], 2) == (letters(nats_url), ProbeApplication.tries)


def test_a_batch_refused_whole_moves_the_recorded_position(
    settings: Settings, nats_url: str
) -> None:
    messages = [b"not json", b"{", b"\xff"]

    noted, position = run_probe(settings, nats_url, messages, position_reached(settings, 3))

    assert ([], 3) == (noted, position)
    assert [("invalid-json", 1), ("invalid-json", 2), ("invalid-utf8", 3)] == letters(nats_url)

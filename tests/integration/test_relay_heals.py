"""A service's outbox relay heals: a failed relay starts again and relays everything recorded.

Issue 20: with the SIGNALLING stream's leader killed, `OutboxRelay.run` ended on
`NoStreamResponseError` and the service ran on without it, its recorded events never relayed.
Here a probe service (test_handler_failures.py's, with an outbox) runs in this process on a real
nats-server; the stream its outbox publishes to is deleted, so every publish finds no stream,
until the stream is declared again. The relay fails, is started again with a growing pause and
then relays every recorded event once; meanwhile its health answer says it is not ready, with
its outbox lag and the relay's error, also over HTTP (`/readyz` 503, then 200) beside its
Prometheus metrics (`/metrics`). A relay that keeps failing makes the service give up:
`run_service` ends with `ServiceGaveUpError` (`ketenbus service` exits non-zero) instead of
running on without it; so does a tick that fails again after each success (its restarts within
`KETENBUS_TASK_RESTART_WINDOW`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from pydantic import BaseModel

from ketenbus_contracts.envelope import CloudEvent, parse_event
from services.runtime.host import ServiceContext, ServiceSpec, health_subject, run_service
from services.runtime.outbox import outbound_event_id
from services.runtime.service import Answers
from services.runtime.settings import Settings
from services.runtime.streams import SIGNALLING, ensure_streams
from services.runtime.watch import ServiceGaveUpError
from tests.events import SCHOOL, signal
from tests.integration.helpers import child, eventually, read_stream
from tests.integration.test_handler_failures import PROBE, SUBJECT, Noted, message, probe_spec

pytestmark = pytest.mark.integration

RECORDED = 3


def translate(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """Each noted message goes out as a signal (a contract event on the SIGNALLING stream), the
    same each time it is made (as a service's translation: the relay's hand-off check)."""
    if not isinstance(domain_event, Noted.Created):
        return None
    return signal(
        SCHOOL,
        child=child(domain_event.n),
        event_id=event_id,
        signal_id=event_id,
        at=domain_event.timestamp,
    )


ASK = "ketenbus.probe.ask"


class Answer(BaseModel):
    ok: bool


def answer(application: Any, body: bytes) -> Answer:
    """`yes` is answered ok, anything else refused (as kluis refuses a key)."""
    return Answer(ok=body == b"yes")


def relaying_probe(seen: list[ServiceContext]) -> ServiceSpec:
    """The probe service with an outbox and a request subject; `seen` gets its context (its
    watched tasks)."""
    spec = probe_spec()
    make_router = spec.router_factory

    def router(ctx: ServiceContext) -> Any:
        seen.append(ctx)
        made = make_router(ctx)
        Answers(ASK, "the tests' question", answer).subscribe(made, ctx, "probe")
        return made

    return dataclasses.replace(spec, router_factory=router, translate=translate)


@pytest.fixture
def settings(tmp_path: Path, nats_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, nats_auth="none",
        audit_witness_interval=0, task_restart_backoff=0.05, task_max_backoff=0.5,
    )  # fmt: skip


async def started(nc: nats.aio.client.Client, service: asyncio.Task[None]) -> bool:
    """Once the service answers its health subject (its store is open, its consumers run)."""
    assert not service.done(), "the service stopped"
    await nc.request(health_subject("probe"), b"", timeout=0.5)
    return True


async def health(nc: nats.aio.client.Client) -> dict[str, Any]:
    """The probe service's health answer."""
    answer = await nc.request(health_subject("probe"), b"", timeout=5)
    report: dict[str, Any] = json.loads(answer.data)
    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_relay_without_its_stream_starts_again_and_relays_everything_once_the_stream_is_back(
    settings: Settings, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[ServiceContext] = []
    port = free_port()
    monkeypatch.setenv("KETENBUS_PROBE_HTTP_PORT", str(port))
    answers: dict[str, tuple[int, str]] = {}

    async def get(name: str, path: str) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.get(path)
        answers[name] = (response.status_code, response.text)

    async def main() -> tuple[list[uuid.UUID], dict[str, Any], dict[str, Any]]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_streams(js)
        stop = asyncio.Event()
        service = asyncio.create_task(run_service(relaying_probe(seen), settings, stop))
        try:
            await eventually(lambda: started(nc, service), "the probe service answers")
            await js.delete_stream(SIGNALLING.name)  # as a stream without a leader: no answer
            for n in range(1, RECORDED + 1):
                await js.publish(SUBJECT, message("ok", n))
            await js.publish(SUBJECT, b"not json")  # dead-lettered: counted in the metrics
            outbox = seen[0].watches["outbox"]

            async def relay_failed_twice() -> dict[str, Any] | None:
                assert not service.done(), "the service stopped"
                if outbox.restarts < 2:
                    return None
                # Under load the consumer may record the last messages after that.
                report = await health(nc)
                return report if report.get("outbox_lag") == RECORDED else None

            failing = await eventually(relay_failed_twice, "the relay failed and started again")
            await get("failing", "/readyz")
            await ensure_streams(js)  # the stream is back

            async def all_relayed() -> bool:
                assert not service.done(), "the service stopped"
                return (await js.stream_info(SIGNALLING.name)).state.messages >= RECORDED

            await eventually(all_relayed, "every recorded event relayed")

            async def healed() -> dict[str, Any] | None:
                report = await health(nc)
                # Ready once the store and NATS answer; the relay's failures reset on its next
                # progress, which may come a moment later.
                ready = report["ready"] and not report["tasks"]["outbox"]["failures"]
                return report if ready else None

            healthy = await eventually(healed, "the service reports itself ready")
            await get("healthy", "/readyz")
            await get("live", "/healthz")

            async def consumer_lag_measured() -> bool:  # the delivery watchdog's next check
                await get("metrics", "/metrics")
                return "ketenbus_consumer_lag{" in answers["metrics"][1]

            await eventually(consumer_lag_measured, "the consumer's lag measured")
            for body in (b"yes", b"yes", b"no"):
                await nc.request(ASK, body, timeout=30)
            await get("metrics", "/metrics")
            app = seen[0].application
            recorded = [
                outbound_event_id(app.name, app.mapper.to_domain_event(n))
                for n in app.recorder.select_notifications(0, 100)
            ]
            return recorded, failing, healthy
        finally:
            stop.set()
            await service
            await nc.close()

    recorded, failing, healthy = asyncio.run(main())

    relayed = [parse_event(body).id for _, body, _ in read_stream(nats_url, SIGNALLING.name)]
    assert (RECORDED, sorted(recorded)) == (len(recorded), sorted(relayed))
    # While it failed its health answer said so (`ketenbus status` shows it), and then not.
    assert (False, RECORDED, "NoStreamResponseError") == (
        failing["ready"],
        failing["outbox_lag"],
        failing["tasks"]["outbox"]["error"],
    )
    assert (True, 0, 0) == (
        healthy["ready"],
        healthy["outbox_lag"],
        healthy["tasks"]["outbox"]["failures"],
    )
    # The same over HTTP (readiness 503, then 200), and the metrics for Prometheus.
    assert (503, 200, 200) == (answers["failing"][0], answers["healthy"][0], answers["live"][0])
    assert (False, True) == (
        json.loads(answers["failing"][1])["ready"],
        json.loads(answers["healthy"][1])["ready"],
    )
    metrics = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in answers["metrics"][1].splitlines()
        if line and not line.startswith("#")
    }
    assert (0.0, 1.0, 1.0, True) == (
        metrics["ketenbus_outbox_lag"],
        metrics["ketenbus_ready"],
        metrics['ketenbus_deadletters_total{reason="invalid-json"}'],
        metrics['ketenbus_task_restarts_total{task="outbox"}'] >= 2,
    )
    asked = 'ketenbus_requests_total{outcome="%s",subject="ketenbus.probe.ask"}'
    assert (2.0, 1.0) == (metrics[asked % "ok"], metrics[asked % "refused"])
    assert 0.0 == metrics[f'ketenbus_consumer_lag{{consumer="{PROBE.tracking_name}"}}']


def test_a_relay_that_keeps_failing_makes_the_service_give_up(
    settings: Settings, nats_url: str
) -> None:
    settings = settings.model_copy(update={"task_max_failures": 3})

    async def main() -> str:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_streams(js)
        service = asyncio.create_task(run_service(relaying_probe([]), settings))
        try:
            await eventually(lambda: started(nc, service), "the probe service answers")
            await js.delete_stream(SIGNALLING.name)
            await js.publish(SUBJECT, message("ok", 1))
            with pytest.raises(ServiceGaveUpError) as gave_up:
                await asyncio.wait_for(service, 120)  # a bound, not a timing assertion
            return str(gave_up.value)
        finally:
            service.cancel()
            await nc.close()

    assert "outbox failed 3 times in a row (NoStreamResponseError)" == asyncio.run(main())


def test_a_tick_that_fails_again_after_each_success_makes_the_service_give_up(
    settings: Settings, nats_url: str
) -> None:
    """Its run of failures never grows (each success ends it): the restarts within the window
    make the service give up. Meanwhile the health report says how long ago a tick ran."""
    settings = settings.model_copy(
        update={"task_max_failures": 100, "task_max_restarts": 3, "task_restart_window": 600.0}
    )
    ticks: list[int] = []

    def tick(application: Any, now: Any) -> None:
        ticks.append(len(ticks) + 1)
        if len(ticks) > 1 and len(ticks) % 2 == 1:
            raise OSError("the tick's store is away")

    spec = dataclasses.replace(relaying_probe([]), tick=tick, tick_interval=1.0)

    async def main() -> tuple[str, dict[str, Any]]:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream())
        service = asyncio.create_task(run_service(spec, settings))
        try:
            await eventually(lambda: started(nc, service), "the probe service answers")
            ticked = await eventually(lambda: ticked_once(nc), "a tick ran through")
            with pytest.raises(ServiceGaveUpError) as gave_up:
                await asyncio.wait_for(service, 120)  # a bound, not a timing assertion
            return str(gave_up.value), ticked
        finally:
            service.cancel()
            await nc.close()

    reason, ticking = asyncio.run(main())

    assert "ticks failed again after 3 restarts within 600s (OSError)" == reason
    assert (True, 9) == (0 <= ticking["since_ok_seconds"] < 60, len(ticks))


async def ticked_once(nc: nats.aio.client.Client) -> dict[str, Any] | None:
    """The ticks' report once a tick ran through."""
    ticking: dict[str, Any] = (await health(nc))["tasks"]["ticks"]
    return ticking if ticking["since_ok_seconds"] is not None else None

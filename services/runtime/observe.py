"""A service's health, readiness and metrics over HTTP, for a supervisor that is not `up`
(Kubernetes probes, a Prometheus scrape).

With `KETENBUS_<SERVICE>_HTTP_PORT` set, the service answers on `KETENBUS_HTTP_HOST` (loopback
unless set): `GET /healthz` 200 while it runs (liveness), `GET /readyz` 200 when it is ready,
503 when not, with its health report as JSON (`services.runtime.host.health_report`: NATS, the
store, the outbox lag, the watched tasks), and `GET /metrics` in Prometheus's text format from
prometheus-client: consumer lag and unacknowledged messages, outbox lag, dead letters by reason,
requests answered by subject and outcome (kluis's key releases), batch processing time, the
watched tasks' restarts and failures in a row. The report and the
metrics carry no personal data: counts, reason codes and task names only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.watch import Watch

log = structlog.get_logger(__name__)

READ_TIMEOUT = 5.0


class HttpSettings(BaseSettings):
    """A service's own HTTP port: `KETENBUS_<SERVICE>_HTTP_PORT` (unset: no HTTP)."""

    model_config = SettingsConfigDict(extra="ignore")
    http_port: int | None = Field(default=None, ge=0, le=65535)


def http_port(service: str) -> int | None:
    """`service`'s HTTP port for health, readiness and metrics, or None."""
    prefix = f"KETENBUS_{service.upper().replace('-', '_')}_"
    return HttpSettings(_env_prefix=prefix).http_port  # type: ignore[call-arg]


class _Tasks(Collector):
    """The watched tasks' restarts and failures in a row, read when scraped."""

    def __init__(self, watches: dict[str, Watch]) -> None:
        self.watches = watches

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "ketenbus_task_restarts", "Restarts of a watched task after a failure", labels=["task"]
        )
        failing = GaugeMetricFamily(
            "ketenbus_task_failures", "Failures in a row of a watched task", labels=["task"]
        )
        for name, watch in sorted(self.watches.items()):
            restarts.add_metric([name], watch.restarts)
            failing.add_metric([name], watch.failures)
        yield restarts
        yield failing


class Metrics:
    """One service process's metrics, in a registry of its own."""

    def __init__(self, watches: dict[str, Watch]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumer_lag = Gauge(
            "ketenbus_consumer_lag", "Messages not yet delivered to the consumer", ["consumer"],
            registry=r,
        )  # fmt: skip
        self.consumer_unacked = Gauge(
            "ketenbus_consumer_unacked", "Messages delivered, not yet acknowledged", ["consumer"],
            registry=r,
        )  # fmt: skip
        self.outbox_lag = Gauge(
            "ketenbus_outbox_lag", "Events recorded and not yet relayed by the outbox", registry=r
        )
        self.ready = Gauge("ketenbus_ready", "1 when the service is ready", registry=r)
        self.deadletters = Counter(
            "ketenbus_deadletters", "Messages dead-lettered, by reason code", ["reason"],
            registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "ketenbus_requests", "Requests answered, by subscribed subject and outcome (ok, "
            "refused): kluis's key releases are its `ketenbus.kluis.key` answers that are ok",
            ["subject", "outcome"], registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "ketenbus_batch_processing_seconds", "Time to process one fetched batch",
            ["consumer"], registry=r,
        )  # fmt: skip
        r.register(_Tasks(watches))

    def observe(self, report: dict[str, Any]) -> None:
        """Take the health report's figures (computed when asked)."""
        if report.get("outbox_lag") is not None:
            self.outbox_lag.set(report["outbox_lag"])
        self.ready.set(1 if report.get("ready") else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


Report = Callable[[], Awaitable[dict[str, Any]]]


async def serve_http(host: str, port: int, report: Report, metrics: Metrics) -> asyncio.Server:
    """Start answering `/healthz`, `/readyz` and `/metrics` on `host:port`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, kind, body = await _respond(reader, report, metrics)
        except (TimeoutError, ValueError, ConnectionError):
            status, kind, body = 400, "text/plain", b"bad request\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, port)
    log.info("http_serving", port=server.sockets[0].getsockname()[1])
    return server


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}


async def _respond(
    reader: asyncio.StreamReader, report: Report, metrics: Metrics
) -> tuple[int, str, bytes]:
    line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
    while (await asyncio.wait_for(reader.readline(), READ_TIMEOUT)) not in (b"\r\n", b"\n", b""):
        pass  # the headers: nothing in them matters here
    method, path, _ = line.decode("ascii").split(" ", 2)
    if method != "GET":
        return 400, "text/plain", b"GET only\n"
    path = path.split("?", 1)[0]
    if path == "/healthz":
        return 200, "text/plain", b"ok\n"
    if path == "/readyz":
        health = await report()
        metrics.observe(health)
        return (200 if health["ready"] else 503), "application/json", json.dumps(health).encode()
    if path == "/metrics":
        metrics.observe(await report())
        return 200, CONTENT_TYPE_LATEST, metrics.exposition()
    return 404, "text/plain", b"not found\n"

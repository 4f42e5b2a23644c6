"""What an operator looks at first: streams, consumers and their lag (and whether each is as
declared in services/runtime/streams.py), each service's health (its outbox lag, its failing
tasks), dead letters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from services.runtime import nats_auth
from services.runtime.host import health_subject
from services.runtime.nats_auth import SUPERVISOR_USER
from services.runtime.partitions import listed_partitions
from services.runtime.settings import Settings
from services.runtime.streams import CONSUMERS, DEADLETTER, STREAMS, ConsumerSpec, drift
from services.runtime.supervisor import BRIDGE, partner_consumers


async def collect_status(
    url: str, settings: Settings | None = None, services: Sequence[str] = ()
) -> dict[str, Any]:
    """The report; as the supervisor's NATS user when `settings` say `KETENBUS_NATS_AUTH`.
    With `services`, each one's health answer too (its outbox lag, its failing tasks)."""
    resolved = nats_auth.settings_for(url, settings)
    nc = await nats_auth.connect(resolved, SUPERVISOR_USER, url)
    try:
        js = nc.jetstream()
        streams = []
        for spec in STREAMS:
            try:
                info = await js.stream_info(spec.name)
            except nats.js.errors.NotFoundError:
                streams.append({"name": spec.name, "missing": True})
                continue
            streams.append(
                {
                    "name": spec.name,
                    "messages": info.state.messages,
                    "bytes": info.state.bytes,
                    "last_seq": info.state.last_seq,
                }
            )
        consumers = []
        # The partners' feeds (and readers) too: an operator sees who is not reading its own.
        for consumer in (*CONSUMERS, *partner_consumers(), *_partitions()):
            try:
                cinfo = await js.consumer_info(consumer.stream.name, consumer.durable)
            except nats.js.errors.NotFoundError:
                if consumer.partition is not None:
                    continue  # the service runs on one instance (or this part never ran)
                if consumer.durable == BRIDGE and resolved.notificaties == "off":
                    continue  # the webhook bridge is not run, so its consumers are not either
                consumers.append(
                    {"stream": consumer.stream.name, "durable": consumer.durable, "missing": True}
                )
                continue
            consumers.append(
                {
                    "stream": consumer.stream.name,
                    "durable": consumer.durable,
                    "pending": cinfo.num_pending,
                    "ack_pending": cinfo.num_ack_pending,
                    "redelivered": cinfo.num_redelivered,
                    "delivered_seq": cinfo.delivered.stream_seq if cinfo.delivered else 0,
                    "drift": drift(consumer, cinfo),
                }
            )
        deadletters: dict[str, int] = {}
        try:
            info = await js.stream_info(DEADLETTER.name, subjects_filter="ketenbus.deadletter.>")
            for subject, count in (info.state.subjects or {}).items():
                deadletters[subject.rsplit(".", 1)[-1]] = count
        except nats.js.errors.NotFoundError:
            pass
        health = [await _health(nc, name) for name in services]
        return {
            "url": url,
            "streams": streams,
            "consumers": consumers,
            "deadletters": deadletters,
            "services": health,
        }
    finally:
        await nc.close()


def _partitions() -> list[ConsumerSpec]:
    """The parts of the consumers of the services that may run partitioned
    (infra/partitions.yaml): those that exist are shown beside the whole."""
    return [
        part
        for consumer in CONSUMERS
        for part in consumer.partitioned(listed_partitions(consumer.durable))
    ]


async def _health(nc: NatsClient, service: str) -> dict[str, Any]:
    """A service's health answer (services.runtime.host.health_report), or that it has none."""
    try:
        msg = await nc.request(health_subject(service), b"", timeout=HEALTH_TIMEOUT)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return {"service": service, "down": True}
    try:
        report = json.loads(msg.data)
    except ValueError:
        report = None
    if not isinstance(report, dict):  # an answer of another kind (the webhook bridge's "ok")
        return {"service": service, "ready": True}
    return {**report, "service": service}


HEALTH_TIMEOUT = 5.0


def format_service(health: dict[str, Any]) -> str:
    name = f"{health['service']:<16}"
    if health.get("down"):
        return f"  {name} DOWN (no health answer)"
    parts = ["ready" if health.get("ready") else "NOT READY"]
    if "outbox_lag" in health:
        parts.append(f"outbox lag {health['outbox_lag']:>6}")
    if health.get("store", "ok") != "ok":
        parts.append(f"store {health['store']}")
    if health.get("nats") is False:
        parts.append("NATS disconnected")
    for task, state in sorted((health.get("tasks") or {}).items()):
        if state.get("failures"):
            parts.append(f"{task} failing ({state['failures']}x {state.get('error', '')})")
        elif state.get("restarts"):
            parts.append(f"{task} restarted {state['restarts']}x")
    return f"  {name} " + "  ".join(parts)


def format_status(report: dict[str, Any]) -> str:
    lines = [f"NATS {report['url']}", "", "Streams:"]
    for s in report["streams"]:
        if s.get("missing"):
            lines.append(f"  {s['name']:<12} (not declared)")
        else:
            lines.append(f"  {s['name']:<12} {s['messages']:>8} msgs {s['bytes']:>10} bytes")
    lines += ["", "Consumers:"]
    for c in report["consumers"]:
        name = f"{c['stream']}/{c['durable']}"
        if c.get("missing"):
            lines.append(f"  {name:<28} MISSING (not on the server)")
        else:
            differs = (
                f"  DIFFERS from the declared: {', '.join(c['drift'])}" if c.get("drift") else ""
            )
            lines.append(
                f"  {name:<28} lag {c['pending']:>6}  unacked {c['ack_pending']:>4}"
                f"  redelivered {c['redelivered']:>4}{differs}"
            )
    if report.get("services"):
        lines += ["", "Services:"]
        lines += [format_service(health) for health in report["services"]]
    lines += ["", "Dead letters:"]
    if report["deadletters"]:
        lines += [f"  {svc:<16} {n:>6}" for svc, n in sorted(report["deadletters"].items())]
    else:
        lines.append("  none")
    return "\n".join(lines)

"""Rebuild plans from the streams: what the live projection consumed, replayed in order.

The plan consumes the parties' plan events on INBOUND, the other domains' streams (SIGNALLING,
HANDOVER, ARRANGEMENTS, TRUANCY: `handlers.FEEDS`) and PRIVACY; the live service took each
message as it arrived, so the replay merges them by the time JetStream stored them. Refused
events are refused again (the same rules on the same plan).
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.handlers import CONSUMERS
from services.runtime.streams import ConsumerSpec

SOURCES: tuple[ConsumerSpec, ...] = CONSUMERS
FETCH_BATCH = 5000  # messages per pull request (was 500: ten times the round trips)
REBUILD_BATCH = 1000  # events per transaction, as the service records a batch
REBUILD_TRACKING = "rebuild"


async def _read(nc: NatsClient, spec: ConsumerSpec) -> list[tuple[Any, int, Any]]:
    js = nc.jetstream()
    try:
        info = await js.stream_info(spec.stream.name)
    except NotFoundError:
        return []
    out: list[tuple[Any, int, Any]] = []
    if info.state.messages == 0:
        return out
    # An ephemeral ordered read of the same subjects the service's consumer filters, without
    # acknowledgements: a reader whose user may not publish to $JS.ACK (the supervisor's) had
    # its deliveries stop at the consumer's max_ack_pending (1,000 messages) and timed out.
    sub = await js.pull_subscribe(
        spec.filter_subjects[0],
        stream=spec.stream.name,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30
        ),
    )
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while pending > 0:
            for msg in await sub.fetch(min(pending, FETCH_BATCH), timeout=5):
                pending -= 1
                try:
                    event = parse_event(msg.data)
                except (ValueError, UnknownEventTypeError):
                    continue  # dead-lettered live too
                out.append((msg.metadata.timestamp, msg.metadata.sequence.stream, event))
    finally:
        await sub.unsubscribe()
    return out


async def replay_events(nc: NatsClient) -> list[Any]:
    """Every event the plan consumes, in the order JetStream stored them."""
    merged: list[tuple[Any, int, Any]] = []
    for spec in SOURCES:
        merged += await _read(nc, spec)
    merged.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in merged]


def rebuild(app: IntegralPlanApplication, events: list[Any]) -> int:
    """Apply `events` to a fresh application; the number refused (as they were live).

    A batch of `REBUILD_BATCH` events at a time, one transaction each, as the service records
    what it consumed (`process_batch`: each event sees the plan as the earlier ones of the
    batch left it, a refused one leaves no trace); one transaction per event made a rebuild on
    SQLite or PostgreSQL wait on a commit per event."""
    start = app.position(REBUILD_TRACKING)
    numbered = list(enumerate(events, start=start + 1))
    refused = 0
    for first in range(0, len(numbered), REBUILD_BATCH):
        refused += len(app.process_batch(REBUILD_TRACKING, numbered[first : first + REBUILD_BATCH]))
    return refused

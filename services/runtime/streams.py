"""Every JetStream stream and durable consumer of ketenbus, declared in one place.

Subjects:
- `in.<partner>.<domain>.<event>`: what partners publish (stream INBOUND);
- `ketenbus.<domain>.<event>.v<N>`: what services recorded and relayed (one stream per domain);
- `ketenbus.deadletter.<service>`: refused input with its reason (stream DEADLETTER).

The duplicate window is what makes a re-publish by the outbox relay after a crash harmless
(`Nats-Msg-Id` = event id); the relay still keeps its own position, since dedup only covers
the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    duplicate_window: float = 120.0
    max_age: float = 0.0  # 0 = kept until erased by policy; the event stores are the record
    retention: RetentionPolicy = RetentionPolicy.LIMITS

    def config(self, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            description=self.description,
            retention=self.retention,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
            num_replicas=replicas,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    stream: StreamSpec
    durable: str
    filter_subjects: tuple[str, ...]
    description: str
    max_deliver: int = 10
    ack_wait: float = 30.0
    backoff: tuple[float, ...] = field(default=(1.0, 5.0, 30.0))

    @property
    def tracking_name(self) -> str:
        """Name under which the consumer records the stream sequences it processed."""
        return f"{self.stream.name}:{self.durable}"

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            description=self.description,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subjects=list(self.filter_subjects),
        )


INBOUND = StreamSpec(
    name="INBOUND",
    subjects=("in.>",),
    description="What partners publish, as they published it (validated by each service)",
)
SIGNALLING = StreamSpec(
    name="SIGNALLING",
    subjects=("ketenbus.signalling.>",),
    description="Events recorded by the signalling service",
)
DEADLETTER = StreamSpec(
    name="DEADLETTER",
    subjects=("ketenbus.deadletter.>",),
    description="Refused input with the reason; original bytes sealed",
    max_age=90 * DAY,
)

STREAMS: tuple[StreamSpec, ...] = (INBOUND, SIGNALLING, DEADLETTER)

SIGNALLING_INBOUND = ConsumerSpec(
    stream=INBOUND,
    durable="signalling",
    filter_subjects=("in.*.signalling.>",),
    description="signalling service: signals registered and withdrawn by partners",
)
PLAN_SIGNALLING = ConsumerSpec(
    stream=SIGNALLING,
    durable="integral-plan",
    filter_subjects=("ketenbus.signalling.>",),
    description="integral-plan projection: signals and matches",
)

CONSUMERS: tuple[ConsumerSpec, ...] = (SIGNALLING_INBOUND, PLAN_SIGNALLING)


def deadletter_subject(service: str) -> str:
    return f"ketenbus.deadletter.{service}"


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update every stream and durable consumer; safe to call from each service."""
    for spec in STREAMS:
        config = spec.config(replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
    for consumer in CONSUMERS:
        await js.add_consumer(consumer.stream.name, consumer.config())

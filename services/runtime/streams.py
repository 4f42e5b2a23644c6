"""Every JetStream stream and durable consumer of ketenbus, declared in one place.

Subjects:
- `in.<partner>.<domain>.<event>`: what partners publish (stream INBOUND);
- `ketenbus.<domain>.<event>.v<N>`: what services recorded and relayed (one stream per domain);
- `ketenbus.privacy.<event>.v<N>`: erasures (stream PRIVACY);
- `ketenbus.deadletter.<service>`: refused input with its reason (stream DEADLETTER).

The duplicate window is what makes a re-publish by the outbox relay after a crash harmless
(`Nats-Msg-Id` = event id); the relay still keeps its own position, since dedup only covers
the window.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

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

    def config(self, start_seq: int = 1) -> ConsumerConfig:
        """The consumer, delivering from stream sequence `start_seq` on."""
        return ConsumerConfig(
            durable_name=self.durable,
            description=self.description,
            deliver_policy=DeliverPolicy.ALL if start_seq <= 1 else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=None if start_seq <= 1 else start_seq,
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
HANDOVER = StreamSpec(
    name="HANDOVER",
    subjects=("ketenbus.handover.>",),
    description="Events recorded by the handover service",
)

ARRANGEMENTS = StreamSpec(
    name="ARRANGEMENTS",
    subjects=("ketenbus.arrangements.>",),
    description="Events recorded by the arrangements service",
)

TRUANCY = StreamSpec(
    name="TRUANCY",
    subjects=("ketenbus.truancy.>",),
    description="Events recorded by the truancy service",
)
DEADLETTER = StreamSpec(
    name="DEADLETTER",
    subjects=("ketenbus.deadletter.>",),
    description="Refused input with the reason; original bytes sealed",
    max_age=90 * DAY,
)

PRIVACY = StreamSpec(
    name="PRIVACY",
    subjects=("ketenbus.privacy.>",),
    description="Erasures (child-erased) every projection acts on",
)

PLAN = StreamSpec(
    name="PLAN",
    subjects=("ketenbus.plan.>",),
    description="Events recorded by the integral-plan service (parties, regie, goals, actions)",
)


@dataclass(frozen=True)
class ObjectStoreSpec:
    """A JetStream object store (stream `OBJ_<name>`), for what is too large for an event."""

    name: str
    description: str

    def config(self, replicas: int) -> ObjectStoreConfig:
        return ObjectStoreConfig(
            description=self.description, storage=StorageType.FILE, replicas=replicas
        )


HANDOVER_ATTACHMENTS = ObjectStoreSpec(
    name="handover-attachments",
    description="Sealed OSO attachments, by reference from the handover's dossier sections",
)
OBJECT_STORES: tuple[ObjectStoreSpec, ...] = (HANDOVER_ATTACHMENTS,)

STREAMS: tuple[StreamSpec, ...] = (
    INBOUND,
    SIGNALLING,
    HANDOVER,
    ARRANGEMENTS,
    TRUANCY,
    PLAN,
    PRIVACY,
    DEADLETTER,
)

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

PLAN_HANDOVER = ConsumerSpec(
    stream=HANDOVER,
    durable="integral-plan",
    filter_subjects=("ketenbus.handover.>",),
    description="integral-plan projection: handovers (status, escalations, continuity gaps)",
)
PLAN_ARRANGEMENTS = ConsumerSpec(
    stream=ARRANGEMENTS,
    durable="integral-plan",
    filter_subjects=("ketenbus.arrangements.>",),
    description="integral-plan projection: support, TLVs, OPPs, youth care, disputes, regie",
)
PLAN_TRUANCY = ConsumerSpec(
    stream=TRUANCY,
    durable="integral-plan",
    filter_subjects=("ketenbus.truancy.>",),
    description="integral-plan projection: enrolments, verzuim, thuiszitters, offers",
)

KLUIS_SIGNALLING = ConsumerSpec(
    stream=SIGNALLING,
    durable="kluis",
    filter_subjects=("ketenbus.signalling.>",),
    description="kluis: relations from signals registered and withdrawn",
)

HANDOVER_INBOUND = ConsumerSpec(
    stream=INBOUND,
    durable="handover",
    filter_subjects=("in.*.handover.>",),
    description="handover service: handovers started, prepared, viewed, requested, released",
)
KLUIS_HANDOVER = ConsumerSpec(
    stream=HANDOVER,
    durable="kluis",
    filter_subjects=("ketenbus.handover.>",),
    description="kluis: relations from handovers started (sender) and delivered (receiver)",
)

TRUANCY_INBOUND = ConsumerSpec(
    stream=INBOUND,
    durable="truancy",
    filter_subjects=("in.*.truancy.>",),
    description="truancy service: enrolments, absences, residents, exemptions, answers, offers",
)
KLUIS_TRUANCY = ConsumerSpec(
    stream=TRUANCY,
    durable="kluis",
    filter_subjects=("ketenbus.truancy.>",),
    description="kluis: relations from enrolments and verzuimmeldingen",
)
MONITOR_TRUANCY = ConsumerSpec(
    stream=TRUANCY,
    durable="monitor",
    filter_subjects=("ketenbus.truancy.>",),
    description="monitor projection: quarterly regional figures (no personal data)",
)

MONITOR_PRIVACY = ConsumerSpec(
    stream=PRIVACY,
    durable="monitor",
    filter_subjects=("ketenbus.privacy.>",),
    description="monitor projection: forget erased children (their episodes stay counted)",
)

PLAN_PRIVACY = ConsumerSpec(
    stream=PRIVACY,
    durable="integral-plan",
    filter_subjects=("ketenbus.privacy.>",),
    description="integral-plan projection: drop the plans of erased children",
)

ARRANGEMENTS_INBOUND = ConsumerSpec(
    stream=INBOUND,
    durable="arrangements",
    filter_subjects=("in.*.arrangements.>",),
    description="arrangements service: support requests, TLVs, OPPs, youth care, disputes",
)
KLUIS_ARRANGEMENTS = ConsumerSpec(
    stream=ARRANGEMENTS,
    durable="kluis",
    filter_subjects=("ketenbus.arrangements.>",),
    description="kluis: relations of the parties to arrangements, TLVs, OPPs and youth care",
)

PLAN_INBOUND = ConsumerSpec(
    stream=INBOUND,
    durable="integral-plan",
    filter_subjects=("in.*.plan.>",),
    description="integral-plan: parties, regie, goals, agreements and actions from partners",
)
KLUIS_PLAN = ConsumerSpec(
    stream=PLAN,
    durable="kluis",
    filter_subjects=("ketenbus.plan.>",),
    description="kluis: relations from plan parties joining and leaving",
)

NOTIFICATIES_PLAN = ConsumerSpec(
    stream=PLAN,
    durable="notificaties",
    filter_subjects=("ketenbus.plan.>",),
    description="webhook bridge (Notificaties API): plan events to subscribed callbacks",
)
NOTIFICATIES_SIGNALLING = ConsumerSpec(
    stream=SIGNALLING,
    durable="notificaties",
    filter_subjects=("ketenbus.signalling.>",),
    description="webhook bridge (Notificaties API): signals and matches",
)
NOTIFICATIES_HANDOVER = ConsumerSpec(
    stream=HANDOVER,
    durable="notificaties",
    filter_subjects=("ketenbus.handover.>",),
    description="webhook bridge (Notificaties API): handovers started, delivered, escalated",
)
NOTIFICATIES_ARRANGEMENTS = ConsumerSpec(
    stream=ARRANGEMENTS,
    durable="notificaties",
    filter_subjects=("ketenbus.arrangements.>",),
    description="webhook bridge (Notificaties API): TLVs, OPPs, youth care, arrangements, regie",
)
NOTIFICATIES_TRUANCY = ConsumerSpec(
    stream=TRUANCY,
    durable="notificaties",
    filter_subjects=("ketenbus.truancy.>",),
    description="webhook bridge (Notificaties API): verzuimmeldingen, thuiszitters, offers",
)
NOTIFICATIES_PRIVACY = ConsumerSpec(
    stream=PRIVACY,
    durable="notificaties",
    filter_subjects=("ketenbus.privacy.>",),
    description="webhook bridge (Notificaties API): erasures",
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    SIGNALLING_INBOUND,
    PLAN_SIGNALLING,
    PLAN_HANDOVER,
    PLAN_ARRANGEMENTS,
    PLAN_TRUANCY,
    KLUIS_SIGNALLING,
    PLAN_PRIVACY,
    HANDOVER_INBOUND,
    KLUIS_HANDOVER,
    ARRANGEMENTS_INBOUND,
    KLUIS_ARRANGEMENTS,
    TRUANCY_INBOUND,
    KLUIS_TRUANCY,
    MONITOR_TRUANCY,
    MONITOR_PRIVACY,
    PLAN_INBOUND,
    KLUIS_PLAN,
    NOTIFICATIES_PLAN,
    NOTIFICATIES_SIGNALLING,
    NOTIFICATIES_HANDOVER,
    NOTIFICATIES_ARRANGEMENTS,
    NOTIFICATIES_TRUANCY,
    NOTIFICATIES_PRIVACY,
)


def deadletter_subject(service: str) -> str:
    return f"ketenbus.deadletter.{service}"


async def ensure_object_store(
    js: JetStreamContext, spec: ObjectStoreSpec, replicas: int = 1
) -> ObjectStore:
    """The object store, created when missing."""
    try:
        return await js.object_store(spec.name)
    except BucketNotFoundError:
        return await js.create_object_store(spec.name, spec.config(replicas))


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update every stream, create missing object stores and durable consumers
    (so a partner, who may not create streams, finds them).

    Safe to call from every service at start.
    """
    for spec in STREAMS:
        config = spec.config(replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
    for store in OBJECT_STORES:
        await ensure_object_store(js, store, replicas)
    for consumer in CONSUMERS:
        try:
            await js.consumer_info(consumer.stream.name, consumer.durable)
        except NotFoundError:
            await js.add_consumer(consumer.stream.name, consumer.config())


async def resume_consumer(js: JetStreamContext, spec: ConsumerSpec, position: int) -> None:
    """(Re)create a durable consumer so it delivers from just after `position`.

    The service's store, not the consumer, is the source of truth for what was processed (the
    tracking record is written with the effects). Re-creating the consumer from there on every
    start keeps delivery in stream order: otherwise messages a crashed process had fetched come
    back only after `ack_wait`, behind newer ones, and an in-order tracker would skip them.
    """
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(spec.stream.name, spec.durable)
    await js.add_consumer(spec.stream.name, spec.config(start_seq=position + 1))

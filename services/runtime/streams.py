"""Every JetStream stream and durable consumer of ketenbus, declared in one place.

Subjects:
- `in.<partner>.<domain>.<event>`: what partners publish (stream INBOUND);
- `ketenbus.<domain>.<event>.v<N>`: what services recorded and relayed (one stream per domain);
- `ketenbus.privacy.<event>.v<N>`: erasures (stream PRIVACY);
- `ketenbus.deadletter.<service>`: refused input with its reason (stream DEADLETTER);
- `feed.<partner>.>`: what the backbone delivers to one partner (stream FEED), read through the
  partner's durable consumer `feed-<partner>`, which the backbone creates and owns.

Who declares what: the supervisor (`ensure_streams`) declares the streams, the object stores,
the key-value buckets (leases, the replay guards' nonces, the signers' public keys) and the
partners' feed consumers; each service declares only its own durable consumers
(`ensure_consumer`, from its stored position), so two processes never race over one consumer.

The duplicate window is what makes a re-publish by the outbox relay after a crash harmless
(`Nats-Msg-Id` = event id); the relay still keeps its own position, since dedup only covers
the window.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from ketenbus_contracts.sealing import MAX_REQUEST_SKEW_SECONDS
from ketenbus_partner.feed import FEED_STREAM, feed_durable, feed_filter
from ketenbus_partner.keys import SIGNERS_BUCKET as SIGNERS_BUCKET_NAME
from services.infra import INFRA_DIR
from services.runtime.partitions import partition_of

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
        """The stream's config: the spec's fields are the config's own (subjects as a list)."""
        return StreamConfig(
            **{**asdict(self), "subjects": list(self.subjects)},
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=replicas,
            # The auditors replay by sequence (`$JS.API.DIRECT.GET`), creating no consumer.
            allow_direct=True,
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
    # One partition of a partitioned service's consumer (services.runtime.partitions): its
    # number, of how many, and the durable of the whole it is a part of.
    partition: int | None = None
    partitions: int = 0
    whole: str = ""

    @property
    def tracking_name(self) -> str:
        """Name under which the consumer records the stream sequences it processed."""
        return f"{self.stream.name}:{self.durable}"

    @property
    def whole_tracking_name(self) -> str:
        """The tracking name of the unpartitioned consumer (this one's when it is not a part):
        a partition never recorded starts where the service on one instance had got to."""
        return f"{self.stream.name}:{self.whole or self.durable}"

    def of_partition(self, partition: int, partitions: int) -> ConsumerSpec:
        """This consumer's part for one partition: durable `<durable>-p<n>`, its own position,
        the same filter (the server cannot tell a child's partition from a subject)."""
        return replace(
            self,
            durable=f"{self.durable}-p{partition}",
            description=f"{self.description} (partition {partition} of {partitions})",
            partition=partition,
            partitions=partitions,
            whole=self.durable,
        )

    def partitioned(self, partitions: int) -> tuple[ConsumerSpec, ...]:
        """Every partition's part of this consumer."""
        return tuple(self.of_partition(n, partitions) for n in range(partitions))

    def owns(self, data: bytes, partition: Callable[[bytes], int] | None = None) -> bool:
        """Whether a message is this consumer's to handle (every one, unless a partition);
        `partition`: how its partition is read (by default `partition_of`)."""
        if self.partition is None:
            return True
        if partition is None:
            return partition_of(data, self.partitions) == self.partition
        return partition(data) == self.partition

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


def _domain_stream(domain: str, description: str) -> StreamSpec:
    """The stream of what a domain's service recorded and relayed: `ketenbus.<domain>.>`."""
    return StreamSpec(domain.upper(), (f"ketenbus.{domain}.>",), description)


SIGNALLING = _domain_stream("signalling", "Events recorded by the signalling service")
HANDOVER = _domain_stream("handover", "Events recorded by the handover service")
ARRANGEMENTS = _domain_stream("arrangements", "Events recorded by the arrangements service")
TRUANCY = _domain_stream("truancy", "Events recorded by the truancy service")
PLAN = _domain_stream(
    "plan", "Events recorded by the integral-plan service (parties, regie, goals, actions)"
)
PRIVACY = _domain_stream("privacy", "Erasures (child-erased) every projection acts on")
DEADLETTER = StreamSpec(
    name="DEADLETTER",
    subjects=("ketenbus.deadletter.>",),
    description="Refused input with the reason; original bytes sealed",
    max_age=90 * DAY,
)

FEED = StreamSpec(
    name=FEED_STREAM,
    subjects=("feed.>",),
    description=(
        "Per partner (`feed.<partner>.>`): copies of the events about its children (only the "
        "sections it may hold) and receipts of what it published"
    ),
    # Copies are re-published after a crash of the feed service between publish and record;
    # a wider window than the services' keeps those harmless for longer.
    duplicate_window=600.0,
    # Kept for `retention` of infra/feed.yaml (`feed_max_age`, set by `ensure_streams`).
)
FEED_RULES_PATH = INFRA_DIR / "feed.yaml"
_DAYS = re.compile(r"^P([1-9][0-9]{0,3})D$")


class InvalidFeedRetentionError(ValueError):
    """infra/feed.yaml's `retention` is not a whole number of days (`P<n>D`)."""


def feed_max_age(path: Path = FEED_RULES_PATH) -> float:
    """Seconds the FEED stream keeps an entry: `retention` of infra/feed.yaml (`P<n>D`).

    The feed is a delivery buffer, not a record (the services' event stores are): an entry a
    partner has not read within the period is gone from its feed (`ketenbus status` shows each
    feed's lag long before that)."""
    retention = str(yaml.safe_load(path.read_text(encoding="utf-8")).get("retention", ""))
    days = _DAYS.match(retention)
    if days is None:
        raise InvalidFeedRetentionError(f"{path.name}: retention {retention!r} is not P<n>D")
    return int(days.group(1)) * DAY


@dataclass(frozen=True)
class ObjectStoreSpec:
    """A JetStream object store (stream `OBJ_<name>`), for what is too large for an event."""

    name: str
    description: str

    def config(self, replicas: int) -> ObjectStoreConfig:
        return ObjectStoreConfig(
            description=self.description, storage=StorageType.FILE, replicas=replicas
        )


@dataclass(frozen=True)
class KeyValueSpec:
    """A JetStream key-value bucket (stream `KV_<name>`) whose keys live `ttl` seconds unless
    written again."""

    name: str
    description: str

    def config(self, replicas: int, ttl: float) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.name,
            description=self.description,
            ttl=ttl,
            storage=StorageType.FILE,
            replicas=replicas,
            history=1,
            direct=True,  # a lease is read by a direct get of its key's last value
        )


# Who holds which partition of a service, and its instances (services.runtime.leases).
LEASES = KeyValueSpec(
    name="ketenbus-leases",
    description="Leases of the services' instances: partitions, outbox, ticks, membership",
)

# The services that answer partners' signed requests (with `issued_at` and `nonce`) keep the
# nonces they answered in a bucket of their own, shared by their instances and kept over a
# restart (services.runtime.replay): kluis's key, seal, reseal and batch requests, the
# pseudonym service's, the plan and worklist queries, the handover's attachment requests.
REPLAY_GUARDED: tuple[str, ...] = ("kluis", "pseudonym", "integral-plan", "handover")
# A nonce lives as long as its request can be fresh on any instance: a request is fresh while
# its `issued_at` lies within MAX_REQUEST_SKEW_SECONDS (120 s) of the instance's clock either
# way, so up to 240 s after it was first seen; 60 s more for the instances' clocks.
REPLAY_TTL = 2.0 * MAX_REQUEST_SKEW_SECONDS + 60.0


# The public keys of the backbone's own signers (kluis, feed, pseudonym), one key each, shared
# by every host (services.runtime.signers): kept, never expiring.
SIGNERS_BUCKET = KeyValueSpec(
    name=SIGNERS_BUCKET_NAME,  # the partner kit reads it by this name
    description="The public JWK Sets of the backbone's own signers, by id",
)


def replay_bucket(service: str) -> KeyValueSpec:
    """The bucket of the nonces `service` answered (its own user's only)."""
    return KeyValueSpec(
        name=f"ketenbus-replays-{service}",
        description=f"Nonces of the signed requests {service} answered, each for {REPLAY_TTL:g} s",
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
    FEED,
)


# Who reads a domain's stream, as its consumers describe it.
_READERS = {
    "integral-plan": "integral-plan projection",
    "kluis": "kluis",
    "monitor": "monitor projection",
    "notificaties": "webhook bridge (Notificaties API)",
}


def _inbound(domain: str, what: str, durable: str | None = None) -> ConsumerSpec:
    """A service's consumer of what partners publish in its domain (`in.*.<domain>.>`)."""
    durable = durable or domain
    return ConsumerSpec(INBOUND, durable, (f"in.*.{domain}.>",), f"{durable} service: {what}")


def _reader(stream: StreamSpec, durable: str, what: str) -> ConsumerSpec:
    """A consumer of every event of a domain's stream (a projection, kluis, the bridge)."""
    return ConsumerSpec(stream, durable, stream.subjects, f"{_READERS[durable]}: {what}")


def _feed_reader(stream: StreamSpec, what: str) -> ConsumerSpec:
    description = f"feed: {what}, copied to the feeds of the partners related to the child"
    return ConsumerSpec(stream, "feed", stream.subjects, description)


SIGNALLING_INBOUND = _inbound("signalling", "signals registered and withdrawn by partners")
HANDOVER_INBOUND = _inbound("handover", "handovers started, prepared, viewed, requested, released")
ARRANGEMENTS_INBOUND = _inbound(
    "arrangements", "support requests, TLVs, OPPs, youth care, disputes"
)
TRUANCY_INBOUND = _inbound(
    "truancy", "enrolments, absences, residents, exemptions, answers, offers"
)
PLAN_INBOUND = _inbound(
    "plan", "parties, regie, goals, agreements and actions from partners", "integral-plan"
)
HANDOVER_ARRANGEMENTS = ConsumerSpec(
    ARRANGEMENTS,
    "handover",
    ("ketenbus.arrangements.handover-needed.v1",),
    "handover service: a child with an OPP or running arrangement changing school starts its "
    "handover by itself",
)


def _parent_links(durable: str, what: str) -> ConsumerSpec:
    """A service's consumer of the parents' links the plan recorded (whose own decisions on a
    child it then takes)."""
    links = ("ketenbus.plan.parent-linked.v1", "ketenbus.plan.parent-unlinked.v1")
    description = f"{durable} service: the parents' accounts linked to a child, whose own {what}"
    return ConsumerSpec(PLAN, durable, links, description)


HANDOVER_PLAN = _parent_links("handover", "consent that child's handovers take")
ARRANGEMENTS_PLAN = _parent_links("arrangements", "answer on an OPP's handelingsdeel it takes")
PLAN_SIGNALLING = _reader(SIGNALLING, "integral-plan", "signals and matches")
PLAN_HANDOVER = _reader(
    HANDOVER, "integral-plan", "handovers (status, escalations, continuity gaps)"
)
PLAN_ARRANGEMENTS = _reader(
    ARRANGEMENTS, "integral-plan", "support, TLVs, OPPs, youth care, disputes, regie"
)
PLAN_TRUANCY = _reader(TRUANCY, "integral-plan", "enrolments, verzuim, thuiszitters, offers")
PLAN_PRIVACY = _reader(PRIVACY, "integral-plan", "drop the plans of erased children")
KLUIS_SIGNALLING = _reader(SIGNALLING, "kluis", "relations from signals registered and withdrawn")
KLUIS_HANDOVER = _reader(
    HANDOVER, "kluis", "relations from handovers started (sender) and delivered (receiver)"
)
KLUIS_TRUANCY = _reader(TRUANCY, "kluis", "relations from enrolments and verzuimmeldingen")
KLUIS_ARRANGEMENTS = _reader(
    ARRANGEMENTS, "kluis", "relations of the parties to arrangements, TLVs, OPPs and youth care"
)
KLUIS_PLAN = _reader(PLAN, "kluis", "relations from plan parties joining and leaving")
# Variawet: the reduced teaching time arrangements recorded reaches truancy (no verzuim counts
# for hours not required).
ARRANGEMENTS_ENROLMENTS = ConsumerSpec(
    TRUANCY,
    "arrangements",
    ("ketenbus.truancy.pupil-enrolled.v1",),
    "arrangements service: an enrolment naming its transition starts the handover of a child "
    "with an OPP or running arrangement at another school",
)
TRUANCY_VARIAWET = ConsumerSpec(
    ARRANGEMENTS,
    "truancy",
    ("ketenbus.arrangements.reduced-teaching-time-requested.v1",),
    "truancy service: Variawet reduced teaching time (hours a week still required)",
)
MONITOR_TRUANCY = _reader(TRUANCY, "monitor", "quarterly regional figures (no personal data)")
MONITOR_PRIVACY = _reader(
    PRIVACY, "monitor", "forget erased children (their episodes stay counted)"
)
NOTIFICATIES_PLAN = _reader(PLAN, "notificaties", "plan events to subscribed callbacks")
NOTIFICATIES_SIGNALLING = _reader(SIGNALLING, "notificaties", "signals and matches")
NOTIFICATIES_HANDOVER = _reader(HANDOVER, "notificaties", "handovers started, delivered, escalated")
NOTIFICATIES_ARRANGEMENTS = _reader(
    ARRANGEMENTS, "notificaties", "TLVs, OPPs, youth care, arrangements, regie"
)
NOTIFICATIES_TRUANCY = _reader(TRUANCY, "notificaties", "verzuimmeldingen, thuiszitters, offers")
NOTIFICATIES_PRIVACY = _reader(PRIVACY, "notificaties", "erasures")
FEED_SIGNALLING = _feed_reader(SIGNALLING, "signals and matches")
FEED_HANDOVER = _feed_reader(HANDOVER, "handovers")
FEED_ARRANGEMENTS = _feed_reader(ARRANGEMENTS, "support, TLVs, OPPs, youth care, disputes")
FEED_TRUANCY = _feed_reader(TRUANCY, "enrolments, verzuim, thuiszitters")
FEED_PLAN = _feed_reader(PLAN, "plan parties, regie, goals and actions")
FEED_PRIVACY = _feed_reader(PRIVACY, "erasures")
# What the webhook bridge reads (its consumers keep their position on the server).
NOTIFICATIES_SOURCES: tuple[ConsumerSpec, ...] = (
    NOTIFICATIES_PLAN,
    NOTIFICATIES_SIGNALLING,
    NOTIFICATIES_HANDOVER,
    NOTIFICATIES_ARRANGEMENTS,
    NOTIFICATIES_TRUANCY,
    NOTIFICATIES_PRIVACY,
)
FEED_SOURCES: tuple[ConsumerSpec, ...] = (
    FEED_SIGNALLING,
    FEED_HANDOVER,
    FEED_ARRANGEMENTS,
    FEED_TRUANCY,
    FEED_PLAN,
    FEED_PRIVACY,
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
    HANDOVER_ARRANGEMENTS,
    HANDOVER_PLAN,
    KLUIS_HANDOVER,
    ARRANGEMENTS_INBOUND,
    ARRANGEMENTS_PLAN,
    KLUIS_ARRANGEMENTS,
    TRUANCY_INBOUND,
    TRUANCY_VARIAWET,
    ARRANGEMENTS_ENROLMENTS,
    KLUIS_TRUANCY,
    MONITOR_TRUANCY,
    MONITOR_PRIVACY,
    PLAN_INBOUND,
    KLUIS_PLAN,
    *NOTIFICATIES_SOURCES,
    *FEED_SOURCES,
)


def feed_consumer(partner_id: str) -> ConsumerSpec:
    """A partner's feed consumer: created and owned by the backbone; the partner may only
    fetch from it, ack and ask its info (infra/nats/auth.conf)."""
    return ConsumerSpec(
        stream=FEED,
        durable=feed_durable(partner_id),
        filter_subjects=(feed_filter(partner_id),),
        description=f"feed of {partner_id}: its children's events and its receipts",
        # Never dropped after many deliveries: a partner's reader that keeps failing must
        # still get every entry.
        max_deliver=-1,
    )


def leerplicht_signals_consumer(partner_id: str) -> ConsumerSpec:
    """What `ketenbus truancy forward-signals` reads as a leerplicht partner: the verzuim
    reports due and thuiszitters on its own feed (the reports it received, the thuiszitters of
    its region), beside its feed consumer so the forwarder keeps its own position. Created and
    owned by the backbone; the partner may only fetch, ack and ask its info."""
    return ConsumerSpec(
        stream=FEED,
        durable=f"signals-{partner_id}",
        filter_subjects=(
            feed_subject(partner_id, "truancy", "verzuim-report-due"),
            feed_subject(partner_id, "truancy", "thuiszitter-registered"),
        ),
        description=f"leerplicht {partner_id}: attendance signals from its feed",
        max_deliver=-1,
    )


def receipts_consumer(partner_id: str) -> ConsumerSpec:
    """What the organisation's web app reads to tell a person what became of a form: the
    receipts on its own feed (`feed.<id>.receipt`: accepted, or refused with a reason code;
    never content), beside the feed consumer, which stays the organisation's own system's.
    Created and owned by the backbone; the partner may only fetch, ack and ask its info."""
    return ConsumerSpec(
        stream=FEED,
        durable=f"receipts-{partner_id}",
        filter_subjects=(receipt_subject(partner_id),),
        description=f"web app of {partner_id}: the receipts of what it published",
        max_deliver=-1,
    )


# The consumers the backbone declares for a partner, by the name `infra/nats/permissions.yaml`
# gives them (a role's `readers`; every partner has its `feed`). The partner may only fetch
# from them, ack and ask their info.
PARTNER_READERS: dict[str, Callable[[str], ConsumerSpec]] = {
    "feed": feed_consumer,
    "leerplicht-signals": leerplicht_signals_consumer,
    "receipts": receipts_consumer,
}


def stream_named(name: str) -> StreamSpec:
    """The declared stream `name` (an object store's stream `OBJ_<bucket>` included)."""
    for spec in STREAMS:
        if spec.name == name:
            return spec
    raise UnknownStreamError(f"no stream {name} is declared in services/runtime/streams.py")


class UnknownStreamError(LookupError):
    """A name that services/runtime/streams.py does not declare."""


def feed_subject(partner: str, domain: str, event: str) -> str:
    """Where a partner's copy of an event goes: `feed.<partner>.<domain>.<event>`."""
    return f"feed.{partner}.{domain}.{event}"


def receipt_subject(partner: str) -> str:
    """Where the answer to what a partner published goes: `feed.<partner>.receipt`."""
    return f"feed.{partner}.receipt"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for n, part in enumerate(want):
        if part == ">":
            return len(have) > n
        if n >= len(have) or part not in ("*", have[n]):
            return False
    return len(want) == len(have)


def stream_of_subject(subject: str) -> StreamSpec:
    """The declared stream that stores `subject`."""
    for spec in STREAMS:
        if any(subject_matches(pattern, subject) for pattern in spec.subjects):
            return spec
    raise UnknownStreamError(f"no stream declared in services/runtime/streams.py stores {subject}")


def consumer_named(name: str) -> ConsumerSpec:
    """The declared service consumer `STREAM/durable`."""
    for spec in CONSUMERS:
        if f"{spec.stream.name}/{spec.durable}" == name:
            return spec
    raise UnknownStreamError(f"no consumer {name} is declared in services/runtime/streams.py")


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


async def ensure_key_value(
    js: JetStreamContext, spec: KeyValueSpec, replicas: int = 1, ttl: float = 15.0
) -> KeyValue:
    """The key-value bucket, created when missing (an existing one is left as it is)."""
    try:
        return await js.key_value(spec.name)
    except BucketNotFoundError:
        return await js.create_key_value(spec.config(replicas, ttl))


async def ensure_streams(
    js: JetStreamContext,
    replicas: int = 1,
    owned: Iterable[ConsumerSpec] = (),
    lease_ttl: float = 15.0,
) -> None:
    """Create or update every stream, create missing object stores, and declare the consumers
    the backbone owns for partners (`owned`: their feeds; a partner may not create consumers).

    Never another durable consumer: each service declares its own (`ensure_consumer`), and two
    processes declaring one consumer race (a create between another's delete and add fails with
    "deliver policy can not be updated").
    """
    for spec in STREAMS:
        config = spec.config(replicas)
        if spec is FEED:
            config.max_age = feed_max_age()
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
    for store in OBJECT_STORES:
        await ensure_object_store(js, store, replicas)
    await ensure_key_value(js, LEASES, replicas, lease_ttl)
    for service in REPLAY_GUARDED:
        await ensure_key_value(js, replay_bucket(service), replicas, REPLAY_TTL)
    await ensure_key_value(js, SIGNERS_BUCKET, replicas, 0.0)
    for consumer in owned:
        await declare_consumer(js, consumer)


async def declare_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """A consumer whose position the server keeps (a partner's feed, the webhook bridge):
    created when missing, its declared fields put back when changed, never re-created."""
    try:
        info = await js.consumer_info(spec.stream.name, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream.name, spec.config())
        return
    if drift(spec, info):
        await js.add_consumer(spec.stream.name, _update_of(spec, info))


def _filters(config: ConsumerConfig) -> tuple[str, ...]:
    if config.filter_subjects:
        return tuple(config.filter_subjects)
    return (config.filter_subject,) if config.filter_subject else ()


# What a service declares of its consumer and may be put back in place on the server;
# the filter and the ack policy are compared too, but a change of those re-creates it.
UPDATABLE = ("description", "ack_wait", "max_deliver")


def drift(spec: ConsumerSpec, info: ConsumerInfo) -> list[str]:
    """The declared fields in which the server's consumer differs from `spec` (empty: none)."""
    declared, actual = spec.config(), info.config
    changed = [name for name in UPDATABLE if getattr(declared, name) != getattr(actual, name)]
    if _filters(declared) != _filters(actual):
        changed.append("filter_subjects")
    if declared.ack_policy != actual.ack_policy:
        changed.append("ack_policy")
    return changed


def _update_of(spec: ConsumerSpec, info: ConsumerInfo) -> ConsumerConfig:
    """`spec`'s config with the server's deliver policy and start (those cannot be updated)."""
    config = spec.config()
    config.deliver_policy = info.config.deliver_policy
    config.opt_start_seq = info.config.opt_start_seq
    return config


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec, position: int) -> int:
    """Declare the service's own durable consumer so it delivers from just after `position`;
    the delivery number (consumer sequence) of the next message it will hand out.

    The service's store, not the consumer, is the source of truth for what was processed (the
    tracking record is written with the effects). A consumer that delivered exactly up to
    `position`, has nothing unacknowledged and the declared filter is kept (its description,
    ack wait or max deliver put back in place when changed). Otherwise it is re-created from
    `position`: messages a crashed process had fetched would come back only after `ack_wait`,
    behind newer ones, and an in-order tracker would skip them; a changed filter or a restored
    server has to start over from the stored position too.
    """
    try:
        info = await js.consumer_info(spec.stream.name, spec.durable)
    except NotFoundError:
        info = None
    if info is not None:
        changed = drift(spec, info)
        delivered = info.delivered.stream_seq if info.delivered else 0
        in_place = set(changed) <= set(UPDATABLE)
        if delivered == position and not info.num_ack_pending and in_place:
            if changed:
                await js.add_consumer(spec.stream.name, _update_of(spec, info))
            return (info.delivered.consumer_seq if info.delivered else 0) + 1
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(spec.stream.name, spec.durable)
    await js.add_consumer(spec.stream.name, spec.config(start_seq=position + 1))
    return 1

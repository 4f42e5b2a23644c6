"""Running one service process: connect, declare its own consumers, start subscribers and the
outbox; the supervisor has declared the streams (`ketenbus up`).

Each service's `bootstrap.py` is its composition root; it builds a `ServiceSpec` and hands it
here. Nothing connects until `run_service` is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import structlog
from eventsourcing.persistence import IntegrityError, PersistenceError
from faststream._internal.middlewares import BaseMiddleware
from faststream.message import StreamMessage
from faststream.nats import NatsBroker, NatsRouter
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_partner.connect import inbox_prefix
from ketenbus_partner.keys import KLUIS_PARTNER_ID, load_public_keys
from services.runtime import nats_auth
from services.runtime.deadletter import Refused, kluis_sealer, publish_deadletter
from services.runtime.handoff import Handoff
from services.runtime.inbound import Limits, Refusal, admit
from services.runtime.leases import Keeper, Leases
from services.runtime.observe import Metrics, http_port, serve_http
from services.runtime.outbox import OutboxRelay, Translate
from services.runtime.partitions import Partitioner, instance_id, running_partitions
from services.runtime.partners import PartnerRegistry
from services.runtime.receipts import batch_receipts, publish_receipts
from services.runtime.replay import Replays, SharedReplayGuard
from services.runtime.settings import Settings, server_list
from services.runtime.signers import SIGNERS, SignerKeys, adopt_prepared
from services.runtime.store import TrackedApplication, UnexpectedHandlerError
from services.runtime.streams import (
    INBOUND,
    REPLAY_GUARDED,
    ConsumerSpec,
    ObjectStoreSpec,
    drift,
    ensure_consumer,
)
from services.runtime.watch import ServiceGaveUpError, Watch, retrying, watched

log = structlog.get_logger(__name__)


# A partition's consumer records its position at least once per this many skipped messages.
PARTITION_SKIPS_RECORDED = 1000
# How often a batch or a tick is run again at once when another writer recorded first: a
# conflicting run recorded nothing, so running it again on what is stored now is exact.
CONFLICT_RETRIES = 3


class DeliveryGapError(RuntimeError):
    """A delivery of the consumer went missing; restart it from the stored position."""


class ConsumerHaltedError(RuntimeError):
    """A batch came after one that failed, before the service restarted its consumers from
    the stored position: it is not processed (nacked), or it would be recorded past the
    failed messages and they would be skipped when they come again."""


# Appends what the service stored since the last witness to its audit chain; the rows appended.
# Given by the process's composition root (the audit module), so the runtime does not import it.
Witness = Callable[[Settings, str, Any], int]


@dataclass
class ServiceContext:
    """What a running service's handlers may use."""

    settings: Settings
    application: TrackedApplication
    limiter: anyio.CapacityLimiter
    relay: OutboxRelay | None = None
    # The audit witness's own thread slot: one witness at a time, never in the store thread.
    witness_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    witness: Witness | None = None
    nc: NatsClient | None = None

    service: str = ""
    next_delivery: dict[str, int] = field(default_factory=dict)
    # True while every failure since the last restart was a delivery gap (restart at once).
    gap_only: bool = True
    # Set when a handler call failed; no batch is processed until the consumers are resumed
    # from the stored position (`start_consumers` clears it).
    halted: bool = False
    # Handler calls running: the delivery watchdog waits while any is.
    in_flight: int = 0
    # Batches each consumer has been handed, so a busy request handler cannot hide a stalled feed.
    consumed: dict[str, int] = field(default_factory=dict)
    # Deliveries of a message whose handling raised an unexpected error, by (consumer, stream
    # sequence); at `handler_max_deliveries` it is given up: dead-lettered, not handled again.
    failures: dict[tuple[str, int], int] = field(default_factory=dict)
    given_up: dict[tuple[str, int], str] = field(default_factory=dict)
    # The service's watched long-running tasks, by name (services.runtime.watch).
    watches: dict[str, Watch] = field(default_factory=dict)
    metrics: Metrics | None = None
    # The instance's leases (services.runtime.leases); partitioned, the partitions it consumes.
    keeper: Keeper | None = None
    # Per partition's consumer, the other partitions' messages it skipped since it last recorded.
    skipped: dict[str, int] = field(default_factory=dict)
    # The partition of each message, read once for all of this instance's partition consumers.
    partitioners: dict[int, Partitioner] = field(default_factory=dict)
    # The nonces of the signed requests the service answered, shared by its instances
    # (services.runtime.replay); None for a service that answers none.
    replays: Replays | None = None
    # The backbone's signers' public keys as every host shares them (services.runtime.signers).
    signers: SignerKeys | None = None

    def active(self, consumer: ConsumerSpec) -> tuple[ConsumerSpec, ...]:
        """What runs of one declared consumer on this instance: itself, or partitioned, its
        parts for the partitions this instance holds."""
        keeper = self.keeper
        if keeper is None or not keeper.partitions:
            return (consumer,)
        return tuple(consumer.of_partition(n, keeper.partitions) for n in sorted(keeper.consuming))

    def given_up_on(self, consumer: ConsumerSpec, seq: int) -> Refusal | None:
        """The refusal of a message whose handling failed too often (None: handle it)."""
        error = self.given_up.get((consumer.tracking_name, seq))
        return None if error is None else Refusal("unexpected-error", ({"error": error},))

    def handling_failed(self, consumer: ConsumerSpec, failure: UnexpectedHandlerError) -> None:
        """Count a delivery whose handling raised an unexpected error; give the message up at
        the bound. The caller re-raises: the batch is retried from the stored position."""
        key = (consumer.tracking_name, failure.seq)
        deliveries = self.failures[key] = self.failures.get(key, 0) + 1
        log.error(
            "handler_unexpected_error",
            consumer=key[0],
            stream_seq=failure.seq,
            error=type(failure.error).__name__,
            deliveries=deliveries,
        )
        if deliveries >= self.settings.handler_max_deliveries:
            self.given_up[key] = type(failure.error).__name__
            del self.failures[key]

    def _skip(self, consumer: ConsumerSpec, count: int) -> bool:
        """Whether a partition's batch with none of its own messages goes unrecorded: no
        transaction for other partitions' messages; its position is recorded with its next
        own one, or after `PARTITION_SKIPS_RECORDED` skipped (a restart reads them again and
        skips them again)."""
        name = consumer.tracking_name
        skipped = self.skipped.get(name, 0) + count
        if skipped < PARTITION_SKIPS_RECORDED:
            self.skipped[name] = skipped
            return True
        self.skipped[name] = 0
        return False

    def batch_done(self, consumer: ConsumerSpec, through: int) -> None:
        """Forget the failures of what the consumer has now recorded."""
        name = consumer.tracking_name
        for table in (self.failures, self.given_up):
            for key in [k for k in table if k[0] == name and k[1] <= through]:
                del table[key]

    def _check_deliveries(self, consumer: ConsumerSpec, messages: Sequence[Msg]) -> None:
        """Refuse a batch that skips a delivery of the consumer.

        A message the server handed to a pull request that had just expired on our side is
        redelivered only after `ack_wait`, behind newer ones, and an in-order tracker would
        then skip it. Deliveries of a consumer are numbered without gaps from its (re)creation,
        so a gap shows such a loss: the service restarts its consumers from the stored position.
        """
        deliveries = sorted(m.metadata.sequence.consumer for m in messages)
        expected = self.next_delivery.get(consumer.tracking_name, 1)
        if deliveries != list(range(expected, expected + len(deliveries))):
            raise DeliveryGapError(
                f"{consumer.tracking_name}: expected delivery {expected}, got {deliveries[0]}"
            )
        self.next_delivery[consumer.tracking_name] = expected + len(deliveries)

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a (synchronous) application method in the service's single store thread."""
        result = await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        if self.relay is not None:
            self.relay.wake()
        return result

    async def consume(
        self, consumer: ConsumerSpec, messages: Sequence[Msg], decode: Callable[[bytes], Any]
    ) -> None:
        """Process a fetched batch in stream order: admit each message, apply the valid ones
        in one transaction with their position, and dead-letter what was refused.

        Admitting per message (`services.runtime.inbound.admit`, never raising for anything in
        the message) keeps one bad message from refusing or blocking the valid ones around it.
        An unexpected error of the application's code on one message fails the batch (retried
        from the stored position, after a pause); once that message has failed
        `handler_max_deliveries` times it is dead-lettered as `unexpected-error` instead and the
        rest goes on. Failures of the infrastructure are retried for as long as they last.
        What was refused before it reached the application is dead-lettered before the batch
        is recorded, so a failed dead-letter publish is retried with the batch.
        """
        name = consumer.tracking_name
        if self.halted:
            raise ConsumerHaltedError(f"{name}: a batch failed, restarting from the store")
        self.consumed[name] = self.consumed.get(name, 0) + 1
        self._check_deliveries(consumer, messages)
        # A partition's consumer handles its own children's messages and records the rest as
        # seen (another instance's partition handles them, refusals and receipts included).
        through = max((m.metadata.sequence.stream for m in messages), default=0)
        partition = None
        if consumer.partition is not None:
            count = consumer.partitions
            partition = self.partitioners.setdefault(count, Partitioner(count))
        by_seq = {
            m.metadata.sequence.stream: m for m in messages if consumer.owns(m.data, partition)
        }
        if consumer.partition is not None and not by_seq and self._skip(consumer, len(messages)):
            return
        limits = Limits.of(self.settings)
        decoded: list[tuple[int, Any]] = []
        refused: list[tuple[int, Refusal | Exception]] = []
        for seq in sorted(by_seq):
            given_up = self.given_up_on(consumer, seq)
            if given_up is not None:
                refused.append((seq, given_up))
                continue
            admission = admit(by_seq[seq].data, decode, limits)
            if admission.refusal is None:
                decoded.append((seq, admission.event))
            else:
                refused.append((seq, admission.refusal))
        await self._deadletter(by_seq, refused)
        try:
            # Through the batch's last message: a batch refused whole is recorded as seen too.
            started = time.perf_counter()
            start, rejected = await self._process(name, decoded, through)
            if self.metrics is not None:
                self.metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        except UnexpectedHandlerError as failure:
            self.handling_failed(consumer, failure)
            raise
        self.batch_done(consumer, through)
        self.skipped.pop(name, None)
        await self._deadletter(by_seq, rejected)
        if consumer.stream is INBOUND and self.nc is not None:
            # Every partner hears what became of what it published (after its dead letter),
            # from whoever recorded it: what was recorded before this batch ran is not this
            # batch's to answer (another instance of its partition answered it).
            mine = {seq: msg for seq, msg in by_seq.items() if seq > start}
            await publish_receipts(
                self.nc.jetstream(),
                batch_receipts(self.service, mine, decoded, [*refused, *rejected]),
            )

    async def _process(
        self, name: str, decoded: list[tuple[int, Any]], through: int
    ) -> tuple[int, list[tuple[int, Exception]]]:
        """Record a batch; run it again at once on what is stored now when another writer
        recorded an aggregate of it first (on many instances: the instance running the ticks,
        or one that held the partition a moment ago). Nothing of a conflicting run is
        recorded, so running it again is exact; a run that finds its batch recorded by the
        other returns that position and records nothing."""
        result: tuple[int, list[tuple[int, Exception]]] = await retrying(
            name,
            partial(self.call, self.application.process_new, name, decoded, through),
            attempts=CONFLICT_RETRIES,
            backoff=0.0,
            transient=(IntegrityError,),
            event="batch_conflict_retried",
        )
        return result

    async def _deadletter(
        self, by_seq: dict[int, Msg], refused: Sequence[tuple[int, Refusal | Exception]]
    ) -> None:
        if not refused or self.nc is None:
            return
        js = self.nc.jetstream()
        # kluis's key as every host has it (read again while kluis has not put it there yet),
        # else this data directory's key file: once a batch.
        shared = None if self.signers is None else await self.signers.get(KLUIS_PARTNER_ID)
        seal = kluis_sealer(self.settings.data_dir, shared)
        for seq, reason in sorted(refused, key=lambda r: r[0]):
            if self.metrics is not None:
                code = reason.code if isinstance(reason, Refusal) else type(reason).__name__
                self.metrics.deadletters.labels(code).inc()
            msg = by_seq[seq]
            letter = Refused(self.service, reason, msg.data, msg.subject, seq, seal)
            await publish_deadletter(js, letter, self.nc.max_payload)


@dataclass
class ServiceSpec:
    name: str
    application_factory: Callable[[Settings], TrackedApplication]
    router_factory: Callable[[ServiceContext], NatsRouter]
    consumers: tuple[ConsumerSpec, ...] = ()
    # The object stores it puts into and gets from (its NATS user may, no partner's may).
    object_stores: tuple[ObjectStoreSpec, ...] = ()
    # Subjects it publishes besides its outbox's events, dead letters and receipts (the
    # feed's copies): its NATS user may publish these (infra/nats/auth.conf).
    publish_subjects: tuple[str, ...] = ()
    translate: Translate | None = None
    # The contract events `translate` can produce: what the outbox publishes (AsyncAPI).
    publishes: tuple[type[CloudEvent[Any]], ...] = ()
    # Time-driven rules (expiry, reminders, escalation): called with the current time every
    # `tick_interval` seconds, in the store thread; what it records goes out like the rest.
    tick: Callable[[Any, datetime], None] | None = None
    tick_interval: float = 60.0
    # Into how many partitions its work is split when it runs on more than one instance
    # (infra/partitions.yaml; 0: it runs on one instance only).
    partitions: int = 0


def fail_fast_middleware(
    failed: asyncio.Event, ctx: ServiceContext | None = None
) -> type[BaseMiddleware[Any, Any]]:
    """On an unexpected error (not a refusal), stop consuming and restart from the store.

    Nacking and going on would let later messages overtake the failed one; restarting the
    consumers from the tracked position keeps stream order.
    """

    class FailFast(BaseMiddleware[Any, Any]):
        async def consume_scope(
            self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            if ctx is not None:
                ctx.in_flight += 1
            try:
                return await call_next(msg)
            except ConsumerHaltedError:
                raise  # the failure before it restarts the service
            except DeliveryGapError as exc:
                log.warning("delivery_gap", detail=str(exc))
                if ctx is not None:
                    ctx.halted = True
                failed.set()
                raise
            except Exception as exc:
                log.error("handler_failed", error=type(exc).__name__)
                if ctx is not None:
                    ctx.gap_only = False
                    ctx.halted = True
                failed.set()
                raise
            finally:
                if ctx is not None:
                    ctx.in_flight -= 1

    return FailFast


RESTART_BACKOFF = 0.5
LEASE_CLOSE_TIMEOUT = 3.0
MAX_RESTART_BACKOFF = 30.0


async def _first(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of `awaitables` is done; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def own_inboxes(broker: NatsBroker, service: str) -> None:
    """Give the broker's pull subscribers the service's own inbox prefix (`_INBOX.<service>.`).

    faststream fetches into `_INBOX.<nuid>` whatever the connection's prefix (it passes nats-py
    its default), so the service's NATS user would need `_INBOX.*`, and could then listen on
    any other service's fetch inbox. With its own prefix it subscribes only to its own.
    """
    prefix = f"{inbox_prefix(service)}.".encode()
    for subscriber in broker.subscribers:
        options = getattr(subscriber, "extra_options", None)
        if isinstance(options, dict) and "inbox_prefix" in options:
            options["inbox_prefix"] = prefix


def health_subject(service: str) -> str:
    return f"ketenbus.health.{service}"


def nats_url_of(settings: Settings) -> str:
    if settings.nats_url is None:
        raise RuntimeError("KETENBUS_NATS_URL is not set; use `ketenbus up` to start everything")
    return settings.nats_url


async def connect(settings: Settings, name: str) -> NatsClient:
    """The service's connection, as its own NATS user under `KETENBUS_NATS_AUTH=registry`."""
    return await nats_auth.connect(
        settings, name, nats_url_of(settings), name=name, max_reconnect_attempts=-1
    )


WATCH_INTERVAL = 1.0


def tune_garbage_collector(settings: Settings) -> None:
    """A service process's cyclic garbage collector: what the process holds from its start
    (modules, contract schemas, rules) is frozen out of the collections, and the youngest
    generation is collected every `gc_young_threshold` allocations instead of Python's 700.
    For a process of its own (`ketenbus service`): it sets the process's collector."""
    if settings.gc_young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, middle, oldest)


async def run_ticks(spec: ServiceSpec, ctx: ServiceContext, watch: Watch | None = None) -> None:
    """Run the service's time-driven rules periodically; a failing tick ends the run (its
    watcher logs it and starts it again after a pause, or the service gives up)."""
    tick = spec.tick
    if tick is None:
        return
    while True:
        # On many instances a partition's instance may record on a due aggregate first.
        await retrying(
            spec.name,
            lambda: ctx.call(tick, ctx.application, datetime.now(UTC)),
            attempts=CONFLICT_RETRIES,
            backoff=0.0,
            transient=(IntegrityError,),
            event="tick_conflict_retried",
        )
        if watch is not None:
            watch.ok()
        await asyncio.sleep(spec.tick_interval)


async def run_witness(spec: ServiceSpec, ctx: ServiceContext, watch: Watch | None = None) -> None:
    """Witness the service's own new stored rows into the audit chain, every interval.

    Off the event loop and outside the store thread (reads only), one witness at a time, so the
    consume path does not wait for it. A change made after a row was witnessed is then caught
    by `ketenbus audit verify`, even when verify had never run before the change. A failing
    witness ends the run (its watcher starts it again, or the service gives up).
    """
    if ctx.settings.audit_witness_interval <= 0 or ctx.witness is None:
        return
    while True:
        await _witness(spec, ctx)
        if watch is not None:
            watch.ok()
        await asyncio.sleep(ctx.settings.audit_witness_interval)


async def _witness(spec: ServiceSpec, ctx: ServiceContext) -> None:
    witness = ctx.witness
    if witness is None:
        return

    def work() -> int:
        return witness(ctx.settings, spec.name, ctx.application)

    appended = await anyio.to_thread.run_sync(work, limiter=ctx.witness_limiter)
    if appended:
        log.debug("store_witnessed", service=spec.name, rows=appended)


async def witness_once(spec: ServiceSpec, ctx: ServiceContext) -> None:
    """Append the rows stored since the last witness (and sign); a failure is logged."""
    try:
        await _witness(spec, ctx)
    except Exception as exc:
        log.error("witness_failed", service=spec.name, error=type(exc).__name__)


HEALTH_STORE_TIMEOUT = 2.0


async def health_report(ctx: ServiceContext) -> dict[str, Any]:
    """The service's health answer: ready when its store answers and none of its watched
    tasks is failing; its outbox lag (recorded, not yet relayed) and each task's failures in a
    row, restarts and last error. `ketenbus status` shows it; `up` waits for the first."""
    report: dict[str, Any] = {
        "service": ctx.service,
        "nats": bool(ctx.nc is not None and ctx.nc.is_connected),
        "tasks": {name: watch.report() for name, watch in ctx.watches.items()},
    }
    keeper = ctx.keeper
    if keeper is not None:
        report["instance"] = keeper.leases.instance
        if keeper.partitions:
            # Which partitions this instance consumes and which once-only duties it holds.
            report["partitions"] = sorted(keeper.consuming)
            report["duties"] = [d for d, held in keeper.on_duty.items() if held.is_set()]
    app = ctx.application
    try:
        if ctx.relay is not None:
            report["outbox_lag"] = await asyncio.wait_for(ctx.relay.lag(), HEALTH_STORE_TIMEOUT)
        else:
            await asyncio.wait_for(
                anyio.to_thread.run_sync(app.recorder.max_notification_id, limiter=ctx.limiter),
                HEALTH_STORE_TIMEOUT,
            )
        report["store"] = "ok"
    except TimeoutError:
        report["store"] = "no answer"
    except Exception as exc:
        report["store"] = type(exc).__name__
    failing = [name for name, watch in ctx.watches.items() if watch.failures]
    report["ready"] = report["store"] == "ok" and report["nats"] and not failing
    return report


async def watch_deliveries(
    js: JetStreamContext,
    consumers: Sequence[ConsumerSpec],
    ctx: ServiceContext,
    failed: asyncio.Event,
) -> None:
    """Restart the consumers when deliveries went missing at the end of a burst, or when a
    consumer was removed or changed on the server (the restart declares it again from the
    stored position: the consumers heal).

    `_check_deliveries` sees a lost delivery when the next batch comes; when nothing comes
    after it, the loss would show only after `ack_wait`. Messages that stay unacknowledged over
    two checks while that consumer was handed nothing and no handler ran are such losses.
    """
    suspects: dict[str, int] = {}
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        for consumer in consumers:
            name = consumer.tracking_name
            try:
                info = await js.consumer_info(consumer.stream.name, consumer.durable)
            except NotFoundError:
                log.warning("consumer_missing", consumer=name)
                failed.set()
                return
            except Exception:  # noqa: S112 - the next check will tell
                continue
            if ctx.metrics is not None:
                ctx.metrics.consumer_lag.labels(name).set(info.num_pending)
                ctx.metrics.consumer_unacked.labels(name).set(info.num_ack_pending)
            changed = drift(consumer, info)
            if changed:
                log.warning("consumer_drifted", consumer=name, fields=changed)
                failed.set()
                return
            if info.num_ack_pending == 0 or ctx.in_flight:
                suspects.pop(name, None)
            elif suspects.get(name) == ctx.consumed.get(name, 0):
                log.warning("delivery_lost", consumer=name, unacked=info.num_ack_pending)
                failed.set()
                return
            else:
                suspects[name] = ctx.consumed.get(name, 0)


async def open_application(
    spec: ServiceSpec, settings: Settings, attempts: int = 10
) -> TrackedApplication:
    """Construct the service's application; retry when another service creates its tables at
    the same moment (PostgreSQL: concurrent `CREATE … IF NOT EXISTS` of shared objects, "tuple
    concurrently updated"). The pause grows and is jittered: services started together would
    otherwise retry together (seen: five even retries used up by nine services on one start)."""
    for attempt in range(1, attempts + 1):
        try:
            return await anyio.to_thread.run_sync(spec.application_factory, settings)
        except PersistenceError as exc:
            if attempt == attempts:
                raise
            log.warning("store_open_retry", service=spec.name, error=type(exc).__name__)
            await asyncio.sleep(0.2 * attempt * (1 + random.random()))
    raise AssertionError("unreachable")


async def run_service(
    spec: ServiceSpec,
    settings: Settings,
    stop: asyncio.Event | None = None,
    witness: Witness | None = None,
) -> None:
    """Run the service until `stop` is set (or SIGTERM/SIGINT); `witness` (given by the
    process's composition root, `ketenbus service`) keeps its store's audit chain current."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    partitions = running_partitions(spec.name, settings.store, spec.partitions)
    application = await open_application(spec, settings)
    nc = await connect(settings, spec.name)
    js = nc.jetstream()
    try:
        replays: SharedReplayGuard | None = None
        if spec.name in REPLAY_GUARDED:
            replays = await retrying(
                "open replay guard", partial(SharedReplayGuard.open, nc, settings, spec.name)
            )
        signers = await share_signer_keys(spec, settings, nc, application)
        keeper = await take_leases(spec, settings, nc, partitions)
    except BaseException:
        with contextlib.suppress(Exception):
            await nc.close()
        application.close()
        raise

    ctx = ServiceContext(
        settings=settings,
        application=application,
        limiter=anyio.CapacityLimiter(1),
        nc=nc,
        service=spec.name,
        witness=witness,
        keeper=keeper,
        replays=replays,
        signers=signers,
    )
    if replays is not None and hasattr(application, "replays"):
        # kluis's and the pseudonym service's requests are checked in the store thread.
        setattr(application, "replays", replays)  # noqa: B010 - an application's own guard
    # The long-running tasks, each watched: a failed one starts again after a pause, or the
    # service gives up (`gave_up`) and exits non-zero for its supervisor to start it again.
    gave_up = asyncio.Event()
    ctx.watches = {
        task: Watch.of(settings, spec.name, task)
        for task in ("consumers", "outbox", "ticks", "witness", "leases")
    }
    tasks: list[asyncio.Task[None]] = []
    ctx.metrics = Metrics(ctx.watches)
    port = http_port(spec.name)
    http = None
    if port is not None:
        http = await serve_http(settings.http_host, port, partial(health_report, ctx), ctx.metrics)

    def watch_task(task: str, run: Callable[[], Awaitable[None]]) -> None:
        tasks.append(
            asyncio.create_task(
                watched(ctx.watches[task], run, gave_up), name=f"{spec.name}-{task}"
            )
        )

    watch_task("leases", lambda: keeper.run(ctx.watches["leases"].ok))
    if spec.tick is not None:
        # Partitioned, the ticks and the relay run on the one instance that holds their lease.
        watch_task(
            "ticks",
            lambda: keeper.duty("ticks", lambda: run_ticks(spec, ctx, ctx.watches["ticks"])),
        )
    watch_task("witness", lambda: run_witness(spec, ctx, ctx.watches["witness"]))
    if spec.translate is not None:
        # What the store thread records goes to the relay in memory too (the store decides).
        application.handoff = Handoff()
        relay = ctx.relay = OutboxRelay(
            application,
            js,
            spec.translate,
            limiter=ctx.limiter,
            handoff=application.handoff,
            check_handoff=settings.outbox_handoff_check,
        )
        watch_task(
            "outbox", lambda: keeper.duty("outbox", lambda: relay.run(ctx.watches["outbox"].ok))
        )

    async def answer_health(msg: Msg) -> None:
        await msg.respond(json.dumps(await health_report(ctx)).encode())

    health = None
    failed = asyncio.Event()
    backoff = RESTART_BACKOFF
    starting = ctx.watches["consumers"]
    try:
        while not stop.is_set() and not gave_up.is_set():
            try:
                broker = await start_consumers(spec, settings, ctx, failed)
            except Exception as exc:
                # Resuming the consumers failed past its retries (NATS away, the store away):
                # again after a pause, or the service gives up.
                delay = starting.failed(exc)
                if delay is None:
                    gave_up.set()
                    break
                await _first(stop.wait(), gave_up.wait(), asyncio.sleep(delay))
                continue
            starting.ok()
            if health is None:
                # Answered once the subscribers run: `Backbone` waits for it.
                health = await nc.subscribe(health_subject(spec.name), cb=answer_health)
            log.info("service_started", service=spec.name, instance=keeper.leases.instance)
            consumers = [part for c in spec.consumers for part in ctx.active(c)]
            watchdog = asyncio.create_task(watch_deliveries(js, consumers, ctx, failed))
            await _first(stop.wait(), failed.wait(), gave_up.wait(), keeper.changed.wait())
            watchdog.cancel()
            await broker.stop()
            if keeper.changed.is_set() and not stop.is_set():
                # Partitions taken or handed back: the consumers start again on the new set.
                await keeper.settle()
                continue
            if failed.is_set() and not stop.is_set() and not gave_up.is_set():
                delay = 0.0 if ctx.gap_only else backoff
                log.warning("service_restarting", service=spec.name, after_seconds=delay)
                failed.clear()
                await _first(stop.wait(), gave_up.wait(), asyncio.sleep(delay))
                if not ctx.gap_only:
                    backoff = min(backoff * 2, MAX_RESTART_BACKOFF)
                ctx.gap_only = True
    finally:
        if http is not None:
            http.close()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if settings.audit_witness_interval > 0:
            # What the last batches stored, before closing (a no-op without a witness).
            await witness_once(spec, ctx)
        with contextlib.suppress(Exception):
            # The next instance takes over at once (bounded: NATS may be away).
            await asyncio.wait_for(keeper.leases.close(), LEASE_CLOSE_TIMEOUT)
        try:
            await nc.drain()
        except Exception as exc:  # NATS unreachable while stopping: nothing left to flush to
            log.warning("nats_drain_failed", service=spec.name, error=type(exc).__name__)
            with contextlib.suppress(Exception):
                await nc.close()
        application.close()
        log.info("service_stopped", service=spec.name)
    if gave_up.is_set():
        failing = [w for w in ctx.watches.values() if w.gave_up]
        log.error("service_gave_up", service=spec.name, tasks=[w.task for w in failing])
        raise ServiceGaveUpError(", ".join(w.gave_up for w in failing))


async def share_signer_keys(
    spec: ServiceSpec, settings: Settings, nc: NatsClient, application: TrackedApplication
) -> SignerKeys:
    """The signers' public keys as every host shares them; a signer (kluis, feed, pseudonym)
    puts its own there first (`SignerKeyMismatchError` when the bucket knows it by another).
    The application's partner registry answers a signer's id with them."""
    signers = await retrying("open signers' keys", partial(SignerKeys.open, nc, settings))
    if spec.name in SIGNERS:
        # Another host made this host's prepared key current: take that rotation in first.
        adopt_prepared(settings.data_dir, spec.name, await signers.get(spec.name))
        own = load_public_keys(settings.data_dir, spec.name)  # made by its application
        if own is not None:
            await retrying("publish own key", partial(signers.publish, own))
    registry = getattr(application, "registry", None)
    if isinstance(registry, PartnerRegistry):
        registry.signer_keys = signers.keys  # the same dict: what is read later shows there
    return signers


async def take_leases(
    spec: ServiceSpec, settings: Settings, nc: NatsClient, partitions: int
) -> Keeper:
    """The instance's first leases: on one instance its `instance` lease (another running
    instance makes it refuse to start, `AnotherInstanceError`); partitioned, a first share of
    the partitions and the duties nobody holds."""
    leases = await retrying(
        "open leases", partial(Leases.open, nc, settings, spec.name, instance_id(spec.name))
    )
    duties = tuple(d for d, has in (("outbox", spec.translate), ("ticks", spec.tick)) if has)
    keeper = Keeper(leases, partitions, settings.lease_ttl / 3, duties)
    try:
        await keeper.start()
    except BaseException:
        await leases.close()
        raise
    log.info(
        "instance_started", service=spec.name, instance=leases.instance,
        partitions=sorted(keeper.consuming) if partitions else None,
    )  # fmt: skip
    return keeper


# How many consumers a service resumes at once: enough to overlap the waits of an election,
# few enough not to flood a cluster that is electing.
RESUME_AT_ONCE = 8


async def start_consumers(
    spec: ServiceSpec, settings: Settings, ctx: ServiceContext, failed: asyncio.Event
) -> NatsBroker:
    """Resume the service's consumers from its stored positions and start its subscribers.

    Each consumer is resumed (`ensure_consumer`) with retries of NATS's passing faults: during
    a leader election the requests time out or find no stream for a few seconds.
    """
    js = ctx.nc.jetstream() if ctx.nc is not None else None
    if js is None:
        raise RuntimeError("the service is not connected")
    ctx.next_delivery.clear()
    ctx.halted = False
    # Resumed side by side (bounded): a partitioned service has a consumer per partition and
    # stream (36 for the integral plan); one by one, each whose stream leader had just died
    # waited out its request timeout in turn (73 s in the chaos test's leader kill).
    bound = asyncio.Semaphore(RESUME_AT_ONCE)

    async def resume(consumer: ConsumerSpec) -> None:
        async with bound:
            position = await ctx.call(ctx.application.position, consumer.tracking_name)
            if not position and consumer.partition is not None:
                # A partition never recorded goes on from where the service on one instance was.
                position = await ctx.call(ctx.application.position, consumer.whole_tracking_name)
            ctx.next_delivery[consumer.tracking_name] = await retrying(
                f"resume {consumer.tracking_name}",
                partial(ensure_consumer, js, consumer, position),
            )

    try:
        async with asyncio.TaskGroup() as group:
            for consumer in (part for c in spec.consumers for part in ctx.active(c)):
                group.create_task(resume(consumer))
    except ExceptionGroup as errors:
        # The first fault, as one by one would have raised it (the caller retries or gives up).
        raise errors.exceptions[0] from errors
    broker = NatsBroker(
        server_list(nats_url_of(settings)),
        middlewares=(fail_fast_middleware(failed, ctx),),
        logger=None,
        graceful_timeout=10.0,
        name=f"{spec.name}-consumer",
        **nats_auth.broker_options(settings, spec.name),
    )
    broker.include_router(spec.router_factory(ctx))
    own_inboxes(broker, spec.name)
    try:
        await broker.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await broker.stop()
        raise
    return broker

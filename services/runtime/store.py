"""Event stores: each service's `eventsourcing` Application on SQLite (default) or PostgreSQL.

Every service application records, with its events, the position of what it consumed (a
tracking record), in the same transaction: so a redelivered message is recognised and its
effect happens once. Consumed messages are processed in stream order, a batch at a time, and a
batch is one transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar, cast

import nats.errors
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import BaseAggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    AggregateRecorder,
    JSONTranscoder,
    PersistenceError,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import get_topic, retry
from psycopg import InterfaceError, OperationalError
from psycopg.sql import SQL, Identifier

from services.runtime import due
from services.runtime.handoff import Handoff
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings

# What a failure of the infrastructure raises (the store, the disk, the network): retried,
# never a reason to refuse the message being handled.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    PersistenceError,
    sqlite3.Error,
    OSError,
    nats.errors.Error,
)


class UnexpectedHandlerError(RuntimeError):
    """The application's code raised something nobody named on one consumed message."""

    def __init__(self, seq: int, error: Exception) -> None:
        super().__init__(f"stream sequence {seq}: {type(error).__name__}")
        self.seq = seq
        self.error = error


def store_env(settings: Settings, service: str) -> dict[str, str]:
    """eventsourcing environment for one service's store, from the settings."""
    if settings.store == "postgres":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": settings.postgres_dbname,
            "POSTGRES_HOST": settings.postgres_host,
            "POSTGRES_PORT": str(settings.postgres_port),
            "POSTGRES_USER": settings.postgres_user,
            "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
            "POSTGRES_SCHEMA": settings.postgres_schema,
            "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(settings.postgres_max_overflow),
        }
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(settings.store_dir / f"{service}.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


A = TypeVar("A")

Clock = Callable[[], datetime]
"""What an application asks the time (tests give their own)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


PRELOAD_CHUNK = 500  # ids per SELECT of a preload (SQLite allows 32,766 parameters)


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def _postgres_events(
    recorder: PostgresAggregateRecorder, ids: Sequence[uuid.UUID]
) -> list[StoredEvent]:
    statement = SQL(
        "SELECT * FROM {schema}.{table} WHERE originator_id = ANY(%s) "
        "ORDER BY originator_id, originator_version"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(ids)], prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]


def _sqlite_events(
    recorder: SQLiteAggregateRecorder, ids: Sequence[uuid.UUID]
) -> list[StoredEvent]:
    marks = ",".join("?" * len(ids))
    statement = (
        f"SELECT * FROM {recorder.events_table_name} "  # noqa: S608 - our table, placeholders
        f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, [i.hex for i in ids])
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in c.fetchall()
        ]


def stored_events_of(
    recorder: AggregateRecorder, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[StoredEvent]]:
    """The stored events of these aggregates, each one's in version order: one SELECT per
    `PRELOAD_CHUNK` aggregates on SQLite and PostgreSQL (another store asks per aggregate)."""
    found: dict[uuid.UUID, list[StoredEvent]] = {i: [] for i in ids}
    for start in range(0, len(ids), PRELOAD_CHUNK):
        chunk = ids[start : start + PRELOAD_CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            rows = _sqlite_events(recorder, chunk)
        elif isinstance(recorder, PostgresAggregateRecorder):
            rows = _postgres_events(recorder, chunk)
        else:
            rows = [e for i in chunk for e in recorder.select_events(i)]
        for stored in rows:
            key = stored.originator_id
            found[key if isinstance(key, uuid.UUID) else uuid.UUID(str(key))].append(stored)
    return found


class Batch:
    """The aggregates one batch of consumed messages touches, to be recorded together.

    Within a batch the same child may appear more than once; each command must see the
    aggregate as the earlier commands of the batch left it. The aggregates a batch's messages
    name can be read before it runs, in one SELECT (`preload`), instead of one each.
    """

    def __init__(self, repository: Repository[uuid.UUID]) -> None:
        self._repository = repository
        self._touched: dict[uuid.UUID, Any] = {}
        # Read ahead by `preload`, not yet asked for (None: there is no such aggregate).
        self._loaded: dict[uuid.UUID, Any] = {}

    def preload(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """Read these aggregates from the store now, all together, for the batch's commands
        to find (`get`, `load`). Without effect where the repository keeps a cache or
        snapshots (its own `get` reads those). An id no command asks for costs only its
        place in the SELECT: it is not recorded."""
        repository = self._repository
        if repository.cache is not None or repository.snapshot_store is not None:
            return
        known = self._touched.keys() | self._loaded.keys()
        todo = [i for i in dict.fromkeys(aggregate_ids) if i not in known]
        if not todo:
            return
        store = repository.event_store
        for aggregate_id, stored in stored_events_of(store.recorder, todo).items():
            events = [store.mapper.to_domain_event(s) for s in stored]
            self._loaded[aggregate_id] = project_aggregate(None, events) if events else None

    def _stored(self, aggregate_id: uuid.UUID) -> Any:
        """The stored aggregate (read ahead, or now); AggregateNotFoundError if none."""
        if aggregate_id in self._loaded:
            aggregate = self._loaded.pop(aggregate_id)
            if aggregate is None:
                raise AggregateNotFoundError(aggregate_id)
            return aggregate
        return self._repository.get(aggregate_id)

    def get(self, aggregate_id: uuid.UUID, create: Callable[[], A]) -> A:
        """The aggregate as this batch sees it, or a new one from `create`."""
        if aggregate_id not in self._touched:
            try:
                self._touched[aggregate_id] = self._stored(aggregate_id)
            except AggregateNotFoundError:
                self._touched[aggregate_id] = create()
        return cast(A, self._touched[aggregate_id])

    def load(self, aggregate_id: uuid.UUID) -> Any:
        """A stored aggregate as this batch sees it."""
        if aggregate_id not in self._touched:
            self._touched[aggregate_id] = self._stored(aggregate_id)
        return self._touched[aggregate_id]

    def forget(self, aggregate_id: uuid.UUID) -> None:
        """Drop the aggregate and its pending events from this batch (it is being purged)."""
        self._touched.pop(aggregate_id, None)
        self._loaded.pop(aggregate_id, None)

    @property
    def aggregates(self) -> list[Any]:
        return list(self._touched.values())

    def recording(self) -> dict[str, Any]:
        """What the recorder writes beside the aggregates' events, in the same transaction
        (keyword arguments of the recording; a projection's rows)."""
        return {}


# How one consumed message becomes the application's commands: (application, message, batch).
# A service's translation module has it; its bootstrap hands it to the application, so the
# application never imports its translation (which imports the application).
Inbound = Callable[[Any, Any, Batch], None]


class TrackedApplication(Application[uuid.UUID]):
    """An Application whose recorder also keeps tracking records (a process recorder).

    How one consumed message changes the aggregates is `handle`: the `inbound` translation it
    was given, or a subclass's own; which errors are refusals of that message is `refusals`
    (business rules), as opposed to failures.
    """

    refusals: ClassVar[tuple[type[Exception], ...]] = ()
    # An application with time-driven rules keeps the due-at table (services.runtime.due).
    scheduled: ClassVar[bool] = False
    # The partner registry its composition root loaded for the process (`Service`), which
    # its handlers use too; None for an application built without one (a unit test).
    registry: PartnerRegistry | None = None
    # What each committed transaction recorded, for this process's outbox relay to publish
    # without reading it back (services.runtime.handoff); None: nobody relays here.
    handoff: Handoff | None = None

    def due_at(self, aggregate: Any) -> Mapping[str, datetime] | None:
        """What `aggregate` has due and when (None: it is not one the tick looks at)."""
        return None

    def due_by(self, now: datetime) -> list[uuid.UUID]:
        """The aggregates with something due at or before `now`, the earliest first."""
        if not self.due_table.is_scheduled():
            self.schedule_all()
        return self.due_table.due_by(now)

    @property
    def due_table(self) -> due.DueTable:
        return cast(due.DueTable, self.recorder)

    def schedule_all(self) -> int:
        """Schedule every aggregate of the store (one recorded before the due-at table);
        returns how many have something due."""
        ids = dict.fromkeys(
            n.originator_id for n in self._notifications() if n.originator_id != due.MARKER_ID
        )
        rows: dict[uuid.UUID, Mapping[str, datetime]] = {}
        for aggregate_id in ids:
            items = self.due_at(self.repository.get(aggregate_id))
            if items:
                rows[aggregate_id] = items
        self.due_table.reschedule(rows | {due.MARKER_ID: due.MARKER})
        return len(rows)

    def _notifications(self, page: int = 500) -> Iterator[Any]:
        start = 0
        while batch := self.recorder.select_notifications(start, page, inclusive_of_start=False):
            yield from batch
            start = batch[-1].id

    def _due_kwargs(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """`kwargs` for a recording, with the due rows of the aggregates it changes."""
        if not self.scheduled:
            return kwargs
        rows = {}
        for obj in objs:
            if getattr(obj, "pending_events", None) and (items := self.due_at(obj)) is not None:
                rows[obj.id] = items
        return kwargs | {due.DUE: rows} if rows else kwargs

    def save(
        self,
        *objs: MutableOrImmutableAggregate[uuid.UUID] | DomainEventProtocol[uuid.UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[uuid.UUID]]:
        return super().save(*objs, **self._due_kwargs(objs, kwargs))

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        inbound: Inbound | None = None,
        clock: Clock | None = None,
    ):
        super().__init__(env)
        self.inbound = inbound
        self.clock = clock or utcnow

    def handle(self, batch: Batch, message: Any) -> None:
        if self.inbound is None:
            raise NotImplementedError(f"{type(self).__name__} consumes nothing")
        self.inbound(self, message, batch)

    def new_batch(self) -> Batch:
        """The batch one run of consumed messages is applied to."""
        return Batch(self.repository)

    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        """The aggregates `message`'s commands will ask the batch for, read for the whole
        batch in one SELECT before it runs (`Batch.preload`); an application names them where
        its messages tell (none by default: each is read when asked for). Naming one too
        many costs a place in the SELECT; one too few, a SELECT of its own."""
        return ()

    def _preload(self, batch: Batch, messages: Sequence[Any]) -> None:
        ids: list[uuid.UUID] = []
        for message in messages:
            # A read ahead only: a message it cannot name ids for is read as it comes.
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                ids.extend(self.preloaded(message))
        if ids:
            batch.preload(ids)

    def purge(self, aggregate_id: uuid.UUID, version: int | None = None) -> bool:
        """Physically delete an aggregate's stored events and its due rows (erasure;
        idempotent); with `version`, only while that is still its last stored version
        (whether it was purged: another instance may have recorded on it since it was loaded).

        Event stores are append-only by design; erasure is the exception the law makes. SQLite
        overwrites the deleted content (`secure_delete`); PostgreSQL's dead tuples go at the
        next vacuum. On PostgreSQL the purge takes the events table's write lock, as every
        recording does, so a recording of the same aggregate is wholly before it or after it
        (and one after it that continues the purged versions is refused:
        `due.PurgedMeanwhileError`).
        """
        recorder: Any = self.recorder
        sqlite = self.factory.__class__.__module__.endswith("sqlite")
        with recorder.datastore.transaction(commit=True) as cursor:
            key: str | uuid.UUID
            if sqlite:
                cursor.execute("PRAGMA secure_delete = ON")
                table, key, mark = recorder.events_table_name, aggregate_id.hex, "?"
            else:
                for statement in recorder.lock_table_statements:
                    cursor.execute(statement)
                schema = recorder.datastore.schema
                table, key, mark = f"{schema}.{recorder.events_table_name}", aggregate_id, "%s"
            if version is not None:
                cursor.execute(
                    f"SELECT MAX(originator_version) AS last FROM {table} "  # noqa: S608 - ours
                    f"WHERE originator_id = {mark}",
                    (key,),
                )
                row = cursor.fetchone()
                if row is None or row["last"] != version:
                    return False
            cursor.execute(f"DELETE FROM {table} WHERE originator_id = {mark}", (key,))  # noqa: S608
            if isinstance(recorder, due.DueQueries):
                cursor.execute(
                    recorder.sql("DELETE FROM {t} WHERE aggregate_id = %s"),
                    (recorder.key(aggregate_id),),
                )
        if self.snapshots is not None:  # snapshots hold the same state: they go too
            snapshots: Any = self.snapshots.recorder
            with snapshots.datastore.transaction(commit=True) as cursor:
                if sqlite:
                    cursor.execute("PRAGMA secure_delete = ON")
                    table = snapshots.events_table_name
                else:
                    table = f"{snapshots.datastore.schema}.{snapshots.events_table_name}"
                cursor.execute(f"DELETE FROM {table} WHERE originator_id = {mark}", (key,))  # noqa: S608
        if self.scheduled and not isinstance(recorder, due.DueQueries):
            self.due_table.unschedule(aggregate_id)
        if self.handoff is not None:
            # What was recorded of it and not yet relayed goes no more (as read from the store).
            self.handoff.clear()
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(aggregate_id, evict=True)
        return True

    def process_batch(
        self, tracking_name: str, items: Sequence[tuple[int, Any]], through: int | None = None
    ) -> list[tuple[int, Exception]]:
        """Apply consumed messages, given as (stream sequence, message) in stream order.

        What was processed before (sequence at or below the tracked position) is skipped. The
        new events of every touched aggregate and the last sequence (`through` when given: the
        batch's last, including messages refused before they got here) are recorded in one
        transaction. Returns the refused messages with their reasons; the rest took effect.

        A failure of the infrastructure (`INFRASTRUCTURE_ERRORS`) propagates as it is, to be
        retried; any other exception of `handle` is a fault of the code on that one message,
        raised as `UnexpectedHandlerError` naming its sequence (the caller dead-letters it after
        a bounded number of deliveries). Either way nothing of the batch is recorded.
        """
        return self.process_new(tracking_name, items, through)[1]

    def process_new(
        self, tracking_name: str, items: Sequence[tuple[int, Any]], through: int | None = None
    ) -> tuple[int, list[tuple[int, Exception]]]:
        """`process_batch`, also returning the position recorded before: what is at or below
        it was decided before (by this instance before a restart, or by another instance
        that held the partition a moment ago), so its receipts are not this call's."""
        start = self.position(tracking_name)
        todo = [(seq, message) for seq, message in items if seq > start]
        last = max([through or 0, *(seq for seq, _ in todo)])
        if last <= start:
            return start, []
        batch = self.new_batch()
        self._preload(batch, [message for _, message in todo])
        refused: list[tuple[int, Exception]] = []
        for seq, message in todo:
            try:
                self.handle(batch, message)
            except self.refusals as exc:
                # Commands check before they change anything, so a refusal leaves no trace.
                refused.append((seq, exc))
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                raise UnexpectedHandlerError(seq, exc) from exc
        tracking = Tracking(application_name=tracking_name, notification_id=last)
        self.record(tracking, *batch.aggregates, **batch.recording())
        return start, refused

    def _record(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        recordings = super()._record(processing_event)
        if self.handoff is not None and recordings:
            self.handoff.put(recordings)  # committed: the relay may publish them
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:
        if not self.scheduled:
            return self.factory.process_recorder()
        recorder = due.RECORDERS[type(self.factory).__module__]
        if recorder is due.POPODueRecorder:
            return cast(ProcessRecorder, recorder())
        self.factory.env[self.factory.PROCESS_RECORDER_TOPIC] = get_topic(recorder)
        return self.factory.process_recorder()

    @property
    def tracker(self) -> ProcessRecorder:
        return cast(ProcessRecorder, self.recorder)

    def position(self, tracking_name: str) -> int:
        """The last position recorded under `tracking_name` (0 when none)."""
        return self.tracker.max_tracking_id(tracking_name) or 0

    def has_processed(self, tracking_name: str, position: int) -> bool:
        return self.tracker.has_tracking_id(tracking_name, position)

    def record(
        self,
        tracking: Tracking,
        *aggregates: MutableOrImmutableAggregate[uuid.UUID] | None,
        **kwargs: Any,
    ) -> None:
        """Record the aggregates' new events and the consumed position in one transaction;
        then take the snapshots that are due (`snapshotting_intervals`: after the commit, since
        a snapshot is derived data, rebuilt from the events if it is ever missing)."""
        processing = ProcessingEvent[uuid.UUID](tracking=tracking)
        # The due rows first: they are of the aggregates with pending events.
        processing.saved_kwargs.update(self._due_kwargs(aggregates, kwargs))
        for aggregate in aggregates:
            if isinstance(aggregate, BaseAggregate):
                # What `collect_events` does for an aggregate, without its two runtime
                # Protocol checks per object (`typing` walks the protocols' members each time:
                # ~7 % of a batch's CPU by cProfile, bench/README.md).
                processing.events.extend(aggregate.collect_events())
                processing.aggregates[aggregate.id] = aggregate
            else:
                processing.collect_events(aggregate)
        self._record(processing)
        self._take_snapshots(processing)

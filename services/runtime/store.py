"""Event stores: each service's `eventsourcing` Application on SQLite (default) or PostgreSQL.

Every service application records, with its events, the positions of what it consumed
(tracking records), in the same transaction: so a redelivered message is recognised and its
effect happens once.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, cast

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import JSONTranscoder, ProcessRecorder, Tracking, Transcoding

from services.runtime.settings import Settings


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
            "POSTGRES_POOL_SIZE": "4",
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


class TrackedApplication(Application[uuid.UUID]):
    """An Application whose recorder also keeps tracking records (a process recorder)."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:
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
        """Record the aggregates' new events and the consumed position in one transaction."""
        processing = ProcessingEvent[uuid.UUID](tracking=tracking)
        processing.collect_events(*aggregates, **kwargs)
        self._record(processing)

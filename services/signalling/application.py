"""The signalling application: loads a child's signals, applies the command, records it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from services.runtime.store import TrackedApplication
from services.signalling.domain import ChildSignals

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class SignallingApplication(TrackedApplication):
    name = "signalling"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utcnow) -> None:
        super().__init__(env)
        self.clock = clock

    def _child(self, child: str) -> ChildSignals:
        try:
            aggregate: ChildSignals = self.repository.get(ChildSignals.create_id(child))
        except AggregateNotFoundError:
            return ChildSignals(child)
        return aggregate

    def register_signal(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        planned_removal_on: date,
        tracking: Tracking | None = None,
    ) -> None:
        if tracking and self.has_processed(tracking.application_name, tracking.notification_id):
            return
        signals = self._child(child)
        signals.register_signal(signal_id, signaller, registered_on, planned_removal_on)
        matched = signals.find_match(self.clock())
        self._save(signals, tracking)
        log.info("signal_registered", signal_id=str(signal_id), partner=signaller["partner"])
        if matched:
            log.info("match_found", match_id=str(signals.match_id))

    def withdraw_signal(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        withdrawn_on: date,
        reason: str,
        tracking: Tracking | None = None,
    ) -> None:
        if tracking and self.has_processed(tracking.application_name, tracking.notification_id):
            return
        signals = self._child(child)
        signals.withdraw_signal(signal_id, partner, withdrawn_on, reason)
        self._save(signals, tracking)
        log.info("signal_withdrawn", signal_id=str(signal_id), partner=partner)

    def signals_of(self, child: str) -> ChildSignals:
        return self._child(child)

    def _save(self, aggregate: Any, tracking: Tracking | None) -> None:
        if tracking is None:
            self.save(aggregate)
        else:
            self.record(tracking, aggregate)

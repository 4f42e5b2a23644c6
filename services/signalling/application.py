"""The signalling application: loads a child's signals, applies the command, records it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import structlog

from services.runtime.store import Batch, TrackedApplication
from services.signalling.domain import ChildSignals, SignallingError

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class SignallerMismatchError(SignallingError):
    """A partner may only register signals in its own name."""


class SignallingApplication(TrackedApplication):
    name = "signalling"
    refusals: ClassVar[tuple[type[Exception], ...]] = (SignallingError,)

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utcnow) -> None:
        super().__init__(env)
        self.clock = clock

    def handle(self, batch: Batch, message: Any) -> None:
        from services.signalling.translation import apply_inbound

        apply_inbound(self, message, batch)

    def _signals(self, batch: Batch, child: str) -> ChildSignals:
        return batch.get(ChildSignals.create_id(child), lambda: ChildSignals(child))

    def register_signal(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
        batch: Batch | None = None,
    ) -> None:
        work = batch or Batch(self.repository)
        signals = self._signals(work, child)
        signals.register_signal(
            signal_id, signaller, registered_on, planned_removal_on, event_id, sealed
        )
        matched = signals.find_match(self.clock())
        if batch is None:
            self.save(signals)
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
        batch: Batch | None = None,
    ) -> None:
        work = batch or Batch(self.repository)
        signals = self._signals(work, child)
        signals.withdraw_signal(signal_id, partner, withdrawn_on, reason)
        if batch is None:
            self.save(signals)
        log.info("signal_withdrawn", signal_id=str(signal_id), partner=partner)

    def signals_of(self, child: str) -> ChildSignals:
        return self._signals(Batch(self.repository), child)

"""The signals about one child and the match they make (Verwijsindex rules, Jeugdwet 7.1).

No I/O here: the application loads and saves, the handlers decode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("5f0c3f7e-2b0a-4f59-8d7e-7369676e616c")


class SignallingError(Exception):
    """A business rule of signalling refused the command."""


class SignalAlreadyRegisteredError(SignallingError):
    """A signal with this id was registered before."""


class UnknownSignalError(SignallingError):
    """No signal with this id is registered on this child."""


class SignalNotActiveError(SignallingError):
    """The signal was already withdrawn or ended."""


class NotTheSignallerError(SignallingError):
    """Only the partner that registered a signal may withdraw it."""


class InvalidRemovalDateError(SignallingError):
    """The planned removal date must lie after the registration date."""


@dataclass
class Signal:
    signal_id: uuid.UUID
    signaller: dict[str, str]
    registered_on: date
    planned_removal_on: date
    active: bool = True


class ChildSignals(Aggregate):
    """All signals about one child (by pseudonym), and the match they make."""

    # The events, declared so the outbound translation can rely on their fields.

    class SignalRegistered(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        signaller: dict[str, str]
        registered_on: date
        planned_removal_on: date
        # The partner's event id: its sealed sections are bound to it, so the recorded
        # signal is published under the same id (and source `ketenbus.signalling`).
        event_id: uuid.UUID
        sealed: dict[str, str]

    class SignalWithdrawn(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        withdrawn_on: date
        reason: str

    class MatchFound(Aggregate.Event):
        child: str
        match_id: uuid.UUID
        signal_ids: list[uuid.UUID]
        signallers: list[dict[str, str]]
        found_at: datetime

    @staticmethod
    def create_id(child: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"child-signals/{child}")

    @event("Opened")
    def __init__(self, child: str) -> None:
        self.child = child
        self.signals: dict[uuid.UUID, Signal] = {}
        self.match_id: uuid.UUID | None = None
        self.matched_partners: frozenset[str] = frozenset()

    # commands

    def register_signal(
        self,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """Register a concern; what it is about stays sealed (`sealed`: purpose → JWE)."""
        if signal_id in self.signals:
            raise SignalAlreadyRegisteredError(f"signal {signal_id} is already registered")
        if planned_removal_on <= registered_on:
            raise InvalidRemovalDateError("planned removal date must lie after registration")
        self._signal_registered(
            child=self.child,
            signal_id=signal_id,
            signaller=signaller,
            registered_on=registered_on,
            planned_removal_on=planned_removal_on,
            event_id=event_id,
            sealed=sealed,
        )

    def withdraw_signal(
        self, signal_id: uuid.UUID, partner: str, withdrawn_on: date, reason: str
    ) -> None:
        signal = self.signals.get(signal_id)
        if signal is None:
            raise UnknownSignalError(f"signal {signal_id} is not registered on this child")
        if not signal.active:
            raise SignalNotActiveError(f"signal {signal_id} is no longer active")
        if signal.signaller["partner"] != partner:
            raise NotTheSignallerError(f"partner {partner} did not register signal {signal_id}")
        self._signal_withdrawn(
            child=self.child, signal_id=signal_id, withdrawn_on=withdrawn_on, reason=reason
        )

    def find_match(self, found_at: datetime) -> bool:
        """Record a match when two or more partners have an active signal and the set grew."""
        partners = self.active_partners
        if len(partners) < 2 or partners <= self.matched_partners:
            return False
        match_id = self.match_id or uuid.uuid5(NAMESPACE, f"match/{self.child}/{found_at}")
        active = [s for s in self.signals.values() if s.active]
        self._match_found(
            child=self.child,
            match_id=match_id,
            signal_ids=[s.signal_id for s in active],
            signallers=_unique_signallers(active),
            found_at=found_at,
        )
        return True

    # queries

    @property
    def active_partners(self) -> frozenset[str]:
        return frozenset(s.signaller["partner"] for s in self.signals.values() if s.active)

    # events

    @event(SignalRegistered)
    def _signal_registered(
        self,
        child: str,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self.signals[signal_id] = Signal(signal_id, signaller, registered_on, planned_removal_on)

    @event(SignalWithdrawn)
    def _signal_withdrawn(
        self, child: str, signal_id: uuid.UUID, withdrawn_on: date, reason: str
    ) -> None:
        self.signals[signal_id].active = False
        if len(self.active_partners) < 2:
            # The match lapses; a later second signaller makes a new one.
            self.match_id = None
            self.matched_partners = frozenset()

    @event(MatchFound)
    def _match_found(
        self,
        child: str,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        signallers: list[dict[str, str]],
        found_at: datetime,
    ) -> None:
        self.match_id = match_id
        self.matched_partners = frozenset(s["partner"] for s in signallers)


def _unique_signallers(signals: list[Signal]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, str]] = {}
    for signal in signals:
        seen.setdefault(signal.signaller["partner"], signal.signaller)
    return list(seen.values())

"""The integral plan of one child: parties, signals, the match and a timeline.

The plan is itself event-sourced, so it can be rebuilt from the streams and audited. It holds
what arrives in clear; sealed sections stay sealed, with the id of the event they are bound
to, and are opened by each reader with the reader's own keys: the plan never holds plaintext
about a child.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("9d7e0c55-61b3-4f5a-a8a4-706c616e2121")


class PlanError(Exception):
    """A rule of the plan refused the change."""


class Plan(Aggregate):
    @staticmethod
    def create_id(child: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"plan/{child}")

    @event("Started")
    def __init__(self, child: str) -> None:
        self.child = child
        self.parties: dict[str, dict[str, str]] = {}
        self.signals: dict[str, dict[str, Any]] = {}
        self.match: dict[str, Any] | None = None
        self.timeline: list[dict[str, str]] = []

    @event("SignalNoted")
    def note_signal(
        self,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self.parties.setdefault(signaller["partner"], signaller)
        self.signals[str(signal_id)] = {
            "signal_id": str(signal_id),
            "partner": signaller["partner"],
            "registered_on": registered_on.isoformat(),
            "status": "active",
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(registered_on.isoformat(), f"signal by {signaller['partner']}")

    @event("SignalWithdrawalNoted")
    def note_withdrawal(self, signal_id: uuid.UUID, withdrawn_on: date, reason: str) -> None:
        signal = self.signals.get(str(signal_id))
        if signal is not None:
            signal["status"] = reason
            self._timeline(withdrawn_on.isoformat(), f"signal by {signal['partner']}: {reason}")

    @event("MatchNoted")
    def note_match(
        self,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        partners: list[str],
        found_at: datetime,
    ) -> None:
        self.match = {
            "match_id": str(match_id),
            "signal_ids": [str(s) for s in signal_ids],
            "partners": sorted(partners),
            "found_at": found_at.isoformat(),
        }
        self._timeline(found_at.isoformat(), f"match between {', '.join(sorted(partners))}")

    def _timeline(self, at: str, what: str) -> None:
        self.timeline.append({"at": at, "what": what})

    def view(self) -> dict[str, Any]:
        """The plan as its readers see it (clear parts only)."""
        return {
            "child": self.child,
            "parties": [self.parties[p] for p in sorted(self.parties)],
            "signals": sorted(self.signals.values(), key=lambda s: s["registered_on"]),
            "match": self.match,
            "timeline": sorted(self.timeline, key=lambda t: t["at"]),
            "version": self.version,
        }

"""The hand-off from a service's store thread to its outbox relay: what was just recorded.

The relay used to read back and decode every event the batch before it had just recorded (a
SELECT and a JSON decode per event, ~75 µs of a signal's CPU: bench/README.md). The store
thread now hands it the recorded domain events with their notification ids, once committed.
The store stays the source of truth: the relay takes from here only a run that starts right
after its position and has no gaps (so no notification of another writer, another instance
or a rolled-back sequence value can lie in between), and reads the store otherwise (after a
restart, an overflow, an erasure, or whatever this process did not record itself).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import Recording

# Events held for the relay at most: the oldest go first (the relay reads them from the store).
HANDOFF_CAPACITY = 10_000


class Handoff:
    """Recorded (notification id, domain event) pairs, in recording order, bounded."""

    def __init__(self, capacity: int = HANDOFF_CAPACITY) -> None:
        self.capacity = capacity
        # The store thread puts, the relay (event loop) takes: one lock for both.
        self._lock = threading.Lock()
        self._recorded: deque[tuple[int, Any]] = deque()

    def put(self, recordings: Iterable[Recording[Any]]) -> None:
        """What a committed transaction recorded (called by the store thread)."""
        with self._lock:
            self._recorded.extend((r.notification.id, r.domain_event) for r in recordings)
            while len(self._recorded) > self.capacity:
                self._recorded.popleft()

    def clear(self) -> None:
        """Forget everything held: what an erasure deleted must not go out from memory."""
        with self._lock:
            self._recorded.clear()

    def take(self, position: int, limit: int) -> list[tuple[int, Any]] | None:
        """Up to `limit` recorded events from `position + 1` on, without gaps; None when what
        comes next is not held here (read the store). What is at or below `position` (relayed)
        is dropped; what is returned stays until the position passes it (a failed publish
        takes it again)."""
        with self._lock:
            recorded = self._recorded
            while recorded and recorded[0][0] <= position:
                recorded.popleft()
            if not recorded or recorded[0][0] != position + 1:
                return None
            run: list[tuple[int, Any]] = []
            for entry in recorded:
                if entry[0] != position + 1 + len(run) or len(run) == limit:
                    break
                run.append(entry)
            return run

    def __len__(self) -> int:
        return len(self._recorded)

"""What the services' per-child and per-region aggregates share: an id derived from their key
(a child's pseudonym, a region code) and the `Opened` event that names it. No I/O.

A subclass says its service's `namespace` and its `kind` (the id is uuid5 of the namespace and
`<kind>/<key>`) and sets up its state in `opened`. eventsourcing defines `Opened` again on each
subclass, so stored events keep their topics (`services.signalling.domain:ChildSignals.Opened`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from eventsourcing.domain import Aggregate, event


class Keyed(Aggregate):
    if TYPE_CHECKING:  # class attributes, not fields of the creation event
        namespace: ClassVar[uuid.UUID]
        kind: ClassVar[str]

    @classmethod
    def id_of(cls, key: str) -> uuid.UUID:
        return uuid.uuid5(cls.namespace, f"{cls.kind}/{key}")

    def opened(self) -> None:
        """Set up a new aggregate's state (run by its `Opened` event, on replay too)."""


class PerChild(Keyed):
    """One aggregate per child (by pseudonym)."""

    @classmethod
    def create_id(cls, child: str) -> uuid.UUID:
        return cls.id_of(child)

    @event("Opened")
    def __init__(self, child: str) -> None:
        self.child = child
        self.opened()


class PerRegion(Keyed):
    """One aggregate per region (a regional code)."""

    @classmethod
    def create_id(cls, region: str) -> uuid.UUID:
        return cls.id_of(region)

    @event("Opened")
    def __init__(self, region: str) -> None:
        self.region = region
        self.opened()

"""What the services' aggregates share: per-child and per-region aggregates with an id derived
from their key (a child's pseudonym, a region code) and the `Opened` event that names it; frozen
values their state holds where a domain event keeps a dict. No I/O.

A subclass says its service's `namespace` and its `kind` (the id is uuid5 of the namespace and
`<kind>/<key>`) and sets up its state in `opened`. eventsourcing defines `Opened` again on each
subclass, so stored events keep their topics (`services.signalling.domain:ChildSignals.Opened`).
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

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


class Value:
    """Base of a frozen dataclass value (a party, a coordinator) that domain events keep as a
    dict with the contract's field names: `of` reads one from that dict or from the contract
    model itself, `stored` gives the dict."""

    @classmethod
    def of(cls, value: Any) -> Self:
        given = dict(value)
        return cls(**{name: given[name] for name in _names(cls) if name in given})

    def stored(self) -> dict[str, Any]:
        # The fields as they are (`dataclasses.asdict` is several times slower): a value's
        # fields are scalars, dates and tuples of them, never another dataclass, a list or a
        # dict, which `asdict` would have copied.
        return {name: getattr(self, name) for name in _names(type(self))}


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """A value class's field names (read once per class)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cast(Any, cls)))
    return names

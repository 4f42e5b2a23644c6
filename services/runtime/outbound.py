"""From a service's recorded domain events to the outbound contract events its outbox publishes.

One mapping for every service: a domain event and its contract share their field names, so the
contract's `data` is read from the domain event's attributes of the same names and validated by
the contract model (nested dicts become the contract's models, codes its literals). A service's
translation module lists which domain event becomes which contract (`Outbound`), and only says
what differs: a field computed from others, or a shape the contract reshapes.

- subject: the domain event's `child`;
- id: the partner's event id where the domain event keeps one (`event_id`: a recorded partner
  decision goes out under the id its sealed sections are bound to), else the outbox's id;
- source: the partner where the domain event relays one (`source`), else the service;
- purposes: those sealed in `data.sealed`.
An `Extra` may set these too (`id: None`: the outbox's id even where the domain event keeps a
partner's). An attribute an older stored event does not have, or that is None, takes the
contract's default (where it has one).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ketenbus_contracts.envelope import CloudEvent, EventData

Contract = type[CloudEvent[Any]]
Extra = Callable[[Any], Mapping[str, Any]]
"""What a contract's data (or envelope: `ENVELOPE`) takes from a domain event beyond the
fields of the same name."""

ENVELOPE = frozenset({"id", "source", "purposes"})


def data_type(contract: Contract) -> type[EventData]:
    annotation = contract.model_fields["data"].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, EventData)):
        raise TypeError(f"{contract.__name__} has no EventData data")
    return annotation


@functools.cache
def data_fields(data: type[EventData]) -> tuple[tuple[str, bool], ...]:
    """A contract data's fields, each with whether it is required (once per type)."""
    return tuple((name, field.is_required()) for name, field in data.model_fields.items())


def contract_data(data: type[EventData], domain_event: Any, extra: Mapping[str, Any]) -> EventData:
    """The contract's `data` from the domain event's attributes of the same names."""
    values = {
        name: value
        for name, required in data_fields(data)
        if (value := getattr(domain_event, name, None)) is not None or required
    }
    if extra:
        values.update(extra)
    return data.model_validate(values)


class Outbound:
    """Which recorded domain events a service publishes, as which contract (`Translate`)."""

    def __init__(
        self,
        source: str,
        contracts: Mapping[type, Contract | tuple[Contract, Extra]],
    ) -> None:
        self.source = source
        self.contracts: dict[type, tuple[Contract, Extra | None]] = {
            kind: target if isinstance(target, tuple) else (target, None)
            for kind, target in contracts.items()
        }
        # By the domain event's class: its contract, the contract's data and extra (None: not
        # published), found once through its bases.
        self._by_class: dict[type, tuple[Contract, type[EventData], Extra | None] | None] = {}

    def _target(self, cls: type) -> tuple[Contract, type[EventData], Extra | None] | None:
        try:
            return self._by_class[cls]
        except KeyError:
            kind = next((k for k in cls.__mro__ if k in self.contracts), None)
            found = None
            if kind is not None:
                contract, extra = self.contracts[kind]
                found = (contract, data_type(contract), extra)
            return self._by_class.setdefault(cls, found)

    def __call__(self, domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
        """The outbound contract event for a recorded domain event (None: not published)."""
        return self.lazily(domain_event, lambda: event_id)

    def lazily(
        self, domain_event: Any, event_id: Callable[[], uuid.UUID]
    ) -> CloudEvent[Any] | None:
        """The same, with the outbox's id made only where it is the contract's (the relay:
        not for an event that is not published or that goes out under a partner's id)."""
        target = self._target(type(domain_event))
        if target is None:
            return None
        contract, data_model, extra = target
        more = dict(extra(domain_event)) if extra else {}
        envelope = {key: more.pop(key) for key in ENVELOPE & more.keys()} if more else {}
        data = contract_data(data_model, domain_event, more)
        return contract.create(
            id=envelope.get("id", getattr(domain_event, "event_id", None)) or event_id(),
            source=envelope.get("source") or getattr(domain_event, "source", None) or self.source,
            subject=domain_event.child,
            time=domain_event.timestamp,
            data=data,
            purposes=envelope.get("purposes", sorted(data.sealed)),
        )

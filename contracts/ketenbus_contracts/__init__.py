"""ketenbus contracts: the events partners and services exchange, installable on their own.

A vendor that only needs to publish valid events installs this package (pydantic only) and
never the services.
"""

from ketenbus_contracts.envelope import CloudEvent, EventEnvelope, parse_event
from ketenbus_contracts.purposes import Purpose

__all__ = ["CloudEvent", "EventEnvelope", "Purpose", "parse_event"]

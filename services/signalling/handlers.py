"""signalling's subscriber: the partners' events, decoded and handed to the application."""

from __future__ import annotations

from ketenbus_contracts.signalling import InboundSignallingEvent
from services.runtime.service import Consumes
from services.runtime.streams import SIGNALLING_INBOUND

INBOUND = Consumes(
    SIGNALLING_INBOUND,
    "partners register and withdraw signals (the truancy service and leerplicht register "
    "attendance signals here too, like any partner), report a death, report contact, change "
    "the coordinator, record a three-year-old's risk inventory. Refused input goes to "
    "`ketenbus.deadletter.signalling` with its reason.",
    payload=InboundSignallingEvent,
    signed=True,
)
CONSUMER = INBOUND.consumer
decode_inbound = INBOUND.decoder

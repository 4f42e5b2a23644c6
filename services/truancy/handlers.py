"""truancy's subscriber: the partners' attendance events, decoded and handed to the application."""

from __future__ import annotations

from ketenbus_contracts.truancy import InboundTruancyEvent
from services.runtime.service import Consumes
from services.runtime.streams import TRUANCY_INBOUND

INBOUND = Consumes(
    TRUANCY_INBOUND,
    "schools enrol, de-enrol and record absences; the population feed registers residents; "
    "leerplicht grants exemptions and answers reports; offers to thuiszitters. Refused input "
    "goes to `ketenbus.deadletter.truancy`.",
    payload=InboundTruancyEvent,
    signed=True,
)
CONSUMER = INBOUND.consumer
decode_inbound = INBOUND.decoder

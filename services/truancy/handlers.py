"""truancy's subscriber: the partners' attendance events, decoded and handed to the application."""

from __future__ import annotations

from ketenbus_contracts.arrangements import ReducedTeachingTimeRequested
from ketenbus_contracts.truancy import InboundTruancyEvent
from services.runtime.service import Consumes
from services.runtime.streams import TRUANCY_INBOUND, TRUANCY_VARIAWET

INBOUND = Consumes(
    TRUANCY_INBOUND,
    "schools enrol, de-enrol, record absences and file luxe- and signaalverzuim; the population "
    "feed registers residents; the SWV advises and leerplicht grants exemptions and answers "
    "reports; offers to thuiszitters and their failure; the decisions of the integral meeting "
    "and the thuiszitterstafel. Refused input goes to `ketenbus.deadletter.truancy`.",
    payload=InboundTruancyEvent,
    signed=True,
)
CONSUMER = INBOUND.consumer
decode_inbound = INBOUND.decoder
VARIAWET = Consumes(
    TRUANCY_VARIAWET,
    "Variawet: the reduced teaching time arrangements recorded; absence counts against the "
    "hours a week still required.",
    payload=ReducedTeachingTimeRequested,
)

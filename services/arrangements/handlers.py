"""arrangements' subscriber: the partners' decisions, decoded and handed to the application."""

from __future__ import annotations

from ketenbus_contracts.arrangements import InboundArrangementsEvent
from ketenbus_contracts.truancy import PupilEnrolled
from services.runtime.service import Consumes
from services.runtime.streams import ARRANGEMENTS_ENROLMENTS, ARRANGEMENTS_INBOUND

INBOUND = Consumes(
    ARRANGEMENTS_INBOUND,
    "support requests, TLVs, OPPs, youth-care decisions, arrangements, funding disputes and "
    "their decisions, Variawet requests and regie changes. Refused input (e.g. a school issuing "
    "a TLV) goes to `ketenbus.deadletter.arrangements`.",
    payload=InboundArrangementsEvent,
    signed=True,
)
CONSUMER = INBOUND.consumer
decode_inbound = INBOUND.decoder
ENROLMENTS = Consumes(
    ARRANGEMENTS_ENROLMENTS,
    "enrolments as truancy records them: one naming its transition starts the handover of a "
    "child with an OPP or running arrangement at another school, as an aanmelding does.",
    payload=PupilEnrolled,
)

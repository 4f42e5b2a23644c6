"""arrangements' subscriber: the partners' decisions, decoded and handed to the application."""

from __future__ import annotations

from ketenbus_contracts.arrangements import InboundArrangementsEvent
from ketenbus_contracts.truancy import PupilEnrolled
from services.runtime.parent_links import parent_links
from services.runtime.service import Consumes
from services.runtime.streams import (
    ARRANGEMENTS_ENROLMENTS,
    ARRANGEMENTS_INBOUND,
    ARRANGEMENTS_PLAN,
)

INBOUND = Consumes(
    ARRANGEMENTS_INBOUND,
    "support requests, TLVs, OPPs, youth-care decisions, arrangements, funding disputes and "
    "their decisions, Variawet requests and regie changes. Refused input (e.g. a school issuing "
    "a TLV) goes to `ketenbus.deadletter.arrangements`.",
    payload=InboundArrangementsEvent,
    signed=True,
)
LINKS = parent_links(ARRANGEMENTS_PLAN, "answers on the child's OPP's handelingsdeel")
CONSUMER = INBOUND.consumer
decode_inbound = INBOUND.decoder
ENROLMENTS = Consumes(
    ARRANGEMENTS_ENROLMENTS,
    "enrolments as truancy records them: one naming its transition starts the handover of a "
    "child with an OPP or running arrangement at another school, as an aanmelding does.",
    payload=PupilEnrolled,
)

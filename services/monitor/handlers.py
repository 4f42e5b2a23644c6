"""monitor's subscribers: truancy's events and erasures, projected into regional figures."""

from __future__ import annotations

from ketenbus_contracts.envelope import parse_event
from services.runtime.service import Consumes
from services.runtime.streams import MONITOR_PRIVACY, MONITOR_TRUANCY

CONSUMES = (
    Consumes(
        MONITOR_TRUANCY,
        "thuiszitters, exemptions and reasons, counted per region and quarter (no personal "
        "data in the report).",
        decode=parse_event,
    ),
    Consumes(MONITOR_PRIVACY, "erased children are forgotten (still counted).", decode=parse_event),
)

"""truancy's composition root."""

from __future__ import annotations

from services.runtime.service import Service, Translation
from services.truancy.application import TruancyApplication
from services.truancy.handlers import INBOUND, VARIAWET
from services.truancy.translation import apply_inbound, to_contract

SERVICE = Service(
    TruancyApplication,
    (INBOUND, VARIAWET),
    translation=Translation(apply_inbound, to_contract),
    # Thresholds and the three-month rule are counted in days: an hour is plenty.
    tick_every=3600.0,
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

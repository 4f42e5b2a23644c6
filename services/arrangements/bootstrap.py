"""arrangements' composition root."""

from __future__ import annotations

from typing import Any

from services.arrangements.application import ArrangementsApplication
from services.arrangements.handlers import ENROLMENTS, INBOUND, LINKS
from services.arrangements.rules import load_rules
from services.arrangements.translation import apply_inbound, to_contract
from services.runtime.partners import PartnerRegistry
from services.runtime.service import Service, Translation
from services.runtime.settings import Settings


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    return {"rules": load_rules(partners=registry)}


SERVICE = Service(
    ArrangementsApplication,
    (INBOUND, ENROLMENTS, LINKS),
    _needs,
    Translation(apply_inbound, to_contract),
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

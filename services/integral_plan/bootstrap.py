"""integral-plan's composition root."""

from __future__ import annotations

from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.handlers import CONSUMES, queries
from services.integral_plan.translation import to_contract
from services.runtime.service import Service, Translation

SERVICE = Service(
    IntegralPlanApplication,
    CONSUMES,
    translation=Translation(None, to_contract),
    routes=queries,
    name="integral-plan",  # its store: integral_plan
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

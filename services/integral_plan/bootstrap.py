"""integral-plan's composition root."""

from __future__ import annotations

from ketenbus_contracts import plan
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.handlers import CONSUMERS, create_router
from services.integral_plan.translation import to_contract
from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings
from services.runtime.store import store_env

NAME = "integral-plan"


def create_application(settings: Settings) -> IntegralPlanApplication:
    return IntegralPlanApplication(env=store_env(settings, "integral_plan"))


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=CONSUMERS,
        translate=to_contract,
        publishes=(
            plan.PartyJoined,
            plan.PartyLeft,
            plan.RegieAssigned,
            plan.GoalSet,
            plan.AgreementMade,
            plan.ActionAgreed,
            plan.ActionDone,
        ),
    )

"""truancy's composition root."""

from __future__ import annotations

from ketenbus_contracts import truancy
from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings, tick_interval
from services.runtime.store import store_env
from services.runtime.streams import TRUANCY_INBOUND
from services.truancy.application import TruancyApplication, tick
from services.truancy.handlers import create_router
from services.truancy.translation import apply_inbound, to_contract

NAME = "truancy"


def create_application(settings: Settings) -> TruancyApplication:
    return TruancyApplication(env=store_env(settings, NAME), inbound=apply_inbound)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(TRUANCY_INBOUND,),
        translate=to_contract,
        publishes=truancy.OUTBOUND,
        tick=tick,
        # Thresholds and the three-month rule are counted in days: an hour is plenty.
        tick_interval=tick_interval(NAME, 3600.0),
    )

"""arrangements' composition root."""

from __future__ import annotations

from ketenbus_contracts.arrangements import PUBLISHED
from services.arrangements.application import ArrangementsApplication
from services.arrangements.handlers import create_router
from services.arrangements.rules import load_rules
from services.arrangements.tick import TICK_INTERVAL, tick
from services.arrangements.translation import apply_inbound, to_contract
from services.runtime.host import ServiceSpec
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings, tick_interval
from services.runtime.store import store_env
from services.runtime.streams import ARRANGEMENTS_INBOUND

NAME = "arrangements"


def create_application(settings: Settings) -> ArrangementsApplication:
    return ArrangementsApplication(
        env=store_env(settings, NAME),
        rules=load_rules(partners=PartnerRegistry.load(settings.data_dir)),
        inbound=apply_inbound,
    )


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(ARRANGEMENTS_INBOUND,),
        translate=to_contract,
        publishes=PUBLISHED,
        tick=tick,
        tick_interval=tick_interval(NAME, TICK_INTERVAL),
    )

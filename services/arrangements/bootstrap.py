"""arrangements' composition root."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from ketenbus_contracts.arrangements import PUBLISHED
from services.arrangements.application import ArrangementsApplication
from services.arrangements.handlers import create_router
from services.arrangements.tick import TICK_INTERVAL, tick
from services.arrangements.translation import to_contract
from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import ARRANGEMENTS_INBOUND

NAME = "arrangements"


class ArrangementsSettings(BaseSettings):
    """How often the clock runs (reminders, deadlines): `KETENBUS_ARRANGEMENTS_TICK_INTERVAL`."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_ARRANGEMENTS_", extra="ignore")

    tick_interval: float = TICK_INTERVAL


def create_application(settings: Settings) -> ArrangementsApplication:
    return ArrangementsApplication(env=store_env(settings, NAME))


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(ARRANGEMENTS_INBOUND,),
        translate=to_contract,
        publishes=PUBLISHED,
        tick=tick,
        tick_interval=ArrangementsSettings().tick_interval,
    )

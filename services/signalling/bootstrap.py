"""signalling's composition root."""

from __future__ import annotations

from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import SIGNALLING_INBOUND
from services.signalling.application import SignallingApplication, tick
from services.signalling.handlers import create_router
from services.signalling.translation import to_contract

NAME = "signalling"


def create_application(settings: Settings) -> SignallingApplication:
    return SignallingApplication(env=store_env(settings, NAME))


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(SIGNALLING_INBOUND,),
        translate=to_contract,
        # Expiry, contact reminders and escalations, history retention: due by the day or
        # more, so checking every minute is plenty.
        tick=tick,
        tick_interval=60.0,
    )

"""monitor's composition root."""

from __future__ import annotations

from services.monitor.application import MonitorApplication
from services.monitor.handlers import create_router
from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import MONITOR_PRIVACY, MONITOR_TRUANCY

NAME = "monitor"


def create_application(settings: Settings) -> MonitorApplication:
    return MonitorApplication(env=store_env(settings, NAME))


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(MONITOR_TRUANCY, MONITOR_PRIVACY),
    )

"""handover's composition root."""

from __future__ import annotations

from ketenbus_contracts.handover import OUTBOUND_HANDOVER_EVENTS
from services.handover.application import HandoverApplication, tick
from services.handover.handlers import create_router
from services.handover.translation import apply_inbound, to_contract
from services.policy.handover import load_rules
from services.runtime.host import ServiceSpec
from services.runtime.settings import Settings, tick_interval
from services.runtime.store import store_env
from services.runtime.streams import HANDOVER_ATTACHMENTS, HANDOVER_INBOUND

NAME = "handover"


def create_application(settings: Settings) -> HandoverApplication:
    return HandoverApplication(env=store_env(settings, NAME), inbound=apply_inbound)


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(HANDOVER_INBOUND,),
        object_stores=(HANDOVER_ATTACHMENTS,),
        translate=to_contract,
        publishes=OUTBOUND_HANDOVER_EVENTS,
        tick=tick,
        tick_interval=tick_interval(NAME, load_rules().tick_seconds),
    )

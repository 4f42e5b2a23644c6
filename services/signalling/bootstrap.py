"""signalling's composition root."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from ketenbus_contracts.signalling import (
    ContactEscalated,
    ContactMade,
    ContactReminder,
    CoordinatorAssigned,
    HistoryNotice,
    MatchEnded,
    MatchFound,
    ParentsInformed,
    RiskInventoryRecorded,
    SignalRegistered,
    SignalWithdrawn,
)
from services.runtime.host import ServiceSpec
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings, tick_interval
from services.runtime.store import store_env
from services.runtime.streams import SIGNALLING_INBOUND
from services.signalling.application import SignallingApplication, tick
from services.signalling.handlers import create_router
from services.signalling.rules import RULES_PATH, load_rules
from services.signalling.translation import apply_inbound, to_contract

NAME = "signalling"

# What the outbox publishes (`to_contract` produces these), for the AsyncAPI document.
PUBLISHES = (
    SignalRegistered,
    SignalWithdrawn,
    MatchFound,
    MatchEnded,
    CoordinatorAssigned,
    ContactMade,
    ContactReminder,
    ContactEscalated,
    HistoryNotice,
    ParentsInformed,
    RiskInventoryRecorded,
)


class SignallingSettings(BaseSettings):
    """signalling's own settings (`KETENBUS_SIGNALLING_*`): a region's rules file."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_SIGNALLING_", extra="ignore")
    rules_path: Path = RULES_PATH


def create_application(settings: Settings) -> SignallingApplication:
    own = SignallingSettings()
    return SignallingApplication(
        env=store_env(settings, NAME),
        rules=load_rules(own.rules_path, PartnerRegistry.load(settings.data_dir)),
        inbound=apply_inbound,
    )


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=(SIGNALLING_INBOUND,),
        translate=to_contract,
        publishes=PUBLISHES,
        tick=tick,
        # Expiry and reminders are due by the day: a minute is plenty.
        tick_interval=tick_interval(NAME, 60.0),
    )

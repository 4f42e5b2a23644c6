"""kluis's composition root: register, partner registry, keystore, own keys, application."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ketenbus_contracts.privacy import ChildErased
from ketenbus_partner.keys import KLUIS_PARTNER_ID, load_or_create_partner_keys
from services.kluis.application import KluisApplication
from services.kluis.handlers import CONSUMERS, create_router
from services.kluis.keystore import Keystore, MasterKey
from services.kluis.translation import to_contract
from services.policy.loading import REGISTER_PATH, RELATIONS_PATH, load_register, load_relations
from services.runtime.host import ServiceSpec
from services.runtime.partners import PARTNERS_PATH, PartnerRegistry
from services.runtime.settings import Settings
from services.runtime.store import store_env

NAME = "kluis"
RETENTION_TICK = 5.0


def create_application(
    settings: Settings,
    *,
    register_path: Path | None = None,
    relations_path: Path = RELATIONS_PATH,
    partners_path: Path = PARTNERS_PATH,
    master: MasterKey | None = None,
) -> KluisApplication:
    """kluis with its stores from the settings (SQLite files or PostgreSQL schema)."""
    return KluisApplication(
        env=store_env(settings, NAME),
        register=load_register(register_path or settings.processing_register or REGISTER_PATH),
        rules=load_relations(relations_path),
        directory=PartnerRegistry.load(settings.data_dir, partners_path),
        keystore=Keystore.open(settings, master),
        own_keys=load_or_create_partner_keys(settings.data_dir, KLUIS_PARTNER_ID),
        retention_interval=settings.kluis_retention_interval,
    )


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=CONSUMERS,
        translate=to_contract,
        publishes=(ChildErased,),
        tick=expire_retention,
        # A cheap look at the clock; the check itself runs every kluis_retention_interval.
        tick_interval=RETENTION_TICK,
    )


def expire_retention(application: KluisApplication, now: datetime) -> None:
    application.retention_due(now)

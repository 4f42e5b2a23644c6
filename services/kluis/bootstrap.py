"""kluis's composition root: register, partner registry, keystore, own keys, application."""

from __future__ import annotations

from typing import Any

from ketenbus_contracts.privacy import ChildErased
from ketenbus_partner.keys import KLUIS_PARTNER_ID
from services.kluis.application import KluisApplication
from services.kluis.handlers import ANSWERS, CONSUMES
from services.kluis.keystore import Keystore
from services.kluis.master_key import master_key
from services.kluis.translation import to_contract
from services.policy.loading import REGISTER_PATH, load_register, load_relations
from services.runtime.partners import PartnerRegistry
from services.runtime.service import Service, Translation
from services.runtime.settings import Settings
from services.runtime.signers import OwnKeys


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    """kluis's stores from the settings (SQLite files or PostgreSQL schema), its keys."""
    return {
        "register": load_register(settings.processing_register or REGISTER_PATH),
        "rules": load_relations(),
        "directory": registry,
        "keystore": Keystore.open(settings, master_key(settings)),
        "own_keys": OwnKeys(settings.data_dir, KLUIS_PARTNER_ID),  # a rotation is taken in
        "retention_interval": settings.kluis_retention_interval,
    }


SERVICE = Service(
    KluisApplication,
    CONSUMES,
    _needs,
    Translation(None, to_contract, (ChildErased,)),
    answers=ANSWERS,
    # A cheap look at the clock; the check itself runs every kluis_retention_interval.
    tick_every=5.0,
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

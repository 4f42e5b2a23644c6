"""signalling's composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.partitions import NotPartitionedError, env_prefix, instance_settings
from services.runtime.partners import PartnerRegistry
from services.runtime.service import Service, Translation
from services.runtime.settings import Settings
from services.signalling.application import SignallingApplication
from services.signalling.handlers import INBOUND
from services.signalling.rules import RULES_PATH, load_rules
from services.signalling.translation import apply_inbound, to_contract

NAME = SignallingApplication.name


class SignallingSettings(BaseSettings):
    """signalling's own settings (`KETENBUS_SIGNALLING_*`): a region's rules file."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_SIGNALLING_", extra="ignore")
    rules_path: Path = RULES_PATH


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    own = SignallingSettings()
    rules = load_rules(own.rules_path, registry)
    if rules.matching.household_matching and instance_settings(NAME).instances > 1:
        # A household's signals are one aggregate across its children, and its children fall
        # in different partitions: two instances would match one household in either order.
        raise NotPartitionedError(
            f"{NAME} cannot run on more than one instance with household matching on "
            f"({own.rules_path}): a household's children fall in different partitions "
            f"(unset {env_prefix(NAME)}INSTANCES)"
        )
    return {"rules": rules}


SERVICE = Service(
    SignallingApplication, (INBOUND,), _needs, Translation(apply_inbound, to_contract)
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

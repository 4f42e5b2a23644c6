"""The pseudonym service's composition root: the secret, its own keys, policy, partners.

The only process that reads `<data_dir>/secrets/pseudonym.key` (made on first use, 0600).
"""

from __future__ import annotations

from pathlib import Path

from ketenbus_contracts.pseudonym import PSEUDONYM_SERVICE, SecretPseudonymiser
from ketenbus_partner.keys import load_or_create_partner_keys
from services.pseudonym.application import PseudonymApplication
from services.pseudonym.handlers import create_router
from services.pseudonym.policy import POLICY_PATH, RequesterDirectory, load_policy
from services.runtime.host import ServiceSpec
from services.runtime.partners import PARTNERS_PATH, PartnerRegistry
from services.runtime.secrets import load_or_create_secret
from services.runtime.settings import Settings
from services.runtime.store import store_env

NAME = "pseudonym"


def secret_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "pseudonym.key"


def create_application(
    settings: Settings, *, policy_path: Path = POLICY_PATH, partners_path: Path = PARTNERS_PATH
) -> PseudonymApplication:
    return PseudonymApplication(
        env=store_env(settings, NAME),
        policy=load_policy(policy_path),
        directory=RequesterDirectory(PartnerRegistry.load(settings.data_dir, partners_path)),
        pseudonymiser=SecretPseudonymiser(load_or_create_secret(secret_path(settings.data_dir))),
        own_keys=load_or_create_partner_keys(settings.data_dir, PSEUDONYM_SERVICE),
    )


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME, application_factory=create_application, router_factory=create_router
    )

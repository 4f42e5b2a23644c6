"""The pseudonym service's composition root: the secret, its own keys, policy, partners.

The only process that reads `<data_dir>/secrets/pseudonym.key` (made on first use, 0600).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ketenbus_contracts.pseudonym import PSEUDONYM_SERVICE, SecretPseudonymiser
from ketenbus_partner.keys import load_or_create_partner_keys
from services.pseudonym.application import PseudonymApplication
from services.pseudonym.handlers import ANSWERS
from services.pseudonym.policy import RequesterDirectory, load_policy
from services.runtime.partners import PartnerRegistry
from services.runtime.secrets import load_or_create_secret
from services.runtime.service import Service
from services.runtime.settings import Settings


def secret_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "pseudonym.key"


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    return {
        "policy": load_policy(),
        "directory": RequesterDirectory(registry),
        "pseudonymiser": SecretPseudonymiser(load_or_create_secret(secret_path(settings.data_dir))),
        "own_keys": load_or_create_partner_keys(settings.data_dir, PSEUDONYM_SERVICE),
    }


SERVICE = Service(PseudonymApplication, needs=_needs, answers=ANSWERS)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

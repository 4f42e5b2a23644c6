"""The pseudonym service's composition root: the secret, its own keys, policy, partners.

The only process that holds the pseudonym secret: by default `<data_dir>/secrets/pseudonym.key`
(made on first use, 0600); with `KETENBUS_PSEUDONYM_KEY_STORE=pkcs11` in a PKCS#11 token
(services/runtime/hsm.py), every pseudonym an HMAC computed inside it, so the secret never
leaves the token. `KETENBUS_PSEUDONYM_PKCS11_IMPORT=true` puts the file's secret into the token
once (the pseudonyms stay what they were), or makes a new one where there is no file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from ketenbus_contracts.pseudonym import (
    PSEUDONYM_SERVICE,
    MacPseudonymiser,
    Pseudonymiser,
    SecretPseudonymiser,
)
from services.pseudonym.application import PseudonymApplication
from services.pseudonym.handlers import ANSWERS
from services.pseudonym.policy import RequesterDirectory, load_policy
from services.runtime.hsm import TokenKey, kept_in_token
from services.runtime.partners import PartnerRegistry
from services.runtime.secrets import load_or_create_secret
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.signers import OwnKeys

log = structlog.get_logger(__name__)


def secret_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "pseudonym.key"


def token_pseudonymiser(settings: Settings) -> MacPseudonymiser:
    """Pseudonyms as HMAC-SHA256 inside the token under its secret
    (`KETENBUS_PSEUDONYM_PKCS11_KEY_LABEL`)."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    label = settings.pseudonym_pkcs11_key_label
    path = secret_path(settings.data_dir)

    def put_in(session: Any) -> Any:
        if not path.exists():
            log.warning("pseudonym_secret_created", label=label)
            template = kept_in_token(SIGN=True, VERIFY=True)
            return session.generate_key(
                KeyType.GENERIC_SECRET, 256, label=label, store=True, template=template
            )
        log.warning("pseudonym_secret_imported", label=label)
        template = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: load_or_create_secret(path),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.LABEL: label,
            **kept_in_token(SIGN=True, VERIFY=True),
        }
        return session.create_object(template)

    make = put_in if settings.pseudonym_pkcs11_import else None
    key = TokenKey(settings, label, KeyType.GENERIC_SECRET, make=make)

    def mac(message: bytes) -> bytes:
        return bytes(key.call(lambda k: k.sign(message, mechanism=Mechanism.SHA256_HMAC)))

    return MacPseudonymiser(mac)


def pseudonymiser(settings: Settings) -> Pseudonymiser:
    """The pseudonymiser `KETENBUS_PSEUDONYM_KEY_STORE` chooses: the data dir's file or the
    token."""
    if settings.pseudonym_key_store == "pkcs11":
        return token_pseudonymiser(settings)
    return SecretPseudonymiser(load_or_create_secret(secret_path(settings.data_dir)))


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    return {
        "policy": load_policy(),
        "directory": RequesterDirectory(registry),
        "pseudonymiser": pseudonymiser(settings),
        "own_keys": OwnKeys(settings.data_dir, PSEUDONYM_SERVICE),  # a rotation is taken in
    }


SERVICE = Service(PseudonymApplication, needs=_needs, answers=ANSWERS)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec

"""kluis's master key as the settings choose it: a file in the data dir, or a key in an HSM.

`KETENBUS_KLUIS_MASTER_KEY=file` (the default) keeps the master key in
`<data_dir>/secrets/master.key` (`FileMasterKey`): fine for one host, but the key is a file that
a backup or a copied disk carries along, and a second host has none.

`KETENBUS_KLUIS_MASTER_KEY=pkcs11` keeps it in a PKCS#11 token (an HSM, a cloud HSM, or SoftHSM
in the tests; `KETENBUS_PKCS11_MODULE`, `_TOKEN`, `_PIN`, services/runtime/hsm.py): an AES-256
secret key that is sensitive and not extractable, found by its label
(`KETENBUS_KLUIS_PKCS11_KEY_LABEL`). Every data key is
wrapped and unwrapped inside the token with AES-GCM, its kid as associated data, so the master
key never leaves the device and any kluis host that reaches the token wraps alike. The wrapped
form is the file key's (nonce, then ciphertext and tag); each stored key names its master key
(`pkcs11:<label>`), so a key wrapped under another one is found, not mistaken.

The key is made in the token once, by the operator's key ceremony or by kluis's first start
with `KETENBUS_KLUIS_PKCS11_CREATE_KEY=true` (then set it back), never silently.
"""

from __future__ import annotations

import os
from typing import Any

import structlog

from services.kluis.keystore import NONCE_BYTES, FileMasterKey, MasterKey, MasterKeyError
from services.runtime.hsm import TokenError, TokenKey, kept_in_token
from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

TAG_BITS = 128


class Pkcs11MasterKey:
    """A master key that stays in a PKCS#11 token; wrap and unwrap are AES-GCM in the token."""

    def __init__(self, settings: Settings, label: str, *, create: bool = False) -> None:
        from pkcs11 import KeyType

        def make(session: Any) -> Any:
            key = session.generate_key(
                KeyType.AES,
                256,
                label=label,
                store=True,
                template=kept_in_token(ENCRYPT=True, DECRYPT=True),
            )
            log.warning("master_key_created", key_id=f"pkcs11:{label}")
            return key

        try:
            self._key = TokenKey(settings, label, KeyType.AES, make=make if create else None)
        except TokenError as exc:
            raise MasterKeyError(
                f"{exc}; a master key is made once (KETENBUS_KLUIS_PKCS11_CREATE_KEY=true)"
                if "no key" in str(exc)
                else str(exc)
            ) from None

    @property
    def key_id(self) -> str:
        return f"pkcs11:{self._key.label}"

    @staticmethod
    def _gcm(key: Any, operation: str, data: bytes, nonce: bytes, aad: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        params = GCMParams(nonce, aad, TAG_BITS)
        return bytes(
            getattr(key, operation)(data, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        )

    def wrap(self, data_key: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._key.call(lambda key: self._gcm(key, "encrypt", data_key, nonce, aad))
        return nonce + bytes(sealed)

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return bytes(self._key.call(lambda key: self._gcm(key, "decrypt", sealed, nonce, aad)))
        except TokenError:
            raise MasterKeyError(
                "a wrapped data key does not unwrap under this master key"
            ) from None

    def close(self) -> None:
        self._key.close()


def master_key(settings: Settings) -> MasterKey:
    """The master key `KETENBUS_KLUIS_MASTER_KEY` chooses (see the module's docstring)."""
    if settings.kluis_master_key == "file":
        return FileMasterKey.in_data_dir(settings.data_dir)
    return Pkcs11MasterKey(
        settings, settings.kluis_pkcs11_key_label, create=settings.kluis_pkcs11_create_key
    )

"""kluis's master key as the settings choose it: a file in the data dir, or a key in an HSM.

`KETENBUS_KLUIS_MASTER_KEY=file` (the default) keeps the master key in
`<data_dir>/secrets/master.key` (`FileMasterKey`): fine for one host, but the key is a file that
a backup or a copied disk carries along, and a second host has none.

`KETENBUS_KLUIS_MASTER_KEY=pkcs11` keeps it in a PKCS#11 token (an HSM, a cloud HSM, or SoftHSM
in the tests): an AES-256 secret key that is sensitive and not extractable, found by its label
(`KETENBUS_KLUIS_PKCS11_KEY_LABEL`) in the token (`…_TOKEN`) of the module (`…_MODULE`, the
vendor's `.so`), opened with the user PIN (`…_PIN`, from the secret store). Every data key is
wrapped and unwrapped inside the token with AES-GCM, its kid as associated data, so the master
key never leaves the device and any kluis host that reaches the token wraps alike. The wrapped
form is the file key's (nonce, then ciphertext and tag); each stored key names its master key
(`pkcs11:<label>`), so a key wrapped under another one is found, not mistaken.

The key is made in the token once, by the operator's key ceremony or by kluis's first start
with `KETENBUS_KLUIS_PKCS11_CREATE_KEY=true` (then set it back), never silently.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import structlog

from services.kluis.keystore import NONCE_BYTES, FileMasterKey, MasterKey, MasterKeyError
from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

TAG_BITS = 128


class Pkcs11MasterKey:
    """A master key that stays in a PKCS#11 token; wrap and unwrap are AES-GCM in the token."""

    def __init__(
        self, module: Path, token: str, pin: str, label: str, *, create: bool = False
    ) -> None:
        import pkcs11
        from pkcs11 import Attribute, KeyType, ObjectClass

        self._label = label
        self._lock = threading.Lock()  # one session: its operations one at a time
        try:
            found = pkcs11.lib(str(module)).get_token(token_label=token)
            try:
                self._session: Any = found.open(user_pin=pin, rw=create)
            except pkcs11.UserAlreadyLoggedIn:
                # A login is the process's, shared by its sessions (another of this process's
                # master keys on the same token logged in already).
                self._session = found.open(rw=create)
        except pkcs11.PKCS11Error as exc:
            raise MasterKeyError(
                f"the PKCS#11 token {token!r} does not open ({type(exc).__name__})"
            ) from None
        try:
            self._key: Any = self._session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label
            )
        except pkcs11.NoSuchKey:
            if not create:
                self._session.close()
                raise MasterKeyError(
                    f"no master key {label!r} in the token; make it once "
                    "(KETENBUS_KLUIS_PKCS11_CREATE_KEY=true)"
                ) from None
            self._key = self._session.generate_key(
                KeyType.AES,
                256,
                label=label,
                store=True,
                template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                },
            )
            log.warning("master_key_created", key_id=self.key_id)
        if self._key[Attribute.EXTRACTABLE] or not self._key[Attribute.SENSITIVE]:
            self._session.close()
            raise MasterKeyError(f"the master key {label!r} can leave the token; refused")

    @property
    def key_id(self) -> str:
        return f"pkcs11:{self._label}"

    def _params(self, nonce: bytes, aad: bytes) -> Any:
        from pkcs11.mechanisms import GCMParams

        return GCMParams(nonce, aad, TAG_BITS)

    def wrap(self, data_key: bytes, *, aad: bytes) -> bytes:
        from pkcs11 import Mechanism

        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            sealed = self._key.encrypt(
                data_key, mechanism=Mechanism.AES_GCM, mechanism_param=self._params(nonce, aad)
            )
        return nonce + bytes(sealed)

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Mechanism

        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            with self._lock:
                return bytes(
                    self._key.decrypt(
                        sealed,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=self._params(nonce, aad),
                    )
                )
        except pkcs11.PKCS11Error:
            raise MasterKeyError(
                "a wrapped data key does not unwrap under this master key"
            ) from None

    def close(self) -> None:
        with self._lock:
            self._session.close()


def master_key(settings: Settings) -> MasterKey:
    """The master key `KETENBUS_KLUIS_MASTER_KEY` chooses (see the module's docstring)."""
    if settings.kluis_master_key == "file":
        return FileMasterKey.in_data_dir(settings.data_dir)
    if settings.kluis_pkcs11_module is None or settings.kluis_pkcs11_token is None:
        raise MasterKeyError(
            "KETENBUS_KLUIS_MASTER_KEY=pkcs11 needs KETENBUS_KLUIS_PKCS11_MODULE and _TOKEN"
        )
    return Pkcs11MasterKey(
        settings.kluis_pkcs11_module,
        settings.kluis_pkcs11_token,
        settings.kluis_pkcs11_pin.get_secret_value(),
        settings.kluis_pkcs11_key_label,
        create=settings.kluis_pkcs11_create_key,
    )

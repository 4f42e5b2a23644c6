"""Keys kept in a PKCS#11 token (an HSM, a cloud HSM's module, SoftHSM in the tests).

The one place a process opens its token: the vendor's module (`KETENBUS_PKCS11_MODULE`), the
token's label (`KETENBUS_PKCS11_TOKEN`) and its user PIN (`KETENBUS_PKCS11_PIN`, from the secret
store). kluis keeps its master key there (services/kluis/master_key.py), the pseudonym service
its secret (services/pseudonym/bootstrap.py). A key found here must be sensitive and not
extractable: what the token does with it (wrap, unwrap, HMAC) happens inside the token.

A PKCS#11 login belongs to the process, shared by its sessions: a second session of a process
that logged in already opens without the PIN.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from services.runtime.settings import Settings


class TokenError(RuntimeError):
    """The token does not open, has no such key, or its key could leave it."""


class TokenKey:
    """One key in the token by its label, with a session of its own used one call at a time."""

    def __init__(
        self,
        settings: Settings,
        label: str,
        key_type: Any,
        *,
        make: Callable[[Any], Any] | None = None,
    ) -> None:
        """Open the token and find `label`; when it is missing, `make(session)` makes it (a
        read-write session), else it is an error: a key is never made silently."""
        import pkcs11
        from pkcs11 import Attribute, ObjectClass

        if settings.pkcs11_module is None or settings.pkcs11_token is None:
            raise TokenError("a key in a token needs KETENBUS_PKCS11_MODULE and _TOKEN")
        self.label = label
        self._lock = threading.Lock()
        pin = settings.pkcs11_pin.get_secret_value()
        try:
            token = pkcs11.lib(str(settings.pkcs11_module)).get_token(
                token_label=settings.pkcs11_token
            )
            try:
                self._session: Any = token.open(user_pin=pin, rw=make is not None)
            except pkcs11.UserAlreadyLoggedIn:
                self._session = token.open(rw=make is not None)
        except pkcs11.PKCS11Error as exc:
            raise TokenError(
                f"the PKCS#11 token {settings.pkcs11_token!r} does not open ({type(exc).__name__})"
            ) from None
        try:
            self.key: Any = self._session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=key_type, label=label
            )
        except pkcs11.NoSuchKey:
            if make is None:
                self._session.close()
                raise TokenError(f"no key {label!r} in the token") from None
            self.key = make(self._session)
        if self.key[Attribute.EXTRACTABLE] or not self.key[Attribute.SENSITIVE]:
            self._session.close()
            raise TokenError(f"the key {label!r} can leave the token; refused")

    def call(self, operation: Callable[[Any], Any]) -> Any:
        """`operation(key)` inside the token, one at a time; its errors as `TokenError`."""
        import pkcs11

        try:
            with self._lock:
                return operation(self.key)
        except pkcs11.PKCS11Error as exc:
            raise TokenError(f"the token refused ({type(exc).__name__})") from None

    def close(self) -> None:
        with self._lock:
            self._session.close()


# What a key made in the token may never do: leave it.
KEPT_IN_TOKEN: dict[str, bool] = {"SENSITIVE": True, "EXTRACTABLE": False}


def kept_in_token(**usage: bool) -> dict[Any, Any]:
    """A key template: `usage` (e.g. `ENCRYPT=True`) and never leaving the token."""
    from pkcs11 import Attribute

    return {getattr(Attribute, name): value for name, value in {**KEPT_IN_TOKEN, **usage}.items()}

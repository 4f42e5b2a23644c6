"""The partner registry (`infra/partners.yaml`): who the partners are and how to know them.

One entry per partner or backbone service: id, role, organisation codes (BRIN, OIN, AGB, …),
where its public keys are (Ed25519 to verify its signatures and kluis requests, X25519 to
deliver keys to), and its NATS user. kluis reads it for its policy, ingress and the services for
signature verification, `ketenbus audit nats-config` for the server's permissions. It lives in
the runtime because every service needs it and no service may import another.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_partner.keys import public_keys_path
from services.infra import INFRA_DIR

PARTNERS_PATH = INFRA_DIR / "partners.yaml"

# Organisation codes we know the shape of; others (vestiging, lrk, gemeentecode) are free text.
ORGANISATION_CODE_PATTERNS = {
    "brin": r"^[0-9]{2}[A-Z]{2}$|^[0-9]{2}[A-Z]{2}[0-9]{2}$",  # BRIN 4 (or with vestiging)
    "oin": r"^[0-9]{20}$",  # Logius Organisatie-identificatienummer
    "agb": r"^[0-9]{8}$",  # Vektis AGB-code
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NatsUser(_Strict):
    """How the partner connects to NATS. Credentials are never in the registry.

    `nkey`: the partner's public user NKEY (production: the private seed stays with the
    partner); without one the generated config names the user with a password taken from the
    server's environment (`$KETENBUS_NATS_PW_<USER>`), for demo and test partners.
    """

    user: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    nkey: str | None = Field(default=None, pattern=r"^U[A-Z2-7]{55}$")


class IdentityProvider(_Strict):
    """Where the organisation's people log in to the web app (OpenID Connect): the issuer and
    the web app's client there. Its secret, if any, is never in the registry
    (`KETENBUS_WEB_OIDC_CLIENT_SECRET`)."""

    issuer: str = Field(pattern=r"^https?://[^\s]+$")
    client_id: str = Field(min_length=1, max_length=200)


class PartnerEntry(_Strict):
    id: str = Field(pattern=PARTNER_ID_PATTERN)
    name: str
    role: str
    organisation_codes: dict[str, str] = Field(default_factory=dict)
    keys: Literal["inline", "data-dir"] = "data-dir"
    public_jwks: dict[str, Any] | None = None
    nats: NatsUser | None = None
    identity_provider: IdentityProvider | None = None

    @field_validator("organisation_codes")
    @classmethod
    def _known_codes_well_formed(cls, codes: dict[str, str]) -> dict[str, str]:
        for name, value in codes.items():
            pattern = ORGANISATION_CODE_PATTERNS.get(name)
            if pattern is not None and not re.match(pattern, value):
                raise ValueError(f"organisation code {name} is not well-formed")
        return codes

    @property
    def nats_user(self) -> NatsUser:
        return self.nats or NatsUser(user=self.id)

    @property
    def is_service(self) -> bool:
        """A backbone service (role ends in `-service`), not an outside organisation."""
        return self.role.endswith("-service")


class PartnersFile(_Strict):
    version: str
    partners: list[PartnerEntry]


def load_partners(path: Path = PARTNERS_PATH) -> PartnersFile:
    return PartnersFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def entry_public_keys(entry: PartnerEntry, data_dir: Path) -> PartnerKeys | None:
    """The entry's public keys: inline, or from the data dir (None when not provisioned)."""
    if entry.keys == "inline":
        jwks = entry.public_jwks
    else:
        path = public_keys_path(data_dir, entry.id)
        jwks = json.loads(path.read_text()) if path.exists() else None
    return None if jwks is None else PartnerKeys.from_jwks(entry.id, jwks)


class UnknownPartnerError(LookupError):
    """The partner is not in the partner registry."""


class PartnerRegistry:
    """The partner registry, parsed once (by a service's bootstrap) and handed to what needs it:
    entries by id, their roles, and their public keys.

    Public keys are inline in the registry or in `<data_dir>/partner-keys/<id>.json` (demo
    partners and the backbone's own services; without a data dir only inline keys are found);
    in a running service the signers' (kluis, feed, pseudonym) come from the shared bucket
    first (`signer_keys`, services.runtime.signers).
    Found keys are cached; a miss is looked up again next time, since demo partners' keys are
    made in the data dir on first use.
    """

    def __init__(
        self, entries: list[PartnerEntry], data_dir: Path | None = None, version: str = ""
    ) -> None:
        self.version = version
        self.data_dir = data_dir
        self._entries = {entry.id: entry for entry in entries}
        self._keys: dict[str, PartnerKeys] = {}
        # The backbone's signers' public keys as every host shares them (a running service's,
        # services.runtime.signers): found before the data directory's.
        self.signer_keys: dict[str, PartnerKeys] = {}

    @classmethod
    def load(cls, data_dir: Path | None = None, path: Path = PARTNERS_PATH) -> PartnerRegistry:
        parsed = load_partners(path)
        return cls(parsed.partners, data_dir, parsed.version)

    @property
    def ids(self) -> list[str]:
        return list(self._entries)

    @property
    def entries(self) -> list[PartnerEntry]:
        return list(self._entries.values())

    def get(self, partner_id: str) -> PartnerEntry | None:
        return self._entries.get(partner_id)

    def entry(self, partner_id: str) -> PartnerEntry:
        entry = self._entries.get(partner_id)
        if entry is None:
            raise UnknownPartnerError(f"partner {partner_id} is not registered")
        return entry

    def role_of(self, partner_id: str) -> str | None:
        entry = self._entries.get(partner_id)
        return None if entry is None else entry.role

    def public_keys(self, partner_id: str) -> PartnerKeys | None:
        """The partner's public keys; None when unregistered or its keys are not provisioned."""
        shared = self.signer_keys.get(partner_id)
        if shared is not None:
            return shared
        cached = self._keys.get(partner_id)
        if cached is not None:
            return cached
        entry = self._entries.get(partner_id)
        if entry is None:
            return None
        if entry.keys == "data-dir" and self.data_dir is None:
            return None
        keys = entry_public_keys(entry, self.data_dir or Path())
        if keys is not None:
            self._keys[partner_id] = keys
        return keys

    def forget_keys(self) -> None:
        """Drop cached public keys (after keys were provisioned or replaced)."""
        self._keys.clear()

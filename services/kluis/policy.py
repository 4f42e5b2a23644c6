"""Loading kluis's policy: the partner registry under `infra/` (and, re-exported from the shared
`services.policy.register`, the processing register).

Both are versioned YAML files readable by auditors. The partner registry becomes a
`PartnerDirectory` that also finds each
partner's public keys (inline in the YAML, or `<data_dir>/partner-keys/<id>.json` for the demo
partners and the backbone's own services).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ketenbus_contracts.sealing import PartnerKeys
from services.kluis.domain import Partner, UnknownPartnerError
from services.policy.loading import REGISTER_PATH, load_register, parse_register
from services.runtime.partners import PARTNERS_PATH, PartnerEntry, PartnersFile, entry_public_keys

__all__ = [
    "PARTNERS_PATH",
    "REGISTER_PATH",
    "PartnerDirectory",
    "PartnerEntry",
    "load_register",
    "parse_register",
]


class PartnerDirectory:
    """The registered partners, their roles and their public keys."""

    def __init__(self, entries: list[PartnerEntry], data_dir: Path, version: str = "") -> None:
        self.version = version
        self.data_dir = data_dir
        self._entries = {entry.id: entry for entry in entries}
        self._keys: dict[str, PartnerKeys] = {}

    @classmethod
    def load(cls, data_dir: Path, path: Path = PARTNERS_PATH) -> PartnerDirectory:
        parsed = PartnersFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        return cls(parsed.partners, data_dir, parsed.version)

    @property
    def ids(self) -> list[str]:
        return list(self._entries)

    def partner(self, partner_id: str) -> Partner:
        entry = self._entries.get(partner_id)
        if entry is None:
            raise UnknownPartnerError(f"partner {partner_id} is not registered")
        return Partner(entry.id, entry.name, entry.role, dict(entry.organisation_codes))

    def role_of(self, partner_id: str) -> str:
        return self.partner(partner_id).role

    def public_keys(self, partner_id: str) -> PartnerKeys | None:
        """The partner's public keys; None when unregistered or its keys are not provisioned."""
        cached = self._keys.get(partner_id)
        if cached is not None:
            return cached
        entry = self._entries.get(partner_id)
        if entry is None:
            return None
        keys = entry_public_keys(entry, self.data_dir)
        if keys is None:
            return None
        self._keys[partner_id] = keys
        return keys

    def forget_keys(self) -> None:
        """Drop cached public keys (after keys were provisioned or replaced)."""
        self._keys.clear()

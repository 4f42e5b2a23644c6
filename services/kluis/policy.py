"""Loading kluis's policy: the processing register and the partner registry under `infra/`.

Both are versioned YAML files readable by auditors. The register becomes a
`domain.ProcessingRegister`; the partner registry a `PartnerDirectory` that also finds each
partner's public keys (inline in the YAML, or `<data_dir>/partner-keys/<id>.json` for the demo
partners and the backbone's own services).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import PartnerKeys
from services.kluis.domain import (
    InvalidRegisterError,
    Partner,
    ProcessingActivity,
    ProcessingRegister,
    UnknownPartnerError,
)
from services.runtime.partners import PARTNERS_PATH, PartnerEntry, PartnersFile, entry_public_keys

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
REGISTER_PATH = INFRA_DIR / "processing-register.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActivityEntry(_Strict):
    id: str
    purpose: Purpose
    name: str
    legal_basis: str
    retention: str = Field(pattern=r"^P(\d+Y)?(\d+M)?(\d+D)?$")
    retention_from: str
    holder_roles: list[str]
    writer_roles: list[str]
    relay_roles: list[str] = Field(default_factory=list)


class RegisterFile(_Strict):
    version: str
    controller: str
    activities: list[ActivityEntry]


def parse_register(raw: dict[str, Any]) -> ProcessingRegister:
    parsed = RegisterFile.model_validate(raw)
    activities: dict[Purpose, ProcessingActivity] = {}
    for entry in parsed.activities:
        if entry.purpose in activities:
            raise InvalidRegisterError(f"two activities for purpose {entry.purpose.value}")
        activities[entry.purpose] = ProcessingActivity(
            id=entry.id,
            purpose=entry.purpose,
            name=entry.name,
            legal_basis=entry.legal_basis,
            retention=entry.retention,
            retention_from=entry.retention_from,
            holder_roles=frozenset(entry.holder_roles),
            writer_roles=frozenset(entry.writer_roles),
            relay_roles=frozenset(entry.relay_roles),
        )
    return ProcessingRegister(parsed.version, parsed.controller, activities)


def load_register(path: Path = REGISTER_PATH) -> ProcessingRegister:
    """The processing register (default `infra/processing-register.yaml`)."""
    return parse_register(yaml.safe_load(path.read_text(encoding="utf-8")))


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

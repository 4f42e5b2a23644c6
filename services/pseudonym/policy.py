"""The pseudonym service's data: its policy (infra/pseudonym/policy.yaml) and the partners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.register import ActivityReference
from services.infra import INFRA_DIR
from services.pseudonym.domain import Limits, PseudonymPolicy, Requester
from services.runtime.partners import PartnerRegistry

POLICY_PATH = INFRA_DIR / "pseudonym" / "policy.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LimitsEntry(_Strict):
    burst: int = Field(ge=1)
    per_minute: int = Field(ge=1)
    per_day: int = Field(ge=1)

    def limits(self) -> Limits:
        return Limits(self.burst, self.per_minute, self.per_day)


class LimitsFile(_Strict):
    default: LimitsEntry
    roles: dict[str, LimitsEntry] = Field(default_factory=dict)
    partners: dict[str, LimitsEntry] = Field(default_factory=dict)


class PolicyFile(_Strict):
    version: str
    processing_activity: ActivityReference
    roles: list[str]
    limits: LimitsFile


def parse_policy(raw: dict[str, Any]) -> PseudonymPolicy:
    parsed = PolicyFile.model_validate(raw)
    return PseudonymPolicy(
        version=parsed.version,
        activity_id=parsed.processing_activity.id,
        purpose=parsed.processing_activity.purpose,
        roles=frozenset(parsed.roles),
        default=parsed.limits.default.limits(),
        by_role={role: entry.limits() for role, entry in parsed.limits.roles.items()},
        by_partner={who: entry.limits() for who, entry in parsed.limits.partners.items()},
    )


def load_policy(path: Path = POLICY_PATH) -> PseudonymPolicy:
    return parse_policy(yaml.safe_load(path.read_text(encoding="utf-8")))


class RequesterDirectory:
    """The registered partners as requesters (role, own BRINs) and their signing keys."""

    def __init__(self, registry: PartnerRegistry) -> None:
        self._requesters = {
            entry.id: Requester(
                entry.id,
                entry.role,
                frozenset(
                    code for name, code in entry.organisation_codes.items() if name == "brin"
                ),
            )
            for entry in registry.entries
        }
        self._keys = registry.public_keys

    def requester(self, partner: str) -> Requester | None:
        return self._requesters.get(partner)

    def signing_key(self, partner: str) -> OKPKey | None:
        keys = self._keys(partner)
        return keys.signing if keys is not None else None

"""Loading the policy files under `infra/`: the processing register and the relation rules.

Both are versioned YAML readable by auditors, checked strictly (unknown keys refused): the
register as the contracts' model (`ketenbus_contracts.register`, a partner reads it too), the
relation rules into the pure model of `services.policy.relations`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from services.infra import INFRA_DIR
from services.policy.relations import (
    BasisRule,
    Grant,
    Opens,
    PurposeRule,
    RelationRules,
    ScopeKind,
)

REGISTER_PATH = INFRA_DIR / "processing-register.yaml"
RELATIONS_PATH = INFRA_DIR / "relations.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_register(raw: dict[str, Any]) -> ProcessingRegister:
    return ProcessingRegister.model_validate(raw)


def load_register(path: Path = REGISTER_PATH) -> ProcessingRegister:
    """The processing register (default `infra/processing-register.yaml`)."""
    return parse_register(yaml.safe_load(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------
# the relation rules


class BasisEntry(_Strict):
    name: str
    established_by: list[str] = Field(min_length=1)
    started_by: list[str]
    ended_by: list[str]
    ends: str
    grace: str | None = Field(default=None, pattern=r"^P(\d+Y)?(\d+M)?(\d+D)?$")
    needs_consent: list[str] = Field(default_factory=list)


class GrantEntry(_Strict):
    basis: str
    opens: Opens


class PurposeEntry(_Strict):
    scope: ScopeKind
    grants: list[GrantEntry]


class RelationsFile(_Strict):
    version: str
    bases: dict[str, BasisEntry]
    purposes: dict[Purpose, PurposeEntry]


def parse_relations(raw: dict[str, Any]) -> RelationRules:
    parsed = RelationsFile.model_validate(raw)
    bases = {
        kind: BasisRule(
            kind=kind,
            name=entry.name,
            established_by=tuple(entry.established_by),
            started_by=tuple(entry.started_by),
            ended_by=tuple(entry.ended_by),
            ends=entry.ends,
            grace=entry.grace,
            needs_consent=tuple(entry.needs_consent),
        )
        for kind, entry in parsed.bases.items()
    }
    purposes = {
        purpose: PurposeRule(
            purpose, entry.scope, tuple(Grant(g.basis, g.opens) for g in entry.grants)
        )
        for purpose, entry in parsed.purposes.items()
    }
    return RelationRules(parsed.version, bases, purposes)


def load_relations(path: Path = RELATIONS_PATH) -> RelationRules:
    """The relation rules (default `infra/relations.yaml`)."""
    return parse_relations(yaml.safe_load(path.read_text(encoding="utf-8")))

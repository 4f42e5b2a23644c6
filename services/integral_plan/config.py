"""integral-plan's settings as data: worklist limits (`infra/integral_plan/worklist.yaml`), how
other domains' events are noted on the plan (`infra/integral_plan/projection.yaml`), and who
may link a parent to a child (the relation rules' `parent` basis, the partners' roles)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.plan import PARENT_BASIS
from services.infra import INFRA_DIR
from services.integral_plan.domain import RecorderRule
from services.policy.handover import HandoverRules
from services.policy.handover import load_rules as load_handover_rules
from services.policy.loading import load_relations
from services.runtime.partners import load_partners

WORKLIST_PATH = INFRA_DIR / "integral_plan" / "worklist.yaml"
PROJECTION_PATH = INFRA_DIR / "integral_plan" / "projection.yaml"


class WorklistRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    new_match_days: int = Field(ge=0)
    due_soon_days: int = Field(ge=0)
    stalled_handover_days: int = Field(default=0, ge=0)
    thuiszitter_without_offer_days: int = Field(default=0, ge=0)
    signal_decision_days: int = Field(default=14, ge=0)
    jgz_referral_days: int = Field(default=14, ge=0)
    exemption_renewal_days: int = Field(default=42, ge=0)
    informing_days: int = Field(default=14, ge=0)
    objection_decision_days: int = Field(default=30, ge=0)


class ProjectionRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    roles: dict[str, str]
    regie_domains: dict[str, str]


def load_worklist_rules(path: Path = WORKLIST_PATH) -> WorklistRules:
    return WorklistRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def projection_rules(path: Path = PROJECTION_PATH) -> ProjectionRules:
    """Read once, on first use (not at import)."""
    return ProjectionRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def handover_rules() -> HandoverRules:
    """The handover's ground per transition (infra/handover/rules.yaml), read once."""
    return load_handover_rules()


@cache
def parent_link_rule() -> RecorderRule:
    """Who records a parent's link, and whose link needs consent (read once, on first use)."""
    basis = load_relations().bases[PARENT_BASIS]
    return RecorderRule(frozenset(basis.established_by), frozenset(basis.needs_consent))


@cache
def _roles() -> dict[str, str]:
    return {entry.id: entry.role for entry in load_partners().partners}


def partner_role(partner: str) -> str | None:
    """A registered partner's role (None: not registered)."""
    return _roles().get(partner)

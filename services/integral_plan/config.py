"""integral-plan's settings as data: worklist limits (`infra/integral_plan/worklist.yaml`) and
how other domains' events are noted on the plan (`infra/integral_plan/projection.yaml`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

INFRA = Path(__file__).resolve().parents[2] / "infra" / "integral_plan"
WORKLIST_PATH = INFRA / "worklist.yaml"
PROJECTION_PATH = INFRA / "projection.yaml"


class WorklistRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    new_match_days: int = Field(ge=0)
    due_soon_days: int = Field(ge=0)
    stalled_handover_days: int = Field(default=0, ge=0)
    thuiszitter_without_offer_days: int = Field(default=0, ge=0)


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

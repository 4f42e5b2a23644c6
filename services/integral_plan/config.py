"""integral-plan's worklist settings, loaded from `infra/integral_plan/worklist.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

WORKLIST_PATH = Path(__file__).resolve().parents[2] / "infra" / "integral_plan" / "worklist.yaml"


class WorklistRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    new_match_days: int = Field(ge=0)
    due_soon_days: int = Field(ge=0)


def load_worklist_rules(path: Path = WORKLIST_PATH) -> WorklistRules:
    return WorklistRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

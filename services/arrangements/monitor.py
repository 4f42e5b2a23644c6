"""The arrangements' indicators as data (`infra/arrangements/monitor.yaml`): which roles make an
arrangement a joint deployment of education and care (seed 004), and the pupils and national
TLV share the TLV rate is read against (seed 001 B1). No I/O beyond loading the file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.infra import INFRA_DIR

MONITOR_PATH = INFRA_DIR / "arrangements" / "monitor.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JointDeployment(_Strict):
    education_roles: frozenset[str]
    care_roles: frozenset[str]

    def joint(self, roles: set[str]) -> bool:
        """Parties of both sides: education and care deployed together."""
        return bool(roles & self.education_roles) and bool(roles & self.care_roles)


class TlvYear(_Strict):
    national_percent: float = Field(ge=0, le=100)
    pupils: dict[str, int]
    # Where the figures come from (DUO's teldatum, the published national figure); a figure
    # nobody entered yet is a placeholder, marked so and shown so with the rate.
    source: str = Field(min_length=1)
    placeholder: bool = False


class MonitorRules(_Strict):
    version: str
    joint_deployment: JointDeployment
    tlv_rate: dict[str, TlvYear]


def school_year_bounds(school_year: str) -> tuple[date, date]:
    """`2026-2027` → (2026-08-01, 2027-07-31)."""
    first, _, second = school_year.partition("-")
    if not first.isdigit() or second != str(int(first) + 1):
        raise ValueError(f"not a school year: {school_year}")
    return date(int(first), 8, 1), date(int(first) + 1, 7, 31)


def load_monitor_rules(path: Path = MONITOR_PATH) -> MonitorRules:
    return MonitorRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

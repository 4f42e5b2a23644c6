"""The arrangements rules as data: entitlements, the grey-area funding scheme, the holders of
doorzettingsmacht, the tandem register, and the periods of the clock (infra/arrangements/).

The dataclasses are what the domain works with; `load_rules` is the only I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.infra import INFRA_DIR
from services.runtime.partners import PartnerRegistry

RULES_DIR = INFRA_DIR / "arrangements"


@dataclass(frozen=True)
class HolderEntry:
    partner: str
    function: str
    contact: str


@dataclass(frozen=True)
class Tandem:
    school: str
    school_contact: str
    access_team: str
    access_team_contact: str


@dataclass(frozen=True)
class TlvTerm:
    """An SWV's rule for the term of its TLVs (tlv-terms.yaml)."""

    max_school_years: int | None
    ends_on_school_year_end: bool
    source: str = ""
    placeholder: bool = False


@dataclass(frozen=True)
class Rules:
    """Everything a region agrees on, as the domain needs it."""

    version: str
    entitled: dict[str, frozenset[str]]
    funding_scheme: dict[str, dict[str, int]]
    dispute_decision_days: int
    dispute_remind_days_before: tuple[int, ...]
    reminder_days: dict[str, int]
    tlv_expert_opinions: int
    tlv_first_expert: frozenset[str]
    tlv_waiting_remind_days: int
    zorgplicht_decision_days: int
    zorgplicht_extension_days: int
    opp_after_placement_days: int
    opp_evaluation_days: int
    full_time_hours_per_week: float
    reduced_time_max_days: int
    holders: dict[str, tuple[HolderEntry, ...]] = field(default_factory=dict)
    tandems: tuple[Tandem, ...] = ()
    roles: dict[str, str] = field(default_factory=dict)
    tlv_terms: dict[str, TlvTerm] = field(default_factory=dict)

    def role_of(self, partner: str) -> str | None:
        return self.roles.get(partner)

    def may(self, decision: str, role: str | None) -> bool:
        return role is not None and role in self.entitled.get(decision, frozenset())

    def tandem_of_school(self, school: str) -> Tandem | None:
        return next((t for t in self.tandems if t.school == school), None)

    def schools_of_access_team(self, access_team: str) -> list[Tandem]:
        return [t for t in self.tandems if t.access_team == access_team]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Dispute(_Strict):
    decision_days: int = Field(ge=1)
    remind_days_before: list[int]


class _Tlv(_Strict):
    expert_opinions: int = Field(ge=1)
    first_expert: list[str] = Field(min_length=1)
    waiting_remind_days: int = Field(ge=0)


class _Zorgplicht(_Strict):
    decision_days: int = Field(ge=1)
    extension_days: int = Field(ge=0)


class _Opp(_Strict):
    after_placement_days: int = Field(ge=1)
    evaluation_days: int = Field(ge=1)


class _TlvTerm(_Strict):
    max_school_years: int | None = Field(ge=1)
    ends_on_school_year_end: bool = False
    # The SWV's ondersteuningsplan the term comes from; a term nobody took from one yet is a
    # placeholder, marked so.
    source: str = Field(min_length=1)
    placeholder: bool = False


class _TlvTermsFile(_Strict):
    version: str
    swv: dict[str, _TlvTerm]


class _Variawet(_Strict):
    full_time_hours_per_week: float = Field(gt=0)
    max_period_days: int = Field(ge=1)


class _RulesFile(_Strict):
    version: str
    entitled: dict[str, list[str]]
    funding_scheme: dict[str, dict[str, int]]
    dispute: _Dispute
    reminders: dict[str, int]
    tlv: _Tlv
    zorgplicht: _Zorgplicht
    opp: _Opp
    variawet: _Variawet


class _Holder(_Strict):
    partner: str
    function: str
    contact: str


class _Region(_Strict):
    name: str
    holders: list[_Holder] = Field(min_length=1)


class _HoldersFile(_Strict):
    version: str
    regions: dict[str, _Region]


class _TandemEntry(_Strict):
    school: str
    school_contact: str
    access_team: str
    access_team_contact: str


class _TandemFile(_Strict):
    version: str
    tandems: list[_TandemEntry]


class InvalidRulesError(ValueError):
    """The rules under infra/arrangements do not make sense."""


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def parse_rules(
    rules: dict[str, Any],
    holders: dict[str, Any],
    tandems: dict[str, Any],
    roles: dict[str, str] | None = None,
    tlv_terms: dict[str, Any] | None = None,
) -> Rules:
    parsed = _RulesFile.model_validate(rules)
    for kind, split in parsed.funding_scheme.items():
        if sum(split.values()) != 100 or not set(split) <= {"school", "swv", "municipality"}:
            raise InvalidRulesError(f"funding scheme for {kind} must split 100% over known payers")
    regions = _HoldersFile.model_validate(holders)
    register = _TandemFile.model_validate(tandems)
    terms = _TlvTermsFile.model_validate(tlv_terms or {"version": "none", "swv": {}})
    return Rules(
        version=parsed.version,
        entitled={k: frozenset(v) for k, v in parsed.entitled.items()},
        funding_scheme=parsed.funding_scheme,
        dispute_decision_days=parsed.dispute.decision_days,
        dispute_remind_days_before=tuple(sorted(parsed.dispute.remind_days_before, reverse=True)),
        reminder_days=dict(parsed.reminders),
        tlv_expert_opinions=parsed.tlv.expert_opinions,
        tlv_first_expert=frozenset(parsed.tlv.first_expert),
        tlv_waiting_remind_days=parsed.tlv.waiting_remind_days,
        zorgplicht_decision_days=parsed.zorgplicht.decision_days,
        zorgplicht_extension_days=parsed.zorgplicht.extension_days,
        opp_after_placement_days=parsed.opp.after_placement_days,
        opp_evaluation_days=parsed.opp.evaluation_days,
        full_time_hours_per_week=parsed.variawet.full_time_hours_per_week,
        reduced_time_max_days=parsed.variawet.max_period_days,
        holders={
            code: tuple(HolderEntry(h.partner, h.function, h.contact) for h in region.holders)
            for code, region in regions.regions.items()
        },
        tandems=tuple(
            Tandem(t.school, t.school_contact, t.access_team, t.access_team_contact)
            for t in register.tandems
        ),
        roles=roles or {},
        tlv_terms={
            swv: TlvTerm(t.max_school_years, t.ends_on_school_year_end, t.source, t.placeholder)
            for swv, t in terms.swv.items()
        },
    )


def load_rules(directory: Path = RULES_DIR, partners: PartnerRegistry | None = None) -> Rules:
    """The rules of infra/arrangements (rules, doorzettingsmacht, tandem, the SWVs' TLV terms)
    and partner roles."""
    return parse_rules(
        _read(directory / "rules.yaml"),
        _read(directory / "doorzettingsmacht.yaml"),
        _read(directory / "tandem.yaml"),
        {e.id: e.role for e in (partners or PartnerRegistry.load()).entries},
        _read(directory / "tlv-terms.yaml"),
    )

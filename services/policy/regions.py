"""A region's truancy rules, thresholds, codes and school calendar, as data.

Loaded from `infra/truancy/<region>.yaml` (one file per region); the domain receives these
objects and never reads files itself.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.infra import INFRA_DIR

RULES_DIR = INFRA_DIR / "truancy"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class School(_Data):
    brin: str
    weekly_hours: float = Field(gt=0)
    lesson_minutes: int = Field(default=50, gt=0)
    contact: str


class ReportRule(_Data):
    unauthorised_hours: float
    school_weeks: int = Field(ge=1)
    action_taken: str
    municipal_action_wanted: bool
    # The kinds a school files itself (luxeverzuim, signaalverzuim): no hour count shows them.
    school_filed_kinds: list[str] = Field(default_factory=lambda: ["luxe", "signaal"])


class ThuiszitterRule(_Data):
    more_than_weeks: int = Field(ge=1)
    absent_share_above: float = Field(gt=0, le=1)
    counts: Literal["any", "unauthorised"] = "any"
    absolute_share: float = 1.0
    category1_grace_days: int = 7


class ThreeMonthRule(_Data):
    warn_after_days: list[int]
    integral_meeting_after_days: int = Field(gt=0)
    escalate_after_days: int
    limit_days: int

    @model_validator(mode="after")
    def _meeting_before_escalation(self) -> ThreeMonthRule:
        if not self.integral_meeting_after_days < self.escalate_after_days <= self.limit_days:
            raise ValueError(
                "the integral meeting comes before escalation, escalation before the limit"
            )
        return self


class ExemptionRule(_Data):
    articles: list[str]
    statement_required: list[str] = Field(default_factory=list)
    swv_advice_required: list[str]
    yearly_renewal: list[str] = Field(default_factory=list)
    partial: list[str] = Field(default_factory=list)
    school_year_ends: str = Field(default="07-31", pattern=r"^[01][0-9]-[0-3][0-9]$")
    # exemption-granted.v1 (leerplicht asserted the SWV's advice) is taken only when its
    # leerplicht published it before this day (v2 took over): stores and streams holding v1
    # still read; a v1 made later is refused.
    v1_published_before: date | None = None

    def school_year_end(self, day: date) -> date:
        """The last day of the school year `day` falls in (renewed yearly: valid until then)."""
        month, dom = (int(part) for part in self.school_year_ends.split("-"))
        end = date(day.year, month, dom)
        return end if day <= end else date(day.year + 1, month, dom)


class Codes(_Data):
    absence_reasons: list[str]
    closed_reasons: list[str]
    home_reasons: list[str]
    decision_outcomes: list[str] = Field(default_factory=list)
    # Outcomes of the local integral meeting that escalate at once (no agreement locally).
    escalating_outcomes: list[str] = Field(default_factory=list)


class MonitorRule(_Data):
    suppress_below: int = Field(ge=1)


class SignalRule(_Data):
    """How leerplicht's attendance signals are registered (adapters/leerplicht/signals.py)."""

    contact: str
    keep_days: int = Field(gt=0)


class Holiday(_Data):
    name: str
    start: date
    end: date


class Calendar(_Data):
    holidays: list[Holiday]

    @cached_property
    def _holiday_days(self) -> frozenset[date]:
        days: set[date] = set()
        for holiday in self.holidays:
            day = holiday.start
            while day <= holiday.end:
                days.add(day)
                day += timedelta(days=1)
        return frozenset(days)

    def is_school_week(self, monday: date) -> bool:
        """A week with at least one school day (Monday to Friday outside the holidays)."""
        return any(monday + timedelta(days=d) not in self._holiday_days for d in range(5))

    def school_weeks_back(self, day: date, count: int) -> list[date]:
        """The Mondays of the `count` school weeks ending with the week of `day` (newest first).

        The week of `day` itself is included even in a holiday (an absence was recorded).
        """
        monday = week_of(day)
        weeks = [monday]
        while len(weeks) < count:
            monday -= timedelta(days=7)
            if self.is_school_week(monday):
                weeks.append(monday)
        return weeks


def week_of(day: date) -> date:
    """The Monday of `day`'s week: the key of the rolling per-week sums."""
    return day - timedelta(days=day.weekday())


class RegionRules(_Data):
    region: str
    name: str
    leerplicht: str
    swv: str
    jgz: str
    integral_meeting: list[str]
    thuiszitterstafel: list[str]
    schools: dict[str, School]
    report: ReportRule
    thuiszitter: ThuiszitterRule
    three_month_rule: ThreeMonthRule
    exemptions: ExemptionRule
    codes: Codes
    monitor: MonitorRule
    signal: SignalRule
    calendar: Calendar
    # municipality (partner id) → the leerplicht of that municipality: the municipality where
    # the child lives decides on its exemptions (Lpw art. 5, 6 and 16: the kennisgeving goes
    # to burgemeester en wethouders of the municipality of residence). Empty: one leerplicht
    # for the whole region (`leerplicht`).
    municipalities: dict[str, str] = Field(default_factory=dict)

    def leerplicht_of(self, municipality: str | None) -> str | None:
        """The leerplicht that decides for a child living in `municipality` (unknown
        residence: the region's leerplicht); None when the region has no leerplicht there."""
        if municipality is None or not self.municipalities:
            return self.leerplicht
        return self.municipalities.get(municipality)

    @property
    def window_weeks(self) -> int:
        """How many school weeks of sums an aggregate keeps: enough for every rule, no more."""
        return max(self.report.school_weeks, self.thuiszitter.more_than_weeks + 1) + 1

    @property
    def escalation(self) -> list[str]:
        """Whom the three-month rule escalates to: the thuiszitterstafel, the SWV with it."""
        return sorted({*self.thuiszitterstafel, self.swv})

    def weekly_hours(self, school: str | None) -> float:
        found = self.schools.get(school or "")
        if found is not None:
            return found.weekly_hours
        return min((s.weekly_hours for s in self.schools.values()), default=25.0)


def load_regions(directory: Path = RULES_DIR) -> dict[str, RegionRules]:
    """Every region's rules under `directory`, by region id."""
    regions = {}
    for path in sorted(directory.glob("*.yaml")):
        rules = RegionRules.model_validate(yaml.safe_load(path.read_text()))
        regions[rules.region] = rules
    return regions


def school_region(regions: dict[str, RegionRules], school: str) -> RegionRules | None:
    """The region a school (partner id) reports to."""
    return next((r for r in regions.values() if school in r.schools), None)

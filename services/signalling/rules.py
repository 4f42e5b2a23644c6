"""signalling's rules as data: periods, codes and the coordinator rule from `infra/signalling/`.

Nothing here decides; the domain asks these values. Loaded once at start (composition root)
and handed to the application, so tests give their own.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from services.infra import INFRA_DIR
from services.policy.loading import load_register
from services.runtime.partners import PartnerRegistry
from services.signalling.domain import Coordinator, Party

RULES_PATH = INFRA_DIR / "signalling" / "rules.yaml"

_D = TypeVar("_D", date, datetime)

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class Period(BaseModel):
    """An ISO 8601 duration as the rules write it (years by the calendar, the rest exact)."""

    model_config = ConfigDict(frozen=True)
    years: int = 0
    delta: timedelta = timedelta()

    @classmethod
    def parse(cls, text: str) -> Period:
        # The rules' periods are read for every signal: each text is parsed once (frozen).
        return _parsed(cls, text)

    @classmethod
    def _parse(cls, text: str) -> Period:
        found = _DURATION.match(text)
        if found is None or text == "P":
            raise ValueError(f"not an ISO 8601 duration this module reads: {text!r}")
        parts = {k: int(v) for k, v in found.groupdict().items() if v}
        delta = timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        )
        return cls(years=parts.get("years", 0), delta=delta)

    def after(self, moment: datetime) -> datetime:
        return _add_years(moment, self.years) + self.delta

    def after_date(self, day: date) -> date:
        return _add_years(day, self.years) + self.delta


@functools.lru_cache(maxsize=256)
def _parsed(cls: type[Period], text: str) -> Period:
    return cls._parse(text)


def _add_years(moment: _D, years: int) -> _D:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year without one
        return moment.replace(year=moment.year + years, day=28)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Lifecycle(_Strict):
    max_signal_duration: str
    age_limit_years: int


class Withdrawal(_Strict):
    partner_reasons: list[str]
    backbone_reasons: list[str]


class Death(_Strict):
    reporting_roles: list[str]


class SignallingRoles(_Strict):
    signaller_roles: list[str]


# The name under which the register records household matching's own legal basis
# (`further_processing` of the signalling activity): the Jeugdwet gives none.
HOUSEHOLD_MATCHING = "household-matching"


class Matching(_Strict):
    min_partners: int = Field(ge=2)
    # Off unless the register records a legal basis for it (load_rules checks).
    household_matching: bool = False


class Contact(_Strict):
    reminder_after: str
    escalation_after: str


CoordinatorRuleName = Literal["first-signaller", "role-priority", "municipality"]


class Municipality(_Strict):
    name: str
    coordinator: str
    contact: str = ""
    rule: CoordinatorRuleName | None = None


class CoordinatorRules(_Strict):
    default_rule: CoordinatorRuleName
    role_priority: list[str]
    default_municipality: str
    municipalities: dict[str, Municipality]


class AgeBand(_Strict):
    label: str
    inform: list[Literal["parents", "child"]]
    risk_inventory: bool = False


class Informing(_Strict):
    # Coded grounds on which a signaller may postpone telling the parents or the child.
    postpone_grounds: list[str]


class RiskInventoryRules(_Strict):
    age_bands: list[str]
    recorder_roles: list[str]
    risk_factors: dict[str, str]
    plan_due_after: str


class SignallingRules(_Strict):
    """The whole of `rules.yaml`, plus the partner roles from `partners.yaml`."""

    version: str
    lifecycle: Lifecycle
    withdrawal: Withdrawal
    death: Death
    signalling: SignallingRoles
    matching: Matching
    contact: Contact
    coordinator: CoordinatorRules
    age_bands: dict[str, AgeBand]
    informing: Informing
    concern_domains: dict[str, str]
    risk_inventory: RiskInventoryRules
    partner_roles: dict[str, str] = Field(default_factory=dict)
    # The signalling activity's retention in the register (AVG art. 30), one figure: signals
    # and the history of ended ones are kept no longer (load_rules reads it from the register).
    retention: str = "P2Y"

    @model_validator(mode="after")
    def _bands_below_the_age_limit(self) -> SignallingRules:
        """Jeugdwet art. 7.1.1.1: the index is for young people under 23; no age band may
        reach the limit (the backbone checks every signal's band against these)."""
        limit = self.lifecycle.age_limit_years
        for band in self.age_bands:
            low, high = (int(part) for part in band.split("-"))
            if not low <= high < limit:
                raise ValueError(f"age band {band} reaches the age limit of {limit}")
        return self

    # derived periods

    @property
    def max_signal_duration(self) -> Period:
        return Period.parse(self.lifecycle.max_signal_duration)

    @property
    def history_retention(self) -> Period:
        """How long an ended signal's metadata is kept: the register's figure, no other."""
        return Period.parse(self.retention)

    @property
    def reminder_after(self) -> Period:
        return Period.parse(self.contact.reminder_after)

    @property
    def escalation_after(self) -> Period:
        return Period.parse(self.contact.escalation_after)

    @property
    def plan_due_after(self) -> Period:
        return Period.parse(self.risk_inventory.plan_due_after)

    def role_of(self, partner: str) -> str | None:
        return self.partner_roles.get(partner)

    def municipality(self, code: str | None) -> tuple[str, Municipality | None]:
        code = code or self.coordinator.default_municipality
        return code, self.coordinator.municipalities.get(code)

    def municipal_coordinator(self, code: str | None) -> str | None:
        return municipality.coordinator if (municipality := self.municipality(code)[1]) else None

    def choose_coordinator(
        self, signallers: list[Party], code: str | None
    ) -> tuple[Coordinator, str]:
        """The regievoerder of a new match by the municipality's rule (or the default rule).

        `signallers` are in registration order. Falls back to the first signaller when the
        rule cannot apply (no municipality team configured, no role in the priority list).
        """
        _, municipality = self.municipality(code)
        rule = (municipality.rule if municipality else None) or self.coordinator.default_rule
        if rule == "municipality" and municipality is not None:
            contact = municipality.contact or municipality.name
            return Coordinator(municipality.coordinator, contact), rule
        if rule == "role-priority":
            priority = self.coordinator.role_priority
            ranked = [
                (priority.index(role), n, s)
                for n, s in enumerate(signallers)
                if (role := self.role_of(s.partner)) in priority
            ]
            if ranked:
                chosen = min(ranked, key=lambda r: (r[0], r[1]))[2]
                return Coordinator(chosen.partner, chosen.contact), rule
        first = signallers[0]
        return Coordinator(first.partner, first.contact), "first-signaller"


class HouseholdMatchingWithoutBasisError(ValueError):
    """Household matching is switched on without a legal basis recorded in the register."""


def load_rules(
    path: Path = RULES_PATH,
    partners: PartnerRegistry | None = None,
    register: ProcessingRegister | None = None,
) -> SignallingRules:
    """The rules file, with each registered partner's role (who may signal, report a death)
    and the register's retention of signalling data; household matching only where the
    register records its legal basis."""
    raw = yaml.safe_load(path.read_text())
    roles = {e.id: e.role for e in (partners or PartnerRegistry.load()).entries}
    activity = (register or load_register()).activity(Purpose.SIGNALLING)
    rules = SignallingRules.model_validate(
        raw | {"partner_roles": roles, "retention": activity.retention}
    )
    if rules.matching.household_matching and HOUSEHOLD_MATCHING not in activity.further_processing:
        raise HouseholdMatchingWithoutBasisError(
            f"household matching needs its legal basis in the register ({activity.id}: "
            f"further_processing.{HOUSEHOLD_MATCHING}); the Jeugdwet gives none"
        )
    for text in (
        rules.lifecycle.max_signal_duration,
        rules.retention,
        rules.contact.reminder_after,
        rules.contact.escalation_after,
        rules.risk_inventory.plan_due_after,
    ):
        Period.parse(text)  # fail at start, not at the first tick
    return rules

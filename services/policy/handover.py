"""The handover's rules as data: disclosure per category and the protocol's times and duties.

Loaded from `infra/handover/oso-categories.yaml` (category → rule and dossier elements, from the
OSO XSD and XSL) and `infra/handover/rules.yaml` (the ground per transition: consent or
legal duty, the parents' copy; escalation). The domain gets the loaded objects; it never reads
files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.handover import DisclosureRule, Transition
from services.infra import INFRA_DIR

CATEGORIES_PATH = INFRA_DIR / "handover" / "oso-categories.yaml"
RULES_PATH = INFRA_DIR / "handover" / "rules.yaml"

# Stricter rules come later: the stricter of the register's and the dossier's rule applies.
STRICTNESS: dict[str, int] = {"VERPLICHT": 0, "OPT-UIT": 1, "VERBODEN": 2}
TRANSITIONS: frozenset[str] = frozenset(get_args(Transition))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryEntry(_Strict):
    rule: DisclosureRule
    by_transition: dict[Transition, DisclosureRule] = Field(default_factory=dict)
    paths: list[str] = Field(default_factory=list)


class DisclosureRules(_Strict):
    """Category → disclosure rule (per transition) and the OSO elements it covers."""

    version: str
    standard: str
    namespace: str
    categories: dict[str, CategoryEntry]
    overstap: dict[str, Transition]

    def rule(self, category: str, transition: str) -> DisclosureRule:
        """The register's rule for a category in a transition; KeyError when unknown."""
        entry = self.categories[category]
        rule: DisclosureRule = entry.rule
        for name, override in entry.by_transition.items():
            if name == transition:
                rule = override
        return rule

    def effective(self, category: str, transition: str, declared: str | None) -> DisclosureRule:
        """The stricter of the register's rule and the rule the dossier declares."""
        mine = self.rule(category, transition)
        if declared is None:
            return mine
        declared = "OPT-UIT" if declared == "OPTIONEEL" else declared
        if declared not in STRICTNESS:
            return mine
        stricter = max(mine, declared, key=STRICTNESS.__getitem__)
        return stricter  # type: ignore[return-value]


class EscalationStep(_Strict):
    level: int = Field(ge=1)
    after_days: int = Field(ge=0)
    to: Literal["sending-contact", "swv"]


class TransitionBasis(_Strict):
    """On what ground a dossier goes at one transition, and where that ground is written.

    `consent`: no legal duty to hand over, so the parents (or the pupil from 16) consent
    (AVG art. 6 lid 1 sub a). `legal-duty`: the school must hand over (the onderwijskundig
    rapport, WPO art. 42, WEC art. 43); the parents view it and may give their view, but their
    consent is not asked. `parents_copy`: the parents get a copy of what leaves."""

    basis: Literal["consent", "legal-duty"]
    source: str = Field(min_length=1)
    parents_copy: bool = True


class HandoverRules(_Strict):
    version: str
    transitions: dict[Transition, TransitionBasis]
    pupil_consent_age: int
    processing_activity: str
    tick_seconds: float = Field(gt=0)
    escalation: tuple[EscalationStep, ...]

    def basis(self, transition: str) -> TransitionBasis:
        """The ground of a transition; KeyError when the rules do not name it."""
        return self.transitions[transition]  # type: ignore[index]

    def requires_consent(self, transition: str) -> bool:
        return self.basis(transition).basis == "consent"

    def requires_parents_copy(self, transition: str) -> bool:
        return self.basis(transition).parents_copy


def load_disclosure_rules(path: Path = CATEGORIES_PATH) -> DisclosureRules:
    return DisclosureRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_rules(path: Path = RULES_PATH) -> HandoverRules:
    rules = HandoverRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    missing = TRANSITIONS - set(rules.transitions)
    if missing:
        raise ValueError(f"the rules name no basis for {', '.join(sorted(missing))}")
    levels = [step.level for step in rules.escalation]
    if levels != sorted(set(levels)):
        raise ValueError("escalation levels must be unique and ascending")
    return rules

"""The relation rules: which relation with a child opens which of its sealed sections. Pure.

The rules (`infra/relations.yaml`, loaded by `services.policy.loading`) name, per purpose, how
its data keys are scoped and which **basis** of a relation opens what:

- a key is scoped per **writer** (signalling, attendance, identity: one key per writing partner),
  per **record** (a handover, an arrangement, a youth-care decision: the basis id of the
  relation that carries it) or per **child** (the plan);
- a grant opens `own` (only the partner's own scope), `record` (the one record its basis names;
  on a writer-scoped purpose the one writer it names, a verzuimmelding's school) or `child`
  (every scope of the purpose);
- a basis is **self-asserted** when the partner's own event gives it (its signal, its
  enrolment). Such a basis never opens what another partner wrote: the rules may not let it
  open `child`, and on a record it opens only a record the partner established first.

`evaluate` is the decision for one (partner, purpose, scope) over the child's relations: granted,
or refused with a kebab-case code (`no-relation`, `relation-ended`, `scope-not-permitted`).
Relations that ended stay open during the basis's `grace` (a handover completed).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from ketenbus_contracts.purposes import Purpose

SELF = "self"
CHILD_SCOPE = "child"

AccessCode = Literal["no-relation", "relation-ended", "scope-not-permitted"]


class PolicyError(Exception):
    """The relation rules refused or are inconsistent."""


class InvalidRelationRulesError(PolicyError):
    """The relation rules are inconsistent (an unknown basis, a self basis opening others')."""


class ScopeKind(StrEnum):
    """How a purpose's data keys are scoped."""

    WRITER = "writer"  # one key per writing partner (scope = its partner id)
    RECORD = "record"  # one key per record (scope = the relation's basis id)
    CHILD = "child"  # one key for the child (scope = "child")


class Opens(StrEnum):
    """What a basis opens of a purpose."""

    OWN = "own"
    RECORD = "record"
    CHILD = "child"


@dataclass(frozen=True)
class BasisRule:
    """A kind of relation: who establishes it, which events start and end it, its grace."""

    kind: str
    name: str
    established_by: tuple[str, ...]
    started_by: tuple[str, ...]
    ended_by: tuple[str, ...]
    ends: str
    grace: str | None = None  # ISO 8601 PnYnMnD after its end during which it still opens
    needs_consent: tuple[str, ...] = ()  # establishers whose record holds only with consent

    @property
    def self_asserted(self) -> bool:
        return self.established_by == (SELF,)

    def may_establish(self, role: str) -> bool:
        """May a partner of `role` establish this basis for another partner?"""
        return not self.self_asserted and role in self.established_by

    def establishers(self) -> str:
        """Who establishes it, in words for the table (`school (+ consent)`)."""
        return ", ".join(
            f"{who} (+ consent)" if who in self.needs_consent else who
            for who in self.established_by
        )


@dataclass(frozen=True)
class Grant:
    basis: str
    opens: Opens


@dataclass(frozen=True)
class PurposeRule:
    purpose: Purpose
    scope: ScopeKind
    grants: tuple[Grant, ...]

    def grant_for(self, basis: str) -> Grant | None:
        return next((g for g in self.grants if g.basis == basis), None)


class RelationFact(Protocol):
    """What the evaluation needs of one relation (kluis's `Relation` has these)."""

    @property
    def partner(self) -> str: ...
    @property
    def basis(self) -> str: ...
    @property
    def basis_id(self) -> str: ...
    @property
    def since(self) -> datetime: ...
    @property
    def active(self) -> bool: ...
    @property
    def ended(self) -> datetime | None: ...
    @property
    def until(self) -> datetime | None: ...


@dataclass(frozen=True)
class Access:
    """The outcome of `evaluate`: granted on `basis`, or refused with `code`."""

    granted: bool
    code: AccessCode | None = None
    reason: str = ""
    basis: str | None = None


@dataclass(frozen=True)
class RelationRules:
    version: str
    bases: Mapping[str, BasisRule]
    purposes: Mapping[Purpose, PurposeRule]

    def __post_init__(self) -> None:
        missing = set(Purpose) - set(self.purposes)
        if missing:
            raise InvalidRelationRulesError(
                f"relation rules {self.version} have no rule for {sorted(p.value for p in missing)}"
            )
        for rule in self.purposes.values():
            for grant in rule.grants:
                self._check_grant(rule, grant)
        for basis in self.bases.values():
            if not set(basis.needs_consent) <= set(basis.established_by):
                raise InvalidRelationRulesError(
                    f"{basis.kind}: needs_consent names who does not establish it"
                )

    def _check_grant(self, rule: PurposeRule, grant: Grant) -> None:
        where = f"{rule.purpose.value}/{grant.basis}"
        basis = self.bases.get(grant.basis)
        if basis is None:
            raise InvalidRelationRulesError(f"{where}: no basis {grant.basis!r}")
        allowed = {
            # A record on a writer-scoped purpose is the one writer the basis names.
            ScopeKind.WRITER: {Opens.OWN, Opens.RECORD, Opens.CHILD},
            ScopeKind.RECORD: {Opens.RECORD, Opens.CHILD},
            ScopeKind.CHILD: {Opens.CHILD},
        }[rule.scope]
        if grant.opens not in allowed:
            raise InvalidRelationRulesError(
                f"{where}: a {rule.scope.value}-scoped purpose cannot open {grant.opens.value}"
            )
        if basis.self_asserted and grant.opens is Opens.CHILD:
            raise InvalidRelationRulesError(
                f"{where}: a self-asserted basis never opens what another partner wrote"
            )

    def purpose(self, purpose: Purpose) -> PurposeRule:
        return self.purposes[purpose]

    def scope_kind(self, purpose: Purpose) -> ScopeKind:
        return self.purposes[purpose].scope

    def granting_bases(self, purpose: Purpose) -> frozenset[str]:
        return frozenset(g.basis for g in self.purposes[purpose].grants)

    def may_write(self, *, partner: str, purpose: Purpose, scope: str) -> bool:
        """May `partner` have a section sealed under `scope`? Its own scope for a writer-scoped
        purpose, `child` for a child-scoped one, any record for a record-scoped one."""
        kind = self.purposes[purpose].scope
        if kind is ScopeKind.WRITER:
            return scope == partner
        if kind is ScopeKind.CHILD:
            return scope == CHILD_SCOPE
        return scope not in ("", CHILD_SCOPE)

    def writing_scope(self, purpose: Purpose, partner: str) -> str | None:
        """The scope `partner` writes a purpose under when it is not a record: None for
        record-scoped purposes (the writer names the record)."""
        kind = self.purposes[purpose].scope
        if kind is ScopeKind.WRITER:
            return partner
        if kind is ScopeKind.CHILD:
            return CHILD_SCOPE
        return None

    def ends_at(self, relation: RelationFact) -> datetime | None:
        """When the relation stops opening anything: its end (by an event, or by the end date it
        came with) plus its basis's grace; None while it lasts."""
        ends = [relation.until] if relation.until is not None else []
        if not relation.active:
            # An end the event did not date is taken as long past.
            ends.append(relation.ended or datetime.min.replace(tzinfo=relation.since.tzinfo))
        if not ends:
            return None
        end = min(ends)
        basis = self.bases.get(relation.basis)
        if basis is None or basis.grace is None:
            return end
        return add_period(end, basis.grace)

    def active_at(self, relation: RelationFact, now: datetime) -> bool:
        """Active, or ended less than its basis's grace ago."""
        ends = self.ends_at(relation)
        return ends is None or now < ends

    def opening(
        self, relations: Iterable[RelationFact], *, purpose: Purpose, scope: str
    ) -> list[RelationFact]:
        """The relations (of any partner, active or not) whose basis opens this scope."""
        rule = self.purposes[purpose]
        facts = list(relations)
        return [
            r
            for r in facts
            if (g := rule.grant_for(r.basis)) is not None
            and self._covers(rule, g, r, scope, r.partner, facts)
        ]

    def evaluate(
        self,
        relations: Iterable[RelationFact],
        *,
        partner: str,
        purpose: Purpose,
        scope: str,
        now: datetime,
    ) -> Access:
        """May `partner` hold the key of (purpose, scope) of this child, by its relations?"""
        rule = self.purposes[purpose]
        all_relations = list(relations)
        mine = [r for r in all_relations if r.partner == partner]
        granting = [(r, g) for r in mine if (g := rule.grant_for(r.basis)) is not None]
        if not granting:
            return Access(False, "no-relation", f"no relation that grants {purpose.value}")
        covering = [
            r for r, g in granting if self._covers(rule, g, r, scope, partner, all_relations)
        ]
        for relation in covering:
            if self.active_at(relation, now):
                return Access(True, None, f"granted on {relation.basis}", relation.basis)
        if covering:
            return Access(False, "relation-ended", f"the {purpose.value} relation ended")
        if any(self.active_at(r, now) for r, _ in granting):
            return Access(
                False, "scope-not-permitted", f"the relation does not open this {purpose.value}"
            )
        return Access(False, "relation-ended", f"the {purpose.value} relation ended")

    def _covers(
        self,
        rule: PurposeRule,
        grant: Grant,
        relation: RelationFact,
        scope: str,
        partner: str,
        relations: list[RelationFact],
    ) -> bool:
        if grant.opens is Opens.CHILD:
            return True
        if grant.opens is Opens.OWN:
            return scope == partner
        if relation.basis_id != scope:
            return False
        if not self.bases[relation.basis].self_asserted:
            return True
        # A self-asserted record is the partner's own only when nobody established it earlier.
        first = min(
            (r for r in relations if r.basis == relation.basis and r.basis_id == scope),
            key=lambda r: r.since,
        )
        return first.partner == partner


# ---------------------------------------------------------------------------------------------
# periods

PERIOD = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?")


def add_period(start: datetime, period: str) -> datetime:
    """`start` plus an ISO 8601 period of years, months and days (`P2Y`, `P6M`, `P5Y6M10D`)."""
    found = PERIOD.fullmatch(period)
    if found is None or period == "P":
        raise PolicyError(f"period {period!r} is not PnYnMnD")
    years, months, days = (int(part or 0) for part in found.groups())
    month_index = start.month - 1 + months
    year = start.year + years + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day) + timedelta(days=days)


# ---------------------------------------------------------------------------------------------
# the README's privacy table


def privacy_table(rules: RelationRules) -> str:
    """The table purpose x basis x who establishes it x what opens x what ends it (Markdown)."""
    lines = [
        "| purpose | key scope | basis | established by | opens | ends |",
        "|---|---|---|---|---|---|",
    ]
    for purpose in Purpose:
        rule = rules.purposes[purpose]
        for grant in rule.grants:
            basis = rules.bases[grant.basis]
            ends = basis.ends + (f" (+{basis.grace})" if basis.grace else "")
            lines.append(
                f"| {purpose.value} | {rule.scope.value} | {basis.kind} "
                f"| {basis.establishers()} | {grant.opens.value} | {ends} |"
            )
    return "\n".join(lines) + "\n"

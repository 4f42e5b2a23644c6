"""kluis's rules: who may hold which purpose's key for which child. No I/O here.

- The **processing register** names, per purpose, the processing activity, its legal basis,
  retention, and the roles that may hold its key (`holder_roles`), may have kluis seal a section
  for them without a relation (`writer_roles`: providing data is not reading it), and may re-bind
  a section to another event without opening it (`relay_roles`, for backbone services).
- A **relation** between a partner and a child comes from events: a signal registered (ended
  when withdrawn), later enrolment, handover, arrangement or plan-party events.
- Keys are per (child, purpose, scope). A key is released when the requester's role may hold
  the purpose **and** one of its relations with the child opens that scope by the relation
  rules (`infra/relations.yaml`, `services.policy.relations`), and never for an erased child.
- Every decision is a **processing record** in the shape of the Logboek Dataverwerkingen
  (trace id, span id, processing activity, data subject, requester, purpose, decision, time).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from ketenbus_contracts.sealing import RefusalCode

# Processing records are shared with the pseudonym service (services/ldv.py); kluis's names stay.
from services.ldv import Decision as Decision
from services.ldv import ProcessingRecord as ProcessingRecord
from services.policy.relations import RelationFact, RelationRules, add_period
from services.runtime.aggregate import PerChild

NAMESPACE = uuid.UUID("8a0e6d1c-4b7f-4f3e-9b1a-6b6c75697300")


class KluisError(Exception):
    """A rule of kluis refused the command."""


class UnknownPartnerError(KluisError):
    """No partner with this id is registered."""


class UnknownRelationError(KluisError):
    """The relation to end was never added (or was ended before)."""


class Operation(StrEnum):
    """What a requester asks of kluis."""

    RELEASE = "release"  # the data key, to seal and open
    SEAL = "seal"  # kluis seals a section for the requester
    RESEAL = "reseal"  # kluis re-binds a section to another event
    DESTROY = "destroy"  # kluis destroys a scope's keys (retention ran out; no requester)


# ---------------------------------------------------------------------------------------------
# the processing register


@dataclass(frozen=True)
class Partner:
    """A registered partner (organisation or backbone service) and its role."""

    id: str
    name: str
    role: str
    organisation_codes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    activity_id: str
    code: RefusalCode | None = None
    reason: str = ""

    @property
    def released(self) -> bool:
        return self.decision is Decision.RELEASED


def decide(
    register: ProcessingRegister,
    rules: RelationRules,
    *,
    operation: Operation,
    partner: str,
    role: str,
    purpose: Purpose,
    scope: str,
    relations: Iterable[RelationFact],
    erased: bool,
    now: datetime,
) -> Verdict:
    """The decision on one request for (purpose, scope); the reason never names the child.

    A release needs the role (register) and a relation whose basis opens this scope (relation
    rules). A seal needs a writer role, and writes only under a scope the writer may write: its
    own for a writer-scoped purpose, `child` for a child-scoped one, any record otherwise
    (writing into a record reveals nothing of it). A reseal needs a relay role.
    """
    activity = register.activity(purpose)

    def refuse(code: RefusalCode, reason: str) -> Verdict:
        return Verdict(Decision.REFUSED, activity.id, code, reason)

    if erased:
        return refuse("child-erased", "the child's keys were erased")
    if operation is Operation.RELEASE:
        if role not in activity.holder_roles:
            return refuse("role-not-permitted", f"role {role} may not hold {purpose.value} keys")
        # A role may hold a purpose through some bases only (the register's holder_bases).
        held = [
            r for r in relations if r.partner != partner or activity.holds_through(role, r.basis)
        ]
        access = rules.evaluate(held, partner=partner, purpose=purpose, scope=scope, now=now)
        if not access.granted:
            return refuse(access.code or "no-relation", access.reason)
    elif operation is Operation.SEAL:
        if role not in activity.writer_roles:
            return refuse("role-not-permitted", f"role {role} may not provide {purpose.value}")
        if not rules.may_write(partner=partner, purpose=purpose, scope=scope):
            return refuse("scope-not-permitted", f"{partner} may not write this {purpose.value}")
    elif role not in activity.relay_roles:
        return refuse("role-not-permitted", f"role {role} may not relay {purpose.value}")
    return Verdict(Decision.RELEASED, activity.id, None, f"{operation.value} permitted")


# ---------------------------------------------------------------------------------------------
# relations, derived from events


@dataclass
class Relation:
    partner: str
    basis: str  # a basis kind of infra/relations.yaml (signal, enrolment, handover-sender, ...)
    basis_id: str
    since: datetime
    active: bool = True
    ended: datetime | None = None
    until: datetime | None = None  # the basis ends by itself then (an arrangement's end date)


class ChildRelations(PerChild):
    """The partners with a relation to one child (by pseudonym), and on what basis."""

    namespace, kind = NAMESPACE, "child-relations"

    def opened(self) -> None:
        self.relations: dict[str, Relation] = {}
        self.expired_purposes: list[str] = []

    @staticmethod
    def relation_key(partner: str, basis: str, basis_id: str) -> str:
        return f"{partner}|{basis}|{basis_id}"

    def add(
        self,
        partner: str,
        basis: str,
        basis_id: str,
        since: datetime,
        until: datetime | None = None,
    ) -> bool:
        """Add a relation (ending by itself at `until`, if given); False when it is already
        active with the same end (nothing recorded)."""
        existing = self.relations.get(self.relation_key(partner, basis, basis_id))
        if existing is not None and existing.active and existing.until == until:
            return False
        self._added(partner=partner, basis=basis, basis_id=basis_id, since=since, until=until)
        return True

    def end(self, partner: str, basis: str, basis_id: str, ended: datetime) -> None:
        existing = self.relations.get(self.relation_key(partner, basis, basis_id))
        if existing is None or not existing.active:
            raise UnknownRelationError(f"no active {basis} relation {basis_id} for {partner}")
        self._ended(partner=partner, basis=basis, basis_id=basis_id, ended=ended)

    def end_basis(self, basis: str, basis_id: str, ended: datetime) -> list[str]:
        """End every active relation on this basis (e.g. a withdrawn signal); its partners."""
        ended_for: list[str] = []
        for relation in list(self.relations.values()):
            if relation.active and (relation.basis, relation.basis_id) == (basis, basis_id):
                self._ended(partner=relation.partner, basis=basis, basis_id=basis_id, ended=ended)
                ended_for.append(relation.partner)
        return ended_for

    def has_active_on(self, partner: str, basis: str, basis_id: str) -> bool:
        existing = self.relations.get(self.relation_key(partner, basis, basis_id))
        return existing is not None and existing.active

    def has_active(self, partner: str) -> bool:
        return any(r.active and r.partner == partner for r in self.relations.values())

    @property
    def active_partners(self) -> frozenset[str]:
        return frozenset(r.partner for r in self.relations.values() if r.active)

    @property
    def last_ended(self) -> datetime | None:
        """When the last relation ended, if none is active any more (retention runs from it)."""
        if not self.relations or self.active_partners:
            return None
        return max((r.ended for r in self.relations.values() if r.ended), default=None)

    def expire(self, purposes: list[Purpose], at: datetime, *, erased: bool) -> None:
        """Record that retention ended for these purposes (their keys are being destroyed);
        `erased` when nothing of the child is left."""
        if purposes:
            self._expired(
                child=self.child, purposes=[p.value for p in purposes], at=at, erased=erased
            )

    @event("RelationAdded")
    def _added(
        self,
        partner: str,
        basis: str,
        basis_id: str,
        since: datetime,
        until: datetime | None = None,
    ) -> None:
        key = self.relation_key(partner, basis, basis_id)
        self.relations[key] = Relation(partner, basis, basis_id, since, until=until)

    @event("RelationEnded")
    def _ended(self, partner: str, basis: str, basis_id: str, ended: datetime) -> None:
        relation = self.relations[self.relation_key(partner, basis, basis_id)]
        relation.active = False
        relation.ended = ended

    class RetentionExpired(Aggregate.Event):
        child: str
        purposes: list[str]
        at: datetime
        erased: bool

    @event(RetentionExpired)
    def _expired(self, child: str, purposes: list[str], at: datetime, erased: bool) -> None:
        self.expired_purposes = [*self.expired_purposes, *purposes]


def retention_end(start: datetime, retention: str) -> datetime:
    """`start` plus an ISO 8601 period of years, months and days (`P2Y`, `P6M`, `P5Y6M10D`)."""
    return add_period(start, retention)


def scope_retention_start(
    relations: ChildRelations,
    rules: RelationRules,
    *,
    purpose: Purpose,
    scope: str,
    now: datetime,
) -> datetime | None:
    """When the retention period of one scope's keys runs from; None while it may be opened.

    From the end of the last relation that opened the scope (by the relation rules, grace
    included). A scope no relation ever opened (sealed by kluis for a writer that never got a
    relation) runs from the end of the child's last relation with anyone.
    """
    facts = list(relations.relations.values())
    opening = rules.opening(facts, purpose=purpose, scope=scope)
    if not opening:
        return relations.last_ended
    if any(rules.active_at(r, now) for r in opening):
        return None
    return max(rules.ends_at(r) or now for r in opening)


def expired_purposes(
    relations: ChildRelations, register: ProcessingRegister, now: datetime
) -> list[Purpose]:
    """The purposes whose retention has run out for this child.

    Retention runs from the end of the child's last relation with any partner: while a partner
    still has business with the child, nothing expires.
    """
    last = relations.last_ended
    if last is None:
        return []
    return [
        purpose
        for purpose, activity in register.activities.items()
        if retention_end(last, activity.retention) <= now
    ]

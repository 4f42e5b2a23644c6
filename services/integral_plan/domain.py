"""The integral plan of one child: its parties, regie, goals, agreements and actions.

The plan is itself event-sourced, so it can be rebuilt from the streams and audited. It holds
the plan's own decisions and what its rules need to know, as values; what other domains
recorded (signals, matches, handovers, arrangements, attendance) and the timeline are the
plan's views (`services.integral_plan.views`), projected beside it in the same transaction.
Sealed sections stay sealed, with the id of the event they are bound to, and are opened by
each reader with the reader's own keys: the plan never holds plaintext about a child.

Two kinds of change: what the plan's parties publish about the plan itself (a party joins,
regie, goals, agreements, actions: commands, checked against the plan's rules, recorded as the
nested events below and published on `ketenbus.plan.*`), and what another domain's event tells
the plan's rules: an organisation that takes part through it (the event gives it a relation
with the child in kluis) joins the plan as a party, with that relation as its basis, and the
arrangements domain's regie holds on the plan; never refused. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from ketenbus_contracts.envelope import EventData
from ketenbus_contracts.plan import (
    PUPIL_FROM_AGE,
    ActionAgreedData,
    ActionDoneData,
    AgreementMadeData,
    GoalSetData,
    ObjectionDecidedData,
    ObjectionRecordedData,
    ParentLinkedData,
    ParentUnlinkedData,
    PartyJoinedData,
    PartyLeftData,
    RegieAssignedData,
)

NAMESPACE = uuid.UUID("9d7e0c55-61b3-4f5a-a8a4-706c616e2121")

# A parent's account's role in the partner registry, and the pupil's own account's.
PARENT = "parent"
PUPIL = "pupil"
OWN_ACCOUNTS = (PARENT, PUPIL)
# The basis of a party admitted to the plan itself (kluis's `plan-party` relation).
PLAN_PARTY = "plan-party"
# The bases a party known through another domain gains on the plan itself: `plan` when it acts
# on the plan beyond its signal; `signal` and `enrolment` are other domains' relations.
ACTED, SIGNAL, ENROLMENT = "plan", "signal", "enrolment"


class PlanError(Exception):
    """A rule of the plan refused the change."""


class NotAPartyError(PlanError):
    """Only a party to the plan may change it, and only parties may act or be reported to."""


class AlreadyOnPlanError(PlanError):
    """A goal, agreement, action or party with this id is already on the plan."""


class UnknownActionError(PlanError):
    """No action with this id is on the plan."""


class NotTheActorError(PlanError):
    """Only the party that does the action reports it done."""


class ActionClosedError(PlanError):
    """The action was already reported done."""


class InvalidDueDateError(PlanError):
    """An action is due on or after the day it was agreed."""


class NotARecorderError(PlanError):
    """Only whom the relation rules name (a school, the municipality) records a parent's link,
    in its own name, and never a parent about itself."""


class ParentConsentMissingError(PlanError):
    """The rules ask the parent's consent for a link this recorder makes: none was recorded."""


class UnknownParentLinkError(PlanError):
    """No current parent link with this id is on the plan."""


class NotALinkedParentError(PlanError):
    """Only a parent's own account (or the pupil's own), linked to the child by a school or the
    municipality, records an objection for the child."""


class PupilTooYoungError(PlanError):
    """A pupil's own account is linked to their record from 16 only: the recorder states the
    pupil's age band on the day of the link (`pupil_age_band`), never the birth date."""


class UnknownObjectionError(PlanError):
    """No objection with this id (of this parent) is on the plan."""


class NotResponsibleError(PlanError):
    """Only the organisation objected to decides on the objection, in its own name."""


class ObjectionDecidedError(PlanError):
    """The objection was decided before."""


@dataclass(frozen=True)
class RecorderRule:
    """Who may record a basis for another (roles), and whose record needs consent with it."""

    roles: frozenset[str]
    needs_consent: frozenset[str]


@dataclass(frozen=True)
class ParentLink:
    """A parent's account linked to the child by a school or the municipality."""

    parent: str
    active: bool = True
    recorded_by: str = ""
    linked_on: date | None = None


@dataclass(frozen=True)
class Objection:
    """A linked parent's objection (AVG art. 21) against `partner` processing for `purpose`,
    and that organisation's decision once it made it."""

    objection_id: uuid.UUID
    parent: str
    partner: str
    purpose: str
    recorded_on: date
    decision: str | None = None
    decided_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.decision is None


@dataclass(frozen=True)
class PlanParty:
    """An organisation on the plan. `bases`: the relations it takes part by, when it came
    through another domain's event (None: admitted to the plan itself, nothing else); a set,
    kept sorted, so the order the domains' streams were read in does not show."""

    partner: str
    role: str
    contact: str
    since: date
    active: bool = True
    bases: tuple[str, ...] | None = None
    left_on: date | None = None  # the day it left (it took part no longer): shown as ended

    @property
    def admitted(self) -> bool:
        """Admitted to the plan itself (it joined, or was added by a party), not known only
        through another domain's event (its signal, enrolment, …)."""
        return self.active and (self.bases is None or PLAN_PARTY in self.bases)

    @property
    def by_signal_alone(self) -> bool:
        return self.bases == (SIGNAL,)

    def with_basis(self, basis: str) -> PlanParty:
        if self.bases is None or basis in self.bases:
            return self
        return replace(self, bases=tuple(sorted({*self.bases, basis})))


@dataclass(frozen=True)
class Regie:
    domain: str
    regisseur: str
    since: date


@dataclass(frozen=True, kw_only=True)
class Sealed:
    """Sections sealed in the event that carried them, bound to its id (an action's report)."""

    event_id: uuid.UUID
    sealed: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Decision(Sealed):
    """What a party put on the plan, with what it sealed there."""

    by: str


@dataclass(frozen=True)
class Goal(Decision):
    goal_id: uuid.UUID
    domain: str
    set_on: date
    target_on: date | None


@dataclass(frozen=True)
class Agreement(Decision):
    agreement_id: uuid.UUID
    parties: tuple[str, ...]
    made_on: date


@dataclass(frozen=True)
class Action(Decision):
    """X (`actor`) does Y (sealed) and reports back to B (`reports_to`) by `due_on`."""

    action_id: uuid.UUID
    actor: str
    reports_to: str
    due_on: date
    agreed_on: date
    goal_id: uuid.UUID | None
    done_on: date | None = None
    report: Sealed | None = field(default=None)

    @property
    def is_open(self) -> bool:
        return self.done_on is None


@dataclass(frozen=True)
class Act:
    """A party acting on the plan: the publishing partner and its registered role, its event's
    id and sealed sections (bound to that id), who may record a parent's link, and the role of
    the account a link names (a parent's or the pupil's own)."""

    source: str
    role: str | None
    event_id: uuid.UUID
    sealed: dict[str, str]
    recorders: RecorderRule
    linked_role: str | None = None  # a parent link's account's registered role


# Kept with every event, not part of its recorded facts.
_META = frozenset({"originator_id", "originator_version", "timestamp"})


class PlanEvent(Aggregate.Event):
    """One of the plan's own events: its facts are the contract's data and the partner's event
    id (its sealed sections are bound to it); a `Decided` one says who acted (`by`), a
    `SealedDecision` what it sealed."""

    child: str
    event_id: uuid.UUID

    def apply(self, aggregate: Any) -> None:
        self.change(aggregate)

    def change(self, plan: Plan) -> None:
        """How the fact changes the plan's state (on replay too)."""


class Decided(PlanEvent):
    by: str

    def apply(self, aggregate: Any) -> None:
        aggregate._acted(self.by)
        self.change(aggregate)


class SealedDecision(Decided):
    sealed: dict[str, str]

    def decision(self) -> dict[str, Any]:
        """The facts a goal, agreement or action keeps (its sealed sections copied)."""
        facts = {k: v for k, v in vars(self).items() if k not in _META and k != "child"}
        return facts | {"sealed": dict(self.sealed)}


class Plan(Aggregate):
    # The plan's own events, declared so the outbound translation can rely on their fields.

    class PartyJoined(Decided):
        party: dict[str, str]
        joined_on: date

        def change(self, plan: Plan) -> None:
            party, current = self.party, plan.parties.get(self.party["partner"])
            role, contact = party.get("role", ""), party.get("contact", "")
            joined = PlanParty(party["partner"], role, contact, self.joined_on)
            if current is not None and current.active and current.bases is not None:
                # Known through another domain (a signal, an enrolment): now admitted as well,
                # so it stays when those bases end.
                joined = replace(current.with_basis(PLAN_PARTY), role=role, contact=contact)
            plan.parties[joined.partner] = joined

    class PartyLeft(Decided):
        partner: str
        left_on: date

        def change(self, plan: Plan) -> None:
            plan._leaves(self.partner, self.left_on)

    class RegieAssigned(Decided):
        domain: str
        regisseur: str
        assigned_on: date

        def change(self, plan: Plan) -> None:
            plan.regie[self.domain] = Regie(self.domain, self.regisseur, self.assigned_on)

    class GoalSet(SealedDecision):
        goal_id: uuid.UUID
        domain: str
        set_on: date
        target_on: date | None

        def change(self, plan: Plan) -> None:
            plan.goals[self.goal_id] = Goal(**self.decision())

    class AgreementMade(SealedDecision):
        agreement_id: uuid.UUID
        parties: list[str]
        made_on: date

        def change(self, plan: Plan) -> None:
            made = self.decision() | {"parties": tuple(self.parties)}
            plan.agreements[self.agreement_id] = Agreement(**made)

    class ActionAgreed(SealedDecision):
        action_id: uuid.UUID
        actor: str
        reports_to: str
        due_on: date
        agreed_on: date
        goal_id: uuid.UUID | None

        def change(self, plan: Plan) -> None:
            plan.actions[self.action_id] = Action(**self.decision())

    class ActionDone(SealedDecision):
        action_id: uuid.UUID
        done_on: date

        def change(self, plan: Plan) -> None:
            report = Sealed(event_id=self.event_id, sealed=dict(self.sealed))
            done = replace(plan.actions[self.action_id], done_on=self.done_on, report=report)
            plan.actions[self.action_id] = done

    class ParentLinked(PlanEvent):
        link_id: uuid.UUID
        parent: str
        recorded_by: str
        linked_on: date
        consent_on: date | None
        pupil_age_band: str | None = None  # a pupil's own account's (recorded since then)

        def change(self, plan: Plan) -> None:
            plan.parent_links[self.link_id] = ParentLink(
                self.parent, recorded_by=self.recorded_by, linked_on=self.linked_on
            )

    class ParentUnlinked(PlanEvent):
        link_id: uuid.UUID
        parent: str
        recorded_by: str
        unlinked_on: date

        def change(self, plan: Plan) -> None:
            link = plan.parent_links.get(self.link_id) or ParentLink(self.parent)
            plan.parent_links[self.link_id] = replace(link, active=False)

    class ObjectionRecorded(PlanEvent):
        objection_id: uuid.UUID
        parent: str
        partner: str
        purpose: str
        recorded_on: date

        def change(self, plan: Plan) -> None:
            plan.objections[self.objection_id] = Objection(
                self.objection_id, self.parent, self.partner, self.purpose, self.recorded_on
            )

    class ObjectionDecided(Decided):
        objection_id: uuid.UUID
        decided_by: str
        partner: str
        decision: str
        decided_on: date

        def change(self, plan: Plan) -> None:
            objection = plan.objections[self.objection_id]
            decided = replace(objection, decision=self.decision, decided_on=self.decided_on)
            plan.objections[self.objection_id] = decided

    @staticmethod
    def create_id(child: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"plan/{child}")

    @event("Started")
    def __init__(self, child: str) -> None:
        self.child = child
        self.parties: dict[str, PlanParty] = {}
        self.regie: dict[str, Regie] = {}
        self.goals: dict[uuid.UUID, Goal] = {}
        self.agreements: dict[uuid.UUID, Agreement] = {}
        self.actions: dict[uuid.UUID, Action] = {}
        self.parent_links: dict[uuid.UUID, ParentLink] = {}
        self.objections: dict[uuid.UUID, Objection] = {}

    # rules

    def is_party(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.active

    def is_admitted(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.admitted

    def linked_parents(self) -> frozenset[str]:
        """The parents' accounts currently linked to the child."""
        return frozenset(link.parent for link in self.parent_links.values() if link.active)

    def links_of(self, parent: str) -> list[ParentLink]:
        """The parent's current links to the child (who recorded each, and when)."""
        links = self.parent_links.values()
        return [link for link in links if link.active and link.parent == parent]

    def _require_party(self, partner: str, what: str) -> None:
        if not self.is_party(partner):
            raise NotAPartyError(f"{partner} is not a party to this plan ({what})")

    def open_actions(self) -> Iterator[Action]:
        return (a for a in self.actions.values() if a.is_open)

    def _record(self, kind: type[PlanEvent], d: EventData, act: Act, **values: Any) -> None:
        """Record a party's decision: the contract's data as it is, who acted and the partner's
        event (its id, its sealed sections); `values`: what the rules decided instead."""
        names = {f.name for f in fields(kind)} - _META
        own = {"child": self.child, "by": act.source, "event_id": act.event_id}
        facts = own | d.model_dump(exclude={"sealed"}) | {"sealed": act.sealed} | values
        self.trigger_event(kind, **{k: v for k, v in facts.items() if k in names})

    # commands (a party changes the plan): the contract's data as it is, and who acts

    def join(self, d: PartyJoinedData, act: Act) -> None:
        """A party joins: added by a party, or the first party starting the plan itself."""
        partner = d.party.partner
        if self.is_admitted(partner):
            raise AlreadyOnPlanError(f"{partner} is already a party")
        if any(p.active for p in self.parties.values()) or act.source != partner:
            self._require_party(act.source, "adding a party")
        self._record(self.PartyJoined, d, act)

    def leave(self, d: PartyLeftData, act: Act) -> None:
        self._require_party(act.source, "removing a party")
        self._require_party(d.partner, "leaving")
        self._record(self.PartyLeft, d, act)

    def assign_regie(self, d: RegieAssignedData, act: Act) -> None:
        self._require_party(act.source, "assigning regie")
        self._require_party(d.regisseur, "holding regie")
        self._record(self.RegieAssigned, d, act)

    def set_goal(self, d: GoalSetData, act: Act) -> None:
        self._require_party(act.source, "setting a goal")
        if d.goal_id in self.goals:
            raise AlreadyOnPlanError(f"goal {d.goal_id} is already on the plan")
        self._record(self.GoalSet, d, act)

    def make_agreement(self, d: AgreementMadeData, act: Act) -> None:
        self._require_party(act.source, "making an agreement")
        for partner in d.parties:
            self._require_party(partner, "agreeing")
        if d.agreement_id in self.agreements:
            raise AlreadyOnPlanError(f"agreement {d.agreement_id} is already on the plan")
        self._record(self.AgreementMade, d, act, parties=sorted(set(d.parties)))

    def agree_action(self, d: ActionAgreedData, act: Act) -> None:
        """X (`actor`) does Y (sealed) and reports back to B (`reports_to`) by `due_on`."""
        self._require_party(act.source, "agreeing an action")
        self._require_party(d.actor, "doing an action")
        self._require_party(d.reports_to, "being reported to")
        if d.action_id in self.actions:
            raise AlreadyOnPlanError(f"action {d.action_id} is already on the plan")
        if d.due_on < d.agreed_on:
            raise InvalidDueDateError("an action is due on or after the day it was agreed")
        self._record(self.ActionAgreed, d, act)

    def complete_action(self, d: ActionDoneData, act: Act) -> None:
        action = self.actions.get(d.action_id)
        if action is None:
            raise UnknownActionError(f"action {d.action_id} is not on the plan")
        if action.actor != act.source:
            raise NotTheActorError(f"{act.source} does not do action {d.action_id}")
        if not action.is_open:
            raise ActionClosedError(f"action {d.action_id} was already reported done")
        self._record(self.ActionDone, d, act)

    # a parent's objection (AVG art. 21), decided by the organisation objected to

    def record_objection(self, d: ObjectionRecordedData, act: Act) -> None:
        """A linked parent's own account (or the pupil's own) objects to a party's processing
        for a purpose."""
        linked = d.parent in self.linked_parents()
        if act.role not in OWN_ACCOUNTS or act.source != d.parent or not linked:
            raise NotALinkedParentError(f"{act.source} is not a parent linked to the child")
        self._require_party(d.partner, "being objected to")
        if d.objection_id in self.objections:
            raise AlreadyOnPlanError(f"objection {d.objection_id} is already recorded")
        self._record(self.ObjectionRecorded, d, act)

    def decide_objection(self, d: ObjectionDecidedData, act: Act) -> None:
        """The organisation objected to decides, and tells the parent who objected."""
        objection = self.objections.get(d.objection_id)
        if objection is None or objection.parent != d.partner:
            raise UnknownObjectionError(f"no objection {d.objection_id} of {d.partner}")
        if act.source != objection.partner or d.decided_by != act.source:
            raise NotResponsibleError(f"{act.source} may not decide this objection")
        if not objection.is_open:
            raise ObjectionDecidedError(f"objection {d.objection_id} was decided before")
        self._record(self.ObjectionDecided, d, act)

    # what other domains' events tell the plan's rules (never refused; recorded only when
    # they change something)

    def involve_signaller(self, signaller: Mapping[str, str], on: date) -> None:
        """A signaller takes part by its signal, shown to no other partner
        (`signalling_seen_by`) until another basis joins it."""
        if signaller["partner"] not in self.parties:
            self._signaller_involved(signaller=_contact(signaller), on=on)

    def involve(self, parties: Iterable[Mapping[str, str]], on: date) -> None:
        """Organisations with a relation through another domain's event join (or rejoin), or
        gain that relation as a basis."""
        changing = [dict(p) for p in parties if self._would_change(p)]
        if changing:
            self._parties_involved(parties=changing, on=on)

    def end_basis(self, partner: str, basis: str, on: date) -> None:
        """A relation a party took part by ended (a de-enrolment): it leaves with the last."""
        party = self.parties.get(partner)
        if party is not None and basis in (party.bases or ()):
            self._basis_ended(partner=partner, basis=basis, on=on)

    def record_regie(self, domain: str, regisseur: str, since: date) -> bool:
        """Regie from the arrangements domain: the latest recorded regie on a domain wins.
        Whether the holder changed (a later OPP of the same IB'er is no change of regie)."""
        before = self.regie.get(domain)
        if before != Regie(domain, regisseur, since):
            self._regie_recorded(domain=domain, regisseur=regisseur, since=since)
        return before is None or before.regisseur != regisseur

    # parents, linked by a school or the municipality (not shown on the plan: the parent's
    # account is for kluis and the parent's own view)

    def link_parent(self, d: ParentLinkedData, act: Act) -> None:
        """A school or the municipality links a parent's account to the child."""
        rule, by = act.recorders, act.source
        if by != d.recorded_by or by == d.parent or act.role not in rule.roles:
            raise NotARecorderError(f"{by} may not link a parent to the child")
        if act.role in rule.needs_consent and d.consent_on is None:
            raise ParentConsentMissingError(f"a link by a {act.role} needs the parent's consent")
        if act.linked_role == PUPIL and not from_sixteen(d.pupil_age_band):
            raise PupilTooYoungError(
                f"a pupil's own account is linked from {PUPIL_FROM_AGE} only: "
                f"age band {d.pupil_age_band or 'not stated'}"
            )
        if d.link_id in self.parent_links:
            raise AlreadyOnPlanError(f"parent link {d.link_id} is already recorded")
        self._record(self.ParentLinked, d, act)

    def unlink_parent(self, d: ParentUnlinkedData, act: Act) -> None:
        """The link ends, recorded by a school or the municipality."""
        link = self.parent_links.get(d.link_id)
        if link is None or not link.active:
            raise UnknownParentLinkError(f"no current parent link {d.link_id}")
        if act.role not in act.recorders.roles or act.source == link.parent:
            raise NotARecorderError(f"{act.source} may not end a parent's link")
        self._record(self.ParentUnlinked, d, act, parent=link.parent, recorded_by=act.source)

    # what other domains' events told the plan

    @event("SignallerInvolved")
    def _signaller_involved(self, signaller: dict[str, str], on: date) -> None:
        self.add_signaller(signaller, on)

    @event("PartiesInvolved")
    def _parties_involved(self, parties: list[dict[str, str]], on: date) -> None:
        self.add_parties(parties, on)

    @event("BasisEnded")
    def _basis_ended(self, partner: str, basis: str, on: date) -> None:
        self.remove_basis(partner, basis, on)

    @event("RegieRecorded")
    def _regie_recorded(self, domain: str, regisseur: str, since: date) -> None:
        self.regie[domain] = Regie(domain, regisseur, since)

    # how those events change the state (also applied by events recorded before the views:
    # `services.integral_plan.legacy`)

    def add_signaller(self, signaller: Mapping[str, str], on: date) -> None:
        if signaller["partner"] not in self.parties:
            self.parties[signaller["partner"]] = PlanParty(
                partner=signaller["partner"],
                role=signaller.get("role", ""),
                contact=signaller.get("contact", ""),
                since=on,
                bases=(SIGNAL,),
            )

    def add_parties(self, parties: Iterable[Mapping[str, str]], on: date) -> None:
        """A party that came this way keeps the bases of its relations, so it leaves when the
        last one ends."""
        for party in parties:
            basis = party.get("basis", "")
            current = self.parties.get(party["partner"])
            if current is not None and current.active:
                if basis:
                    self.parties[current.partner] = current.with_basis(basis)
                continue
            self.parties[party["partner"]] = PlanParty(
                partner=party["partner"],
                role=party.get("role", ""),
                contact=party.get("contact", ""),
                since=on,
                bases=(basis,) if basis else (),
            )

    def remove_basis(self, partner: str, basis: str, on: date | None = None) -> None:
        party = self.parties.get(partner)
        if party is None or basis not in (party.bases or ()):
            return
        bases = tuple(b for b in party.bases or () if b != basis)
        self.parties[partner] = replace(party, bases=bases)
        if not bases:
            # It took part by that relation alone: it leaves, as a party that leaves does.
            self._leaves(partner, on)

    def _would_change(self, party: Mapping[str, str]) -> bool:
        current = self.parties.get(party["partner"])
        if current is None or not current.active:
            return True
        basis = party.get("basis", "")
        return bool(basis) and current.with_basis(basis) != current

    def _acted(self, by: str) -> None:
        """A party that acts on the plan takes part in it, beyond its signal: it is shown."""
        party = self.parties.get(by)
        if party is not None and party.by_signal_alone:
            self.parties[by] = party.with_basis(ACTED)

    def _leaves(self, partner: str, on: date | None) -> None:
        self.parties[partner] = replace(self.parties[partner], active=False, left_on=on)
        for domain in [d for d, r in self.regie.items() if r.regisseur == partner]:
            del self.regie[domain]


def from_sixteen(age_band: str | None) -> bool:
    """Whether an age band (`"16-22"`) lies wholly at or above `PUPIL_FROM_AGE`."""
    if not age_band:
        return False
    return int(age_band.split("-")[0]) >= PUPIL_FROM_AGE


def _contact(party: Mapping[str, str]) -> dict[str, str]:
    return {k: party[k] for k in ("partner", "role", "contact") if k in party}


def match_parties(match: dict[str, Any] | None) -> set[str]:
    """Who a match tells: every signaller in it, its coordinator, the municipal coordinator
    (nobody once it ended)."""
    if not match or match.get("ended_on"):
        return set()
    parties = set(match["partners"])
    if match.get("coordinator"):
        parties.add(match["coordinator"]["partner"])
    if match.get("municipal_coordinator"):
        parties.add(match["municipal_coordinator"])
    return parties


def signalling_seen_by(view: dict[str, Any], partner: str) -> dict[str, Any]:
    """The plan's signals and match as `partner` may see them (Jeugdwet afdeling 7.1).

    A signal is the signaller's: no other partner sees a lone signal (not in the signals,
    not as a party known by its signal alone, not in the timeline). A match shows each of its
    parties (`match_parties`) who signalled and how to reach them, never what about: another
    signaller's signal comes without its sealed sections (the concern stays with the
    signaller). Content is shared after a match through the plan, by admission. `view` is a
    copy the caller owns; it is changed and returned.
    """
    match = view.get("match")
    matched = partner in match_parties(match)
    if not matched:
        view["match"] = None
    seen = {partner} | (set(match["partners"]) if matched and match else set())
    signals = []
    for signal in view.get("signals", []):
        if signal["partner"] not in seen:
            continue
        if signal["partner"] != partner:
            signal["sealed"] = {}
            signal["concern"] = "with-signaller"
            # Whom the signaller still has to tell is its own task.
            signal.pop("informing", None)
        signals.append(signal)
    view["signals"] = signals
    view["parties"] = [
        p for p in view.get("parties", []) if p["partner"] in seen or p.get("bases") != ["signal"]
    ]
    view["timeline"] = [
        t
        for t in view.get("timeline", [])
        if (t["kind"] != "match" or matched)
        and (not t["kind"].startswith("signal") or t["partner"] in seen)
    ]
    return view

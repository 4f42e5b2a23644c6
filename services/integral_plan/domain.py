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
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("9d7e0c55-61b3-4f5a-a8a4-706c616e2121")

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


class Plan(Aggregate):
    # The plan's own events, declared so the outbound translation can rely on their fields.
    # Each carries the partner's event id: its sealed sections are bound to it.

    class PartyJoined(Aggregate.Event):
        child: str
        party: dict[str, str]
        joined_on: date
        by: str
        event_id: uuid.UUID

    class PartyLeft(Aggregate.Event):
        child: str
        partner: str
        left_on: date
        by: str
        event_id: uuid.UUID

    class RegieAssigned(Aggregate.Event):
        child: str
        domain: str
        regisseur: str
        assigned_on: date
        by: str
        event_id: uuid.UUID

    class GoalSet(Aggregate.Event):
        child: str
        goal_id: uuid.UUID
        domain: str
        set_on: date
        target_on: date | None
        by: str
        event_id: uuid.UUID
        sealed: dict[str, str]

    class AgreementMade(Aggregate.Event):
        child: str
        agreement_id: uuid.UUID
        parties: list[str]
        made_on: date
        by: str
        event_id: uuid.UUID
        sealed: dict[str, str]

    class ActionAgreed(Aggregate.Event):
        child: str
        action_id: uuid.UUID
        actor: str
        reports_to: str
        due_on: date
        agreed_on: date
        goal_id: uuid.UUID | None
        by: str
        event_id: uuid.UUID
        sealed: dict[str, str]

    class ActionDone(Aggregate.Event):
        child: str
        action_id: uuid.UUID
        done_on: date
        by: str
        event_id: uuid.UUID
        sealed: dict[str, str]

    class ParentLinked(Aggregate.Event):
        child: str
        link_id: uuid.UUID
        parent: str
        recorded_by: str
        linked_on: date
        consent_on: date | None
        event_id: uuid.UUID

    class ParentUnlinked(Aggregate.Event):
        child: str
        link_id: uuid.UUID
        parent: str
        recorded_by: str
        unlinked_on: date
        event_id: uuid.UUID

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

    # rules

    def is_party(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.active

    def is_admitted(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.admitted

    def _require_party(self, partner: str, what: str) -> None:
        if not self.is_party(partner):
            raise NotAPartyError(f"{partner} is not a party to this plan ({what})")

    def open_actions(self) -> Iterator[Action]:
        return (a for a in self.actions.values() if a.is_open)

    # commands (a party changes the plan)

    def join(self, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID) -> None:
        """A party joins: added by a party, or the first party starting the plan itself."""
        if self.is_admitted(party["partner"]):
            raise AlreadyOnPlanError(f"{party['partner']} is already a party")
        has_parties = any(p.active for p in self.parties.values())
        if has_parties or by != party["partner"]:
            self._require_party(by, "adding a party")
        self._party_joined(
            child=self.child, party=party, joined_on=joined_on, by=by, event_id=event_id
        )

    def leave(self, partner: str, left_on: date, by: str, event_id: uuid.UUID) -> None:
        self._require_party(by, "removing a party")
        self._require_party(partner, "leaving")
        self._party_left(
            child=self.child, partner=partner, left_on=left_on, by=by, event_id=event_id
        )

    def assign_regie(
        self, domain: str, regisseur: str, assigned_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self._require_party(by, "assigning regie")
        self._require_party(regisseur, "holding regie")
        self._regie_assigned(
            child=self.child,
            domain=domain,
            regisseur=regisseur,
            assigned_on=assigned_on,
            by=by,
            event_id=event_id,
        )

    def set_goal(
        self,
        goal_id: uuid.UUID,
        domain: str,
        set_on: date,
        target_on: date | None,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._require_party(by, "setting a goal")
        if goal_id in self.goals:
            raise AlreadyOnPlanError(f"goal {goal_id} is already on the plan")
        self._goal_set(
            child=self.child,
            goal_id=goal_id,
            domain=domain,
            set_on=set_on,
            target_on=target_on,
            by=by,
            event_id=event_id,
            sealed=sealed,
        )

    def make_agreement(
        self,
        agreement_id: uuid.UUID,
        parties: list[str],
        made_on: date,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._require_party(by, "making an agreement")
        for partner in parties:
            self._require_party(partner, "agreeing")
        if agreement_id in self.agreements:
            raise AlreadyOnPlanError(f"agreement {agreement_id} is already on the plan")
        self._agreement_made(
            child=self.child,
            agreement_id=agreement_id,
            parties=sorted(set(parties)),
            made_on=made_on,
            by=by,
            event_id=event_id,
            sealed=sealed,
        )

    def agree_action(
        self,
        action_id: uuid.UUID,
        actor: str,
        reports_to: str,
        due_on: date,
        agreed_on: date,
        goal_id: uuid.UUID | None,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """X (`actor`) does Y (sealed) and reports back to B (`reports_to`) by `due_on`."""
        self._require_party(by, "agreeing an action")
        self._require_party(actor, "doing an action")
        self._require_party(reports_to, "being reported to")
        if action_id in self.actions:
            raise AlreadyOnPlanError(f"action {action_id} is already on the plan")
        if due_on < agreed_on:
            raise InvalidDueDateError("an action is due on or after the day it was agreed")
        self._action_agreed(
            child=self.child,
            action_id=action_id,
            actor=actor,
            reports_to=reports_to,
            due_on=due_on,
            agreed_on=agreed_on,
            goal_id=goal_id,
            by=by,
            event_id=event_id,
            sealed=sealed,
        )

    def complete_action(
        self,
        action_id: uuid.UUID,
        done_on: date,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        action = self.actions.get(action_id)
        if action is None:
            raise UnknownActionError(f"action {action_id} is not on the plan")
        if action.actor != by:
            raise NotTheActorError(f"{by} does not do action {action_id}")
        if not action.is_open:
            raise ActionClosedError(f"action {action_id} was already reported done")
        self._action_done(
            child=self.child,
            action_id=action_id,
            done_on=done_on,
            by=by,
            event_id=event_id,
            sealed=sealed,
        )

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

    def record_regie(self, domain: str, regisseur: str, since: date) -> None:
        """Regie from the arrangements domain: the latest recorded regie on a domain wins."""
        if self.regie.get(domain) != Regie(domain, regisseur, since):
            self._regie_recorded(domain=domain, regisseur=regisseur, since=since)

    # parents, linked by a school or the municipality (not shown on the plan: the parent's
    # account is for kluis and the parent's own view)

    def link_parent(
        self,
        *,
        link_id: uuid.UUID,
        parent: str,
        recorded_by: str,
        linked_on: date,
        consent_on: date | None,
        by: str,
        by_role: str | None,
        rule: RecorderRule,
        event_id: uuid.UUID,
    ) -> None:
        """A school or the municipality links a parent's account to the child."""
        if by != recorded_by or by == parent or by_role not in rule.roles:
            raise NotARecorderError(f"{by} may not link a parent to the child")
        if by_role in rule.needs_consent and consent_on is None:
            raise ParentConsentMissingError(f"a link by a {by_role} needs the parent's consent")
        if link_id in self.parent_links:
            raise AlreadyOnPlanError(f"parent link {link_id} is already recorded")
        self._parent_linked(
            child=self.child,
            link_id=link_id,
            parent=parent,
            recorded_by=recorded_by,
            linked_on=linked_on,
            consent_on=consent_on,
            event_id=event_id,
        )

    def unlink_parent(
        self,
        *,
        link_id: uuid.UUID,
        unlinked_on: date,
        by: str,
        by_role: str | None,
        rule: RecorderRule,
        event_id: uuid.UUID,
    ) -> None:
        """The link ends, recorded by a school or the municipality."""
        link = self.parent_links.get(link_id)
        if link is None or not link.active:
            raise UnknownParentLinkError(f"no current parent link {link_id}")
        if by_role not in rule.roles or by == link.parent:
            raise NotARecorderError(f"{by} may not end a parent's link")
        self._parent_unlinked(
            child=self.child,
            link_id=link_id,
            parent=link.parent,
            recorded_by=by,
            unlinked_on=unlinked_on,
            event_id=event_id,
        )

    @event(ParentLinked)
    def _parent_linked(
        self,
        child: str,
        link_id: uuid.UUID,
        parent: str,
        recorded_by: str,
        linked_on: date,
        consent_on: date | None,
        event_id: uuid.UUID,
    ) -> None:
        self.parent_links[link_id] = ParentLink(parent)

    @event(ParentUnlinked)
    def _parent_unlinked(
        self,
        child: str,
        link_id: uuid.UUID,
        parent: str,
        recorded_by: str,
        unlinked_on: date,
        event_id: uuid.UUID,
    ) -> None:
        self.parent_links[link_id] = ParentLink(parent, active=False)

    # the plan's own events

    @event(PartyJoined)
    def _party_joined(
        self, child: str, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self._acted(by)
        current = self.parties.get(party["partner"])
        joined = PlanParty(
            partner=party["partner"],
            role=party.get("role", ""),
            contact=party.get("contact", ""),
            since=joined_on,
        )
        if current is not None and current.active and current.bases is not None:
            # Known through another domain (a signal, an enrolment): now admitted as well, so
            # it stays when those bases end.
            joined = replace(
                current.with_basis(PLAN_PARTY), role=joined.role, contact=joined.contact
            )
        self.parties[joined.partner] = joined

    @event(PartyLeft)
    def _party_left(
        self, child: str, partner: str, left_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self._acted(by)
        self._leaves(partner)

    @event(RegieAssigned)
    def _regie_assigned(
        self,
        child: str,
        domain: str,
        regisseur: str,
        assigned_on: date,
        by: str,
        event_id: uuid.UUID,
    ) -> None:
        self._acted(by)
        self.regie[domain] = Regie(domain, regisseur, assigned_on)

    @event(GoalSet)
    def _goal_set(
        self,
        child: str,
        goal_id: uuid.UUID,
        domain: str,
        set_on: date,
        target_on: date | None,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._acted(by)
        self.goals[goal_id] = Goal(
            goal_id, domain, set_on, target_on, by=by, event_id=event_id, sealed=dict(sealed)
        )

    @event(AgreementMade)
    def _agreement_made(
        self,
        child: str,
        agreement_id: uuid.UUID,
        parties: list[str],
        made_on: date,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._acted(by)
        self.agreements[agreement_id] = Agreement(
            agreement_id, tuple(parties), made_on, by=by, event_id=event_id, sealed=dict(sealed)
        )

    @event(ActionAgreed)
    def _action_agreed(
        self,
        child: str,
        action_id: uuid.UUID,
        actor: str,
        reports_to: str,
        due_on: date,
        agreed_on: date,
        goal_id: uuid.UUID | None,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._acted(by)
        self.actions[action_id] = Action(
            action_id,
            actor,
            reports_to,
            due_on,
            agreed_on,
            goal_id,
            by=by,
            event_id=event_id,
            sealed=dict(sealed),
        )

    @event(ActionDone)
    def _action_done(
        self,
        child: str,
        action_id: uuid.UUID,
        done_on: date,
        by: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._acted(by)
        report = Sealed(event_id=event_id, sealed=dict(sealed))
        self.actions[action_id] = replace(self.actions[action_id], done_on=done_on, report=report)

    # what other domains' events told the plan

    @event("SignallerInvolved")
    def _signaller_involved(self, signaller: dict[str, str], on: date) -> None:
        self.add_signaller(signaller, on)

    @event("PartiesInvolved")
    def _parties_involved(self, parties: list[dict[str, str]], on: date) -> None:
        self.add_parties(parties, on)

    @event("BasisEnded")
    def _basis_ended(self, partner: str, basis: str, on: date) -> None:
        self.remove_basis(partner, basis)

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

    def remove_basis(self, partner: str, basis: str) -> None:
        party = self.parties.get(partner)
        if party is None or basis not in (party.bases or ()):
            return
        bases = tuple(b for b in party.bases or () if b != basis)
        self.parties[partner] = replace(party, bases=bases)
        if not bases:
            # It took part by that relation alone: it leaves, as a party that leaves does.
            self._leaves(partner)

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

    def _leaves(self, partner: str) -> None:
        self.parties[partner] = replace(self.parties[partner], active=False)
        for domain in [d for d, r in self.regie.items() if r.regisseur == partner]:
            del self.regie[domain]


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

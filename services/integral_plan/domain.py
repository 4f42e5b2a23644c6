"""The integral plan of one child: parties, regie, goals, agreements, actions, signals, a timeline.

The plan is itself event-sourced, so it can be rebuilt from the streams and audited. It holds
what arrives in clear; sealed sections stay sealed, with the id of the event they are bound
to, and are opened by each reader with the reader's own keys: the plan never holds plaintext
about a child.

Two kinds of change: what the plan's parties publish about the plan itself (a party joins,
regie, goals, agreements, actions: commands, checked against the plan's rules, recorded as the
nested events below and published on `ketenbus.plan.*`), and what other domains recorded
(signals, matches, handovers, arrangements, attendance: noted as they come, never refused).
An organisation that takes part through such an event (the event gives it a relation with the
child in kluis) joins the plan as a party. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("9d7e0c55-61b3-4f5a-a8a4-706c616e2121")

# The lists of a plan's view whose items carry sealed sections (bound to their `event_id`), and
# those in its attendance block: `sealed_items` walks them for the query filter and the reader.
SEALED_ITEMS = ("signals", "goals", "agreements", "actions", "handovers", "arrangements")
# The basis of a party admitted to the plan itself (kluis's `plan-party` relation).
PLAN_PARTY = "plan-party"
ATTENDANCE_ITEMS = ("enrolments", "exemptions", "offers", "reports")


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
        self.parties: dict[str, dict[str, Any]] = {}
        self.regie: dict[str, dict[str, str]] = {}
        self.goals: dict[str, dict[str, Any]] = {}
        self.agreements: dict[str, dict[str, Any]] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.signals: dict[str, dict[str, Any]] = {}
        self.match: dict[str, Any] | None = None
        self.handovers: dict[str, dict[str, Any]] = {}
        self.arrangements: dict[str, dict[str, Any]] = {}
        self.attendance: dict[str, Any] = _attendance()
        self.timeline: list[dict[str, Any]] = []

    # rules

    def is_party(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.get("active", True)

    def is_admitted(self, partner: str) -> bool:
        """A party admitted to the plan itself (it joined, or was added by a party), not one
        known only through another domain's event (its signal, enrolment, …: `bases`)."""
        party = self.parties.get(partner)
        if party is None or not party.get("active", True):
            return False
        return "bases" not in party or PLAN_PARTY in party["bases"]

    def _require_party(self, partner: str, what: str) -> None:
        if not self.is_party(partner):
            raise NotAPartyError(f"{partner} is not a party to this plan ({what})")

    # commands (a party changes the plan)

    def join(self, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID) -> None:
        """A party joins: added by a party, or the first party starting the plan itself."""
        if self.is_admitted(party["partner"]):
            raise AlreadyOnPlanError(f"{party['partner']} is already a party")
        has_parties = any(p.get("active", True) for p in self.parties.values())
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
        if str(goal_id) in self.goals:
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
        if str(agreement_id) in self.agreements:
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
        if str(action_id) in self.actions:
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
        action = self.actions.get(str(action_id))
        if action is None:
            raise UnknownActionError(f"action {action_id} is not on the plan")
        if action["actor"] != by:
            raise NotTheActorError(f"{by} does not do action {action_id}")
        if action["status"] == "done":
            raise ActionClosedError(f"action {action_id} was already reported done")
        self._action_done(
            child=self.child,
            action_id=action_id,
            done_on=done_on,
            by=by,
            event_id=event_id,
            sealed=sealed,
        )

    # parents, linked by a school or the municipality (not shown on the plan: the parent's
    # account is for kluis and the parent's own view)

    @property
    def parent_links(self) -> dict[str, dict[str, Any]]:
        links: dict[str, dict[str, Any]] = self.__dict__.setdefault("_parent_links", {})
        return links

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
        if str(link_id) in self.parent_links:
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
        link = self.parent_links.get(str(link_id))
        if link is None or not link["active"]:
            raise UnknownParentLinkError(f"no current parent link {link_id}")
        if by_role not in rule.roles or by == link["parent"]:
            raise NotARecorderError(f"{by} may not end a parent's link")
        self._parent_unlinked(
            child=self.child,
            link_id=link_id,
            parent=link["parent"],
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
        self.parent_links[str(link_id)] = {"parent": parent, "active": True}

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
        self.parent_links[str(link_id)]["active"] = False

    # the plan's own events

    @event(PartyJoined)
    def _party_joined(
        self, child: str, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self._acted(by)
        current = self.parties.get(party["partner"])
        admitted = dict(party) | {"since": joined_on.isoformat(), "active": True}
        if current is not None and current.get("active", True) and "bases" in current:
            # Known through another domain (a signal, an enrolment): now admitted as well, so
            # it stays when those bases end.
            admitted |= {"since": current["since"], "bases": [*current["bases"], PLAN_PARTY]}
        self.parties[party["partner"]] = admitted
        self._timeline(joined_on.isoformat(), "party-joined", party["partner"], by=by)

    @event(PartyLeft)
    def _party_left(
        self, child: str, partner: str, left_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self._acted(by)
        self.parties[partner]["active"] = False
        self._drop_regie_of(partner)
        self._timeline(left_on.isoformat(), "party-left", partner, by=by)

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
        self.regie[domain] = {
            "domain": domain,
            "regisseur": regisseur,
            "since": assigned_on.isoformat(),
        }
        self._timeline(assigned_on.isoformat(), "regie-assigned", regisseur, ref=domain, by=by)

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
        self.goals[str(goal_id)] = {
            "goal_id": str(goal_id),
            "domain": domain,
            "set_on": set_on.isoformat(),
            "target_on": target_on.isoformat() if target_on else None,
            "by": by,
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(set_on.isoformat(), "goal-set", by, ref=str(goal_id))

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
        self.agreements[str(agreement_id)] = {
            "agreement_id": str(agreement_id),
            "parties": list(parties),
            "made_on": made_on.isoformat(),
            "by": by,
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(made_on.isoformat(), "agreement-made", by, ref=str(agreement_id))

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
        self.actions[str(action_id)] = {
            "action_id": str(action_id),
            "actor": actor,
            "reports_to": reports_to,
            "due_on": due_on.isoformat(),
            "agreed_on": agreed_on.isoformat(),
            "goal_id": str(goal_id) if goal_id else None,
            "status": "open",
            "done_on": None,
            "by": by,
            "event_id": str(event_id),
            "sealed": dict(sealed),
            "report": None,
        }
        self._timeline(agreed_on.isoformat(), "action-agreed", actor, ref=str(action_id))

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
        action = self.actions[str(action_id)]
        action["status"] = "done"
        action["done_on"] = done_on.isoformat()
        action["report"] = {"event_id": str(event_id), "sealed": dict(sealed)}
        self._timeline(done_on.isoformat(), "action-done", by, ref=str(action_id))

    # what other domains recorded (noted, never refused)

    @event("SignalNoted")
    def note_signal(
        self,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        # `bases`: a party known by its signal alone is shown to no other partner
        # (`signalling_seen_by`); it stays a party when another basis joins it.
        self.parties.setdefault(
            signaller["partner"],
            _contact(signaller)
            | {"since": registered_on.isoformat(), "active": True, "bases": ["signal"]},
        )
        self.signals[str(signal_id)] = {
            "signal_id": str(signal_id),
            "partner": signaller["partner"],
            "role": signaller.get("role", ""),
            "contact": signaller.get("contact", ""),
            "registered_on": registered_on.isoformat(),
            "status": "active",
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(
            registered_on.isoformat(), "signal", signaller["partner"], ref=str(signal_id)
        )

    @event("SignalWithdrawalNoted")
    def note_withdrawal(self, signal_id: uuid.UUID, withdrawn_on: date, reason: str) -> None:
        signal = self.signals.get(str(signal_id))
        if signal is not None:
            signal["status"] = reason
            self._timeline(
                withdrawn_on.isoformat(), f"signal-{reason}", signal["partner"], ref=str(signal_id)
            )

    @event("MatchNoted")
    def note_match(
        self,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        partners: list[str],
        found_at: datetime,
        contacts: list[dict[str, str]] | None = None,
        coordinator: dict[str, str] | None = None,
        municipal_coordinator: str | None = None,
    ) -> None:
        """A match: who signalled and how to reach them, the coordinator; never a concern.
        (`contacts`, `coordinator`, `municipal_coordinator`: None in events noted before.)"""
        self.match = {
            "match_id": str(match_id),
            "signal_ids": [str(s) for s in signal_ids],
            "partners": sorted(partners),
            "found_at": found_at.isoformat(),
            "contacts": sorted((dict(c) for c in contacts or []), key=lambda c: c["partner"]),
            "coordinator": dict(coordinator) if coordinator else None,
            "municipal_coordinator": municipal_coordinator,
        }
        self._timeline(found_at.isoformat(), "match", ", ".join(sorted(partners)))

    @event("MatchCoordinatorNoted")
    def note_match_coordinator(self, match_id: uuid.UUID, coordinator: dict[str, str]) -> None:
        if self.match is not None and self.match["match_id"] == str(match_id):
            self.match["coordinator"] = dict(coordinator)

    @event("MatchContactNoted")
    def note_match_contact(self, match_id: uuid.UUID, partner: str, contacted_on: date) -> None:
        """A signaller reported it made contact with the others: the match shows who did."""
        if self.match is not None and self.match["match_id"] == str(match_id):
            contacted = self.match.setdefault("contacted", [])
            if partner not in contacted:
                contacted.append(partner)
                contacted.sort()

    @event("MatchEndNoted")
    def note_match_ended(self, match_id: uuid.UUID, ended_on: date) -> None:
        """The match lapsed (fewer than two signals left): what remains is a lone signal again,
        shown to its signaller only."""
        if self.match is not None and self.match["match_id"] == str(match_id):
            self.match["ended_on"] = ended_on.isoformat()

    def _acted(self, by: str) -> None:
        """A party that acts on the plan takes part in it, beyond its signal: it is shown."""
        party = self.parties.get(by)
        if party is not None and party.get("bases") == ["signal"]:
            party["bases"].append("plan")

    def _drop_regie_of(self, partner: str) -> None:
        for domain in [d for d, r in self.regie.items() if r["regisseur"] == partner]:
            del self.regie[domain]

    def _involve(self, parties: list[dict[str, str]], on: date) -> None:
        """Organisations with a relation through another domain's event join (or rejoin); a
        party that came this way keeps the bases of its relations (`bases`), so it leaves
        when the last one ends."""
        for party in parties:
            basis = party.get("basis", "")
            current = self.parties.get(party["partner"])
            if current is not None and current.get("active", True):
                if basis and "bases" in current and basis not in current["bases"]:
                    current["bases"].append(basis)
                continue
            joined = {k: v for k, v in party.items() if k != "basis"}
            self.parties[party["partner"]] = joined | {
                "since": on.isoformat(),
                "active": True,
                "bases": [basis] if basis else [],
            }

    # handover

    def _handover(self, handover_id: uuid.UUID) -> dict[str, Any]:
        return self.handovers.setdefault(
            str(handover_id),
            {
                "handover_id": str(handover_id),
                "transition": None,
                "from": None,
                "to": None,
                "swv": None,
                "planned_on": None,
                "status": "started",
                "delivered_on": None,
                "conversation_on": None,
                "closed_on": None,
                "gaps": [],
                "escalations": [],
                "event_id": None,
                "sealed": {},
            },
        )

    @event("HandoverStartedNoted")
    def note_handover_started(
        self,
        handover_id: uuid.UUID,
        transition: str,
        sender: str,
        receiver: str | None,
        swv: str | None,
        planned_on: date,
        started_on: date,
        parties: list[dict[str, str]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._involve(parties, started_on)
        handover = self._handover(handover_id)
        handover.update(
            transition=transition,
            planned_on=planned_on.isoformat(),
            event_id=str(event_id),
            sealed=dict(sealed),
        )
        handover["from"], handover["to"], handover["swv"] = sender, receiver, swv
        self._timeline(started_on.isoformat(), "handover-started", sender, ref=str(handover_id))

    @event("HandoverStepNoted")
    def note_handover_step(
        self,
        handover_id: uuid.UUID,
        step: str,
        on: date,
        partner: str,
        parties: list[dict[str, str]],
    ) -> None:
        """`dossier-delivered` (by `partner`, the sender), `warm-conversation-held`, `closed`
        (no `partner`: the receiver closes it, or the sender while there is none)."""
        self._involve(parties, on)
        handover = self._handover(handover_id)
        if step == "dossier-delivered":
            handover["delivered_on"] = on.isoformat()
            handover["to"] = handover["to"] or next((p["partner"] for p in parties), None)
            handover["status"] = (
                "delivered" if handover["status"] == "started" else handover["status"]
            )
        elif step == "warm-conversation-held":
            handover["conversation_on"] = on.isoformat()
            if handover["status"] != "closed":
                handover["status"] = "warm-conversation-held"
        else:
            handover["closed_on"] = on.isoformat()
            handover["status"] = "closed"
        kind = step if step != "closed" else "handover-closed"
        partner = partner or handover["to"] or handover["from"] or ""
        self._timeline(on.isoformat(), kind, partner, ref=str(handover_id))

    @event("ContinuityGapNoted")
    def note_continuity_gap(
        self, handover_id: uuid.UUID, gaps: list[dict[str, str]], found_on: date
    ) -> None:
        handover = self._handover(handover_id)
        handover["gaps"] = [dict(g) for g in gaps]
        self._timeline(
            found_on.isoformat(),
            "continuity-gap-found",
            handover["from"] or "",
            ref=str(handover_id),
        )

    @event("HandoverEscalationNoted")
    def note_handover_escalation(
        self,
        handover_id: uuid.UUID,
        level: int,
        to: str,
        partner: str | None,
        planned_on: date,
        escalated_at: datetime,
    ) -> None:
        handover = self._handover(handover_id)
        handover["planned_on"] = handover["planned_on"] or planned_on.isoformat()
        handover["escalations"].append(
            {"level": level, "to": to, "partner": partner, "at": escalated_at.isoformat()}
        )
        self._timeline(
            escalated_at.isoformat(), "handover-escalated", partner or "", ref=str(handover_id)
        )

    # arrangements

    @event("ArrangementNoted")
    def note_arrangement(
        self,
        ref: uuid.UUID,
        kind: str,
        on: date,
        until: date | None,
        by: str,
        details: dict[str, Any],
        parties: list[dict[str, str]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """A decision of the arrangements domain: support request, TLV, OPP, youth care, an
        arrangement (OZA), a Variawet request; `details` are its clear fields only."""
        self._involve(parties, on)
        previous = self.arrangements.get(str(ref), {})
        self.arrangements[str(ref)] = {
            "ref": str(ref),
            "kind": kind,
            "on": on.isoformat(),
            "until": until.isoformat() if until else None,
            "by": by,
            "parties": sorted({p["partner"] for p in parties} | {by}),
            "details": dict(details),
            "dispute": previous.get("dispute"),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(on.isoformat(), kind, by, ref=str(ref))

    @event("DisputeNoted")
    def note_dispute(
        self,
        arrangement_id: uuid.UUID,
        dispute_id: uuid.UUID,
        step: str,
        on: date,
        by: str,
        details: dict[str, Any],
    ) -> None:
        """A funding dispute: `funding-disputed`, `dispute-escalated`, `dispute-decided`."""
        arrangement = self.arrangements.setdefault(
            str(arrangement_id),
            {
                "ref": str(arrangement_id),
                "kind": "arrangement-agreed",
                "on": on.isoformat(),
                "until": None,
                "by": by,
                "parties": [by],
                "details": {},
                "dispute": None,
                "event_id": None,
                "sealed": {},
            },
        )
        dispute = dict(arrangement.get("dispute") or {"dispute_id": str(dispute_id)})
        dispute |= dict(details) | {"status": step, "since": on.isoformat()}
        arrangement["dispute"] = dispute
        if step == "dispute-decided" and "funding" in details:
            arrangement["details"] = arrangement["details"] | {"funding": details["funding"]}
        self._timeline(on.isoformat(), step, by, ref=str(arrangement_id))

    @event("RegieNoted")
    def note_regie(
        self,
        domain: str,
        regisseur: str,
        since: date,
        ref: uuid.UUID,
        parties: list[dict[str, str]],
    ) -> None:
        """Regie from the arrangements domain: the latest recorded regie on a domain wins."""
        self._involve(parties, since)
        self.regie[domain] = {"domain": domain, "regisseur": regisseur, "since": since.isoformat()}
        self._timeline(since.isoformat(), "regie-changed", regisseur, ref=domain)

    # truancy (attendance)

    @event("EnrolmentNoted")
    def note_enrolment(
        self,
        school: str,
        brin: str,
        enrolled: bool,
        on: date,
        parties: list[dict[str, str]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._involve(parties, on)
        enrolments = self.attendance["enrolments"]
        enrolment = enrolments.setdefault(school, {"school": school, "brin": brin})
        enrolment |= {"enrolled": enrolled, "event_id": str(event_id), "sealed": dict(sealed)}
        enrolment["enrolled_on" if enrolled else "de_enrolled_on"] = on.isoformat()
        party = self.parties.get(school)
        if not enrolled and party is not None and "enrolment" in party.get("bases", []):
            party["bases"].remove("enrolment")
            if not party["bases"]:
                # It took part by the enrolment alone: it leaves, as a party that leaves does.
                party["active"] = False
                self._drop_regie_of(school)
        kind = "pupil-enrolled" if enrolled else "pupil-de-enrolled"
        self._timeline(on.isoformat(), kind, school)

    @event("VerzuimReportNoted")
    def note_verzuim_report(
        self,
        report_id: uuid.UUID,
        school: str,
        leerplicht: str,
        kind: str,
        begin_on: date,
        end_on: date,
        parties: list[dict[str, str]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self._involve(parties, end_on)
        self.attendance["reports"][str(report_id)] = {
            "report_id": str(report_id),
            "school": school,
            "leerplicht": leerplicht,
            "kind": kind,
            "begin_on": begin_on.isoformat(),
            "end_on": end_on.isoformat(),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(end_on.isoformat(), "verzuim-report-due", school, ref=str(report_id))

    @event("ThuiszitterNoted")
    def note_thuiszitter(
        self, registered: bool, category: int, on: date, school: str | None, reason: str | None
    ) -> None:
        if registered:
            self.attendance["thuiszitter"] = {
                "category": category,
                "since": on.isoformat(),
                "school": school,
                "ended_on": None,
                "reason": None,
            }
        else:
            current = self.attendance["thuiszitter"] or {"category": category, "since": None}
            self.attendance["thuiszitter"] = current | {
                "ended_on": on.isoformat(),
                "reason": reason,
            }
            self.attendance["three_month"] = None
        kind = "thuiszitter-registered" if registered else "thuiszitter-ended"
        self._timeline(on.isoformat(), kind, school or "")

    @event("ThreeMonthRuleNoted")
    def note_three_month_rule(
        self,
        stage: str,
        since: date,
        days_at_home: int,
        deadline: date,
        notify: list[str],
        on: date,
    ) -> None:
        self.attendance["three_month"] = {
            "stage": stage,
            "since": since.isoformat(),
            "days_at_home": days_at_home,
            "deadline": deadline.isoformat(),
            "notify": sorted(notify),
            "on": on.isoformat(),
        }
        self._timeline(on.isoformat(), "three-month-rule-reached", ", ".join(sorted(notify)))

    @event("ExemptionNoted")
    def note_exemption(
        self,
        exemption_id: uuid.UUID,
        leerplicht: str,
        article: str,
        valid_from: date,
        valid_until: date | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self.attendance["exemptions"][str(exemption_id)] = {
            "exemption_id": str(exemption_id),
            "leerplicht": leerplicht,
            "article": article,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(valid_from.isoformat(), "exemption-granted", leerplicht)

    @event("OfferNoted")
    def note_offer(
        self,
        offer_id: uuid.UUID,
        by: str,
        offered_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self.attendance["offers"][str(offer_id)] = {
            "offer_id": str(offer_id),
            "by": by,
            "offered_on": offered_on.isoformat(),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(offered_on.isoformat(), "offer-made", by)

    def offered_since(self, since: str | None) -> bool:
        """A fitting offer was made on or after `since` (an ISO date)."""
        return any(
            since is None or o["offered_on"] >= since for o in self.attendance["offers"].values()
        )

    def _timeline(self, at: str, kind: str, partner: str, *, ref: str = "", by: str = "") -> None:
        what = f"{kind} {'between' if kind == 'match' else 'by'} {partner}"
        entry = {"at": at, "kind": kind, "partner": partner, "what": what}
        if ref:
            entry["ref"] = ref
        if by and by != partner:
            entry["by"] = by
        self.timeline.append(entry)

    # queries

    def view(self) -> dict[str, Any]:
        """The plan as its readers see it: clear parts, sealed sections still sealed."""
        return {
            "child": self.child,
            "parties": [self.parties[p] for p in sorted(self.parties)],
            "regie": [self.regie[d] for d in sorted(self.regie)],
            "goals": sorted(self.goals.values(), key=lambda g: (g["set_on"], g["goal_id"])),
            "agreements": sorted(
                self.agreements.values(), key=lambda a: (a["made_on"], a["agreement_id"])
            ),
            "actions": sorted(self.actions.values(), key=lambda a: (a["due_on"], a["action_id"])),
            "signals": sorted(self.signals.values(), key=lambda s: s["registered_on"]),
            "match": self.match,
            "handovers": sorted(
                self.handovers.values(), key=lambda h: (h["planned_on"] or "", h["handover_id"])
            ),
            "arrangements": sorted(self.arrangements.values(), key=lambda a: (a["on"], a["ref"])),
            "attendance": self._attendance_view(),
            "timeline": sorted(self.timeline, key=lambda t: (t["at"], t["kind"], t["partner"])),
            "version": self.version,
        }

    def attendance_status(self, today: date | None = None) -> str:
        """`thuiszitter`, `exempt`, `enrolled`, `not-enrolled`, or `unknown` (nothing noted)."""
        attendance = self.attendance
        thuiszitter = attendance["thuiszitter"]
        if thuiszitter and not thuiszitter["ended_on"]:
            return "thuiszitter"
        day = (today or date.max).isoformat()
        if any(
            e["valid_from"] <= day and (e["valid_until"] is None or day <= e["valid_until"])
            for e in attendance["exemptions"].values()
        ):
            return "exempt"
        if any(e["enrolled"] for e in attendance["enrolments"].values()):
            return "enrolled"
        return "not-enrolled" if attendance["enrolments"] or thuiszitter else "unknown"

    def _attendance_view(self) -> dict[str, Any]:
        a = self.attendance
        return {
            "status": self.attendance_status(),
            "enrolments": [a["enrolments"][s] for s in sorted(a["enrolments"])],
            "thuiszitter": a["thuiszitter"],
            "three_month": a["three_month"],
            "exemptions": sorted(a["exemptions"].values(), key=lambda e: e["valid_from"]),
            "offers": sorted(a["offers"].values(), key=lambda o: o["offered_on"]),
            "reports": sorted(a["reports"].values(), key=lambda r: r["end_on"]),
        }


def _attendance() -> dict[str, Any]:
    return {
        "enrolments": {},
        "thuiszitter": None,
        "three_month": None,
        "exemptions": {},
        "offers": {},
        "reports": {},
    }


def _contact(party: dict[str, str]) -> dict[str, str]:
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


def sealed_items(view: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a plan's view that carries sealed sections (and an action's report)."""
    for key in SEALED_ITEMS:
        for item in view.get(key, []):
            yield item
            if isinstance(item.get("report"), dict):
                yield item["report"]
    attendance = view.get("attendance") or {}
    for key in ATTENDANCE_ITEMS:
        yield from attendance.get(key, [])

"""The integral plan of one child: parties, regie, goals, agreements, actions, signals, a timeline.

The plan is itself event-sourced, so it can be rebuilt from the streams and audited. It holds
what arrives in clear; sealed sections stay sealed, with the id of the event they are bound
to, and are opened by each reader with the reader's own keys: the plan never holds plaintext
about a child.

Two kinds of change: what the plan's parties publish about the plan itself (a party joins,
regie, goals, agreements, actions: commands, checked against the plan's rules, recorded as the
nested events below and published on `ketenbus.plan.*`), and what other domains recorded
(signals, matches; later handovers, arrangements, attendance: noted as they come, never
refused). No I/O here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("9d7e0c55-61b3-4f5a-a8a4-706c616e2121")


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
        self.timeline: list[dict[str, Any]] = []

    # rules

    def is_party(self, partner: str) -> bool:
        party = self.parties.get(partner)
        return party is not None and party.get("active", True)

    def _require_party(self, partner: str, what: str) -> None:
        if not self.is_party(partner):
            raise NotAPartyError(f"{partner} is not a party to this plan ({what})")

    # commands (a party changes the plan)

    def join(self, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID) -> None:
        """A party joins: added by a party, or the first party starting the plan itself."""
        if self.is_party(party["partner"]):
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

    # the plan's own events

    @event(PartyJoined)
    def _party_joined(
        self, child: str, party: dict[str, str], joined_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self.parties[party["partner"]] = dict(party) | {
            "since": joined_on.isoformat(),
            "active": True,
        }
        self._timeline(joined_on.isoformat(), "party-joined", party["partner"], by=by)

    @event(PartyLeft)
    def _party_left(
        self, child: str, partner: str, left_on: date, by: str, event_id: uuid.UUID
    ) -> None:
        self.parties[partner]["active"] = False
        for domain in [d for d, r in self.regie.items() if r["regisseur"] == partner]:
            del self.regie[domain]
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
        self.parties.setdefault(
            signaller["partner"],
            dict(signaller) | {"since": registered_on.isoformat(), "active": True},
        )
        self.signals[str(signal_id)] = {
            "signal_id": str(signal_id),
            "partner": signaller["partner"],
            "registered_on": registered_on.isoformat(),
            "status": "active",
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._timeline(registered_on.isoformat(), "signal", signaller["partner"])

    @event("SignalWithdrawalNoted")
    def note_withdrawal(self, signal_id: uuid.UUID, withdrawn_on: date, reason: str) -> None:
        signal = self.signals.get(str(signal_id))
        if signal is not None:
            signal["status"] = reason
            self._timeline(withdrawn_on.isoformat(), f"signal-{reason}", signal["partner"])

    @event("MatchNoted")
    def note_match(
        self,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        partners: list[str],
        found_at: datetime,
    ) -> None:
        self.match = {
            "match_id": str(match_id),
            "signal_ids": [str(s) for s in signal_ids],
            "partners": sorted(partners),
            "found_at": found_at.isoformat(),
        }
        self._timeline(found_at.isoformat(), "match", ", ".join(sorted(partners)))

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
            "timeline": sorted(self.timeline, key=lambda t: (t["at"], t["kind"], t["partner"])),
            "version": self.version,
        }

"""The signals about one child, the matches they make, and their life cycle (Verwijsindex rules,
Jeugdwet afdeling 7.1; seed 000 1.1 and 1.3).

- `ChildSignals`: the signals on one child (by pseudonym), its match, its history (ended
  signals as metadata), its risk inventories.
- `HouseholdSignals`: the active signals on the children of one household (by household
  pseudonym), and the household match they make.
- Both hold a match with a coordinator (regievoerder), the signallers' contact reports, and a
  reminder then an escalation when contact is late (`MatchHolder`). A household match's events
  are recorded once per child in it, so every outbound event's subject is a child.
- What each has due when (expiry, contact reminder, history) is `due`: the application keeps
  it in the due-at table (services.runtime.due), so the tick does not scan every child.
  `Agenda`, the aggregate that kept it before, is retired: its stored events still load.

No I/O here: the application loads and saves, passes the rules' values, the handlers decode.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate, event

from services.runtime.aggregate import PerChild, Value

NAMESPACE = uuid.UUID("5f0c3f7e-2b0a-4f59-8d7e-7369676e616c")


class SignallingError(Exception):
    """A business rule of signalling refused the command."""


class SignalAlreadyRegisteredError(SignallingError):
    """A signal with this id was registered before."""


class UnknownSignalError(SignallingError):
    """No signal with this id is registered on this child."""


class SignalNotActiveError(SignallingError):
    """The signal was already withdrawn or ended."""


class NotTheSignallerError(SignallingError):
    """Only the partner that registered a signal may withdraw it."""


class InvalidRemovalDateError(SignallingError):
    """The planned removal date must lie after the registration date."""


class ChildDeceasedError(SignallingError):
    """The child's death was reported: no new signals."""


class UnknownMatchError(SignallingError):
    """No current match with this id (it lapsed, or never was)."""


class NotAPartyError(SignallingError):
    """The partner has no relation with this match: not a signaller in it, nor its coordinator,
    nor the municipality's coordinator."""


class InformingError(SignallingError):
    """Informing confirmed or postponed for someone not to be told, or a postponement without
    a later day."""


class RiskInventoryAlreadyRecordedError(SignallingError):
    """A risk inventory with this id was recorded before."""


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Party(Value):
    """A professional as a signal names them: partner, role, contact point, and the vindplaats
    the signal arose at. Professional data only, never anything about the child."""

    partner: str
    role: str
    contact: str
    vindplaats: str | None = None


@dataclass(frozen=True)
class Coordinator(Value):
    """Who coordinates a match (regievoerder) and how to reach them."""

    partner: str
    contact: str


@dataclass
class Signal:
    signal_id: uuid.UUID
    signaller: Party
    registered_on: date
    planned_removal_on: date
    active: bool = True
    ends_on: date | None = None
    household: str | None = None
    municipality: str | None = None
    ended_on: date | None = None
    end_reason: str | None = None
    # Informing the parents and/or the child (Jeugdwet art. 7.1.4.2): who is to be told, who
    # was, and a postponement (ground, until).
    to_inform: tuple[str, ...] = ()
    informed: tuple[str, ...] = ()
    postponed: tuple[str, date] | None = None
    # The day the open informing task arose (the signal, or the age band that added someone).
    informing_since: date | None = None

    @property
    def uninformed(self) -> tuple[str, ...]:
        return tuple(a for a in self.to_inform if a not in self.informed)

    @property
    def partner(self) -> str:
        return self.signaller.partner


@dataclass
class Match:
    match_id: uuid.UUID
    partners: list[str]
    found_at: datetime
    reminder_due_at: datetime | None
    escalation_due_at: datetime | None
    municipality: str | None = None
    municipal_coordinator: str | None = None
    coordinator: Coordinator | None = None
    contacted: set[str] = field(default_factory=set)
    reminded: bool = False
    escalated: bool = False

    @property
    def all_contacted(self) -> bool:
        return set(self.partners) <= self.contacted

    @property
    def missing_contact(self) -> list[str]:
        return sorted(set(self.partners) - self.contacted)

    def parties(self) -> set[str]:
        parties = set(self.partners)
        if self.coordinator:
            parties.add(self.coordinator.partner)
        if self.municipal_coordinator:
            parties.add(self.municipal_coordinator)
        return parties


# What the application tells the domain about coordination (from the rules, as data):
# given the signallers of a new match and the municipality, who coordinates and by which rule.
ChooseCoordinator = Callable[[list[Party], str | None], tuple[Coordinator, str]]


@dataclass(frozen=True)
class MatchTerms:
    """The rule values a new match needs (computed by the application from the rules)."""

    choose_coordinator: ChooseCoordinator | None = None
    municipal_coordinator: Callable[[str | None], str | None] = lambda _: None
    reminder_after: Callable[[datetime], datetime] | None = None
    escalation_after: Callable[[datetime], datetime] | None = None
    min_partners: int = 2
    # How the match's parties reach a signaller (professional contact data only).
    contact_of: Callable[[Party], dict[str, str]] = lambda signaller: {
        "partner": signaller.partner,
        "role": signaller.role,
        "contact": signaller.contact,
    }


class MatchHolder(Aggregate):
    """A match and its coordination; shared by the child's and the household's signals.

    Events carry `child` (the subject they are published under) and `household` (None for a
    match on one child). Their mutators are idempotent, so a household match records each
    event once per child and the state changes once.
    """

    class MatchFound(Aggregate.Event):
        child: str
        match_id: uuid.UUID
        signal_ids: list[uuid.UUID]
        signallers: list[dict[str, str]]
        found_at: datetime
        # Added with the match life cycle; defaults keep earlier stored events readable.
        household: str | None = None
        municipality: str | None = None
        municipal_coordinator: str | None = None
        reminder_due_at: datetime | None = None
        escalation_due_at: datetime | None = None
        # Added with the match notification: how to reach each signaller, the coordinator,
        # and who is told. Never a concern.
        contacts: list[dict[str, str]] | None = None
        coordinator: dict[str, str] | None = None
        notify: list[str] | None = None

    class CoordinatorAssigned(Aggregate.Event):
        child: str
        household: str | None
        match_id: uuid.UUID
        coordinator: dict[str, str]
        rule: str
        previous: str | None
        assigned_at: datetime

    class ContactMade(Aggregate.Event):
        child: str
        household: str | None
        match_id: uuid.UUID
        partner: str
        contacted_on: date
        all_contacted: bool

    class ContactReminderSent(Aggregate.Event):
        child: str
        household: str | None
        match_id: uuid.UUID
        partners: list[str]
        due_at: datetime

    class ContactEscalated(Aggregate.Event):
        child: str
        household: str | None
        match_id: uuid.UUID
        partners: list[str]
        municipal_coordinator: str | None
        due_at: datetime

    class MatchEnded(Aggregate.Event):
        child: str
        household: str | None
        match_id: uuid.UUID
        ended_on: date

    # to be given by the subclasses

    @property
    def household_key(self) -> str | None:
        raise NotImplementedError

    @property
    def children_of_match(self) -> list[str]:
        raise NotImplementedError

    # commands

    # `self.match` is set by the subclasses' __init__: a class annotation at run time would
    # make it a field of their creation events.
    if TYPE_CHECKING:
        match: Match | None

    def _check_match(self, match_id: uuid.UUID) -> Match:
        if self.match is None or self.match.match_id != match_id:
            raise UnknownMatchError(f"match {match_id} is not current")
        return self.match

    def _open_match(
        self, signals: list[Signal], found_at: datetime, terms: MatchTerms, match_id: uuid.UUID
    ) -> None:
        signallers = _unique_signallers(signals)
        municipality = next((s.municipality for s in signals if s.municipality), None)
        municipal = terms.municipal_coordinator(municipality)
        reminder = terms.reminder_after(found_at) if terms.reminder_after else None
        escalation = terms.escalation_after(found_at) if terms.escalation_after else None
        children = self.children_of_match
        # A match that grows keeps its coordinator; a new one gets one by the rules.
        current = self.match if self.match and self.match.match_id == match_id else None
        coordinator = current.coordinator if current else None
        chosen: tuple[Coordinator, str] | None = None
        if coordinator is None and terms.choose_coordinator is not None:
            chosen = terms.choose_coordinator(signallers, municipality)
            coordinator = chosen[0]
        notify = {s.partner for s in signallers}
        notify |= {p for p in (municipal, coordinator and coordinator.partner) if p}
        for child in children:
            self._match_found(
                child=child,
                match_id=match_id,
                signal_ids=[s.signal_id for s in signals],
                signallers=[s.stored() for s in signallers],
                found_at=found_at,
                household=self.household_key,
                municipality=municipality,
                municipal_coordinator=municipal,
                reminder_due_at=reminder,
                escalation_due_at=escalation,
                contacts=[terms.contact_of(s) for s in signallers],
                coordinator=coordinator.stored() if coordinator else None,
                notify=sorted(notify),
            )
        if chosen is not None:
            coordinator, rule = chosen
            for child in children:
                self._coordinator_assigned(
                    child=child,
                    household=self.household_key,
                    match_id=match_id,
                    coordinator=coordinator.stored(),
                    rule=rule,
                    previous=None,
                    assigned_at=found_at,
                )

    def record_contact(self, match_id: uuid.UUID, partner: str, contacted_on: date) -> None:
        """A signaller reports it made contact with the other signallers."""
        match = self._check_match(match_id)
        if partner not in match.parties():
            raise NotAPartyError(f"partner {partner} is not a party to match {match_id}")
        if partner in match.contacted:
            return  # reported before: nothing new
        done = set(match.partners) <= match.contacted | {partner}
        for child in self.children_of_match:
            self._contact_made(
                child=child,
                household=self.household_key,
                match_id=match_id,
                partner=partner,
                contacted_on=contacted_on,
                all_contacted=done,
            )

    def change_coordinator(
        self, match_id: uuid.UUID, by: str, coordinator: Coordinator, at: datetime
    ) -> None:
        """A party to the match hands the coordination to another partner."""
        match = self._check_match(match_id)
        if by not in match.parties():
            raise NotAPartyError(f"partner {by} is not a party to match {match_id}")
        previous = match.coordinator.partner if match.coordinator else None
        for child in self.children_of_match:
            self._coordinator_assigned(
                child=child,
                household=self.household_key,
                match_id=match_id,
                coordinator=coordinator.stored(),
                rule="changed",
                previous=previous,
                assigned_at=at,
            )

    def _announce_lapse(self, before: Match | None, children: list[str], on: date) -> None:
        """Record that the match ended when the signals just ended made it lapse (the
        coordinator's key access ends with it)."""
        if before is not None and self.match is None:
            for child in children:
                self._match_ended(
                    child=child, household=self.household_key, match_id=before.match_id,
                    ended_on=on,
                )  # fmt: skip

    def remind(self, now: datetime) -> None:
        """Remind the signallers without contact, then escalate, when their times are due."""
        match = self.match
        if match is None or match.all_contacted:
            return
        if match.reminder_due_at and not match.reminded and now >= match.reminder_due_at:
            for child in self.children_of_match:
                self._contact_reminder_sent(
                    child=child,
                    household=self.household_key,
                    match_id=match.match_id,
                    partners=match.missing_contact,
                    due_at=match.reminder_due_at,
                )
        if match.escalation_due_at and not match.escalated and now >= match.escalation_due_at:
            for child in self.children_of_match:
                self._contact_escalated(
                    child=child,
                    household=self.household_key,
                    match_id=match.match_id,
                    partners=match.missing_contact,
                    municipal_coordinator=match.municipal_coordinator,
                    due_at=match.escalation_due_at,
                )

    def due(self) -> dict[str, datetime]:
        """When the match's contact reminder, then its escalation, is due (if still to come)."""
        match = self.match
        if match is None or match.all_contacted:
            return {}
        if not match.reminded and match.reminder_due_at:
            return {"contact": match.reminder_due_at}
        if not match.escalated and match.escalation_due_at:
            return {"contact": match.escalation_due_at}
        return {}

    # events

    @event(MatchFound)
    def _match_found(
        self,
        child: str,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        signallers: list[dict[str, str]],
        found_at: datetime,
        household: str | None = None,
        municipality: str | None = None,
        municipal_coordinator: str | None = None,
        reminder_due_at: datetime | None = None,
        escalation_due_at: datetime | None = None,
        contacts: list[dict[str, str]] | None = None,
        coordinator: dict[str, str] | None = None,
        notify: list[str] | None = None,
    ) -> None:
        partners = [s["partner"] for s in signallers]
        if self.match is not None and self.match.match_id == match_id:
            # The match grew: same coordinator, contact reports kept.
            self.match.partners = partners
            self.match.found_at = found_at
            self.match.reminder_due_at = reminder_due_at
            self.match.escalation_due_at = escalation_due_at
            self.match.reminded = self.match.escalated = False
        else:
            self.match = Match(
                match_id, partners, found_at, reminder_due_at, escalation_due_at,
                municipality, municipal_coordinator,
            )  # fmt: skip

    @event(CoordinatorAssigned)
    def _coordinator_assigned(
        self,
        child: str,
        household: str | None,
        match_id: uuid.UUID,
        coordinator: dict[str, str],
        rule: str,
        previous: str | None,
        assigned_at: datetime,
    ) -> None:
        if self.match is not None and self.match.match_id == match_id:
            self.match.coordinator = Coordinator.of(coordinator)

    @event(ContactMade)
    def _contact_made(
        self,
        child: str,
        household: str | None,
        match_id: uuid.UUID,
        partner: str,
        contacted_on: date,
        all_contacted: bool,
    ) -> None:
        if self.match is not None and self.match.match_id == match_id:
            self.match.contacted.add(partner)

    @event(ContactReminderSent)
    def _contact_reminder_sent(
        self,
        child: str,
        household: str | None,
        match_id: uuid.UUID,
        partners: list[str],
        due_at: datetime,
    ) -> None:
        if self.match is not None and self.match.match_id == match_id:
            self.match.reminded = True

    @event(MatchEnded)
    def _match_ended(
        self, child: str, household: str | None, match_id: uuid.UUID, ended_on: date
    ) -> None:
        # The withdrawal that made the match lapse cleared it already (also in events stored
        # before this event existed); this one tells the others.
        if self.match is not None and self.match.match_id == match_id:
            self.match = None

    @event(ContactEscalated)
    def _contact_escalated(
        self,
        child: str,
        household: str | None,
        match_id: uuid.UUID,
        partners: list[str],
        municipal_coordinator: str | None,
        due_at: datetime,
    ) -> None:
        if self.match is not None and self.match.match_id == match_id:
            self.match.escalated = True


class ChildSignals(PerChild, MatchHolder):
    """All signals about one child (by pseudonym), the match they make, and their history."""

    # The events, declared so the outbound translation can rely on their fields.

    class SignalRegistered(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        signaller: dict[str, str]
        registered_on: date
        planned_removal_on: date
        # The partner's event id: its sealed sections are bound to it, so the recorded
        # signal is published under the same id (and source `ketenbus.signalling`).
        event_id: uuid.UUID
        sealed: dict[str, str]
        # Added with the life-cycle rules; defaults keep earlier stored events readable.
        ends_on: date | None = None
        household: str | None = None
        municipality: str | None = None
        age_band: str | None = None

    class SignalWithdrawn(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        withdrawn_on: date
        reason: str

    class ParentsInformed(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        signaller: dict[str, str]
        registered_on: date
        audience: list[str]
        age_band: str | None

    class InformingConfirmed(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        audience: list[str]
        informed_on: date

    class InformingPostponed(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        ground: str
        until: date

    class InformingDue(Aggregate.Event):
        """The informing task as it stands, for the signaller's worklist (no ground)."""

        child: str
        signal_id: uuid.UUID
        partner: str
        audience: list[str]
        since: date
        postponed_until: date | None

    class HistoryNoticeGiven(Aggregate.Event):
        child: str
        signal_id: uuid.UUID
        partner: str
        earlier_signals: int
        last_ended_on: date | None
        earlier_partners: list[str]

    class HistoryExpired(Aggregate.Event):
        child: str
        signal_ids: list[uuid.UUID]

    class DeathRecorded(Aggregate.Event):
        child: str
        died_on: date

    class RiskInventoryRecorded(Aggregate.Event):
        child: str
        inventory_id: uuid.UUID
        recorded_by: dict[str, str]
        inventoried_on: date
        age_band: str
        participants: list[str]
        parents_involved: bool
        plan_needed: bool
        plan_due_on: date | None
        event_id: uuid.UUID
        sealed: dict[str, str]

    namespace, kind = NAMESPACE, "child-signals"

    def opened(self) -> None:
        self.signals: dict[uuid.UUID, Signal] = {}
        self.match: Match | None = None
        self.history_notified: set[str] = set()
        self.died_on: date | None = None
        self.risk_inventories: set[uuid.UUID] = set()

    @property
    def household_key(self) -> str | None:
        return None

    @property
    def children_of_match(self) -> list[str]:
        return [self.child]

    @property
    def match_id(self) -> uuid.UUID | None:
        return self.match.match_id if self.match else None

    @property
    def matched_partners(self) -> frozenset[str]:
        return frozenset(self.match.partners) if self.match else frozenset()

    # commands

    def register_signal(
        self,
        signal_id: uuid.UUID,
        signaller: Party,
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
        *,
        ends_on: date | None = None,
        household: str | None = None,
        municipality: str | None = None,
        age_band: str | None = None,
        audience: list[str] | None = None,
    ) -> None:
        """Register a concern; what it is about stays sealed (`sealed`: purpose → JWE).

        `ends_on`: when it expires at the latest (planned removal date within the cap);
        `audience`: who is to be told (parents, child) by the parent view; None: nobody.
        """
        if self.died_on is not None:
            raise ChildDeceasedError("the child's death was reported: no new signals")
        if signal_id in self.signals:
            raise SignalAlreadyRegisteredError(f"signal {signal_id} is already registered")
        if planned_removal_on <= registered_on:
            raise InvalidRemovalDateError("planned removal date must lie after registration")
        partner = signaller.partner
        history = [s for s in self.signals.values() if not s.active]
        first_of_partner = partner not in {s.partner for s in self.signals.values()}
        self._signal_registered(
            child=self.child,
            signal_id=signal_id,
            signaller=signaller.stored(),
            registered_on=registered_on,
            planned_removal_on=planned_removal_on,
            event_id=event_id,
            sealed=sealed,
            ends_on=min(ends_on or planned_removal_on, planned_removal_on),
            household=household,
            municipality=municipality,
            age_band=age_band,
        )
        if history and first_of_partner and partner not in self.history_notified:
            ended = [s.ended_on for s in history if s.ended_on]
            self._history_notice_given(
                child=self.child,
                signal_id=signal_id,
                partner=partner,
                earlier_signals=len(history),
                last_ended_on=max(ended) if ended else None,
                earlier_partners=sorted({s.partner for s in history}),
            )
        if audience is not None:
            self._parents_informed(
                child=self.child,
                signal_id=signal_id,
                signaller=signaller.stored(),
                registered_on=registered_on,
                audience=audience,
                age_band=age_band,
            )
            self._task_changed(self.signals[signal_id], since=registered_on)

    # informing the parents and/or the child: a task, confirmed or postponed on a ground

    def _own_active(self, signal_id: uuid.UUID, partner: str) -> Signal:
        signal = self.signals.get(signal_id)
        if signal is None:
            raise UnknownSignalError(f"signal {signal_id} is not registered on this child")
        if signal.signaller.partner != partner:
            raise NotTheSignallerError(f"partner {partner} did not register signal {signal_id}")
        return signal

    def confirm_informing(
        self, signal_id: uuid.UUID, partner: str, audience: list[str], informed_on: date
    ) -> None:
        signal = self._own_active(signal_id, partner)
        if not set(audience) <= set(signal.to_inform):
            raise InformingError(f"only {list(signal.to_inform)} are to be told of this signal")
        self._informing_confirmed(
            child=self.child,
            signal_id=signal_id,
            audience=sorted(audience),
            informed_on=informed_on,
        )
        self._task_changed(signal)

    def postpone_informing(
        self, signal_id: uuid.UUID, partner: str, ground: str, until: date, today: date
    ) -> None:
        signal = self._own_active(signal_id, partner)
        if not signal.uninformed:
            raise InformingError("everyone to be told of this signal was told")
        if until <= today:
            raise InformingError("a postponement runs until a later day")
        self._informing_postponed(child=self.child, signal_id=signal_id, ground=ground, until=until)
        self._task_changed(signal)

    def declare_age_band(
        self,
        signal_id: uuid.UUID,
        partner: str,
        age_band: str,
        audience: list[str],
        declared_on: date | None = None,
    ) -> None:
        """The child crossed 12 or 16: whoever is now to be told and was not becomes a task,
        from the day it was declared."""
        signal = self._own_active(signal_id, partner)
        new = sorted(set(audience) - set(signal.to_inform))
        if signal.active and new:
            self._parents_informed(
                child=self.child,
                signal_id=signal_id,
                signaller=signal.signaller.stored(),
                registered_on=signal.registered_on,
                audience=new,
                age_band=age_band,
            )
            self._task_changed(signal, since=declared_on or signal.registered_on)

    def _task_changed(self, signal: Signal, since: date | None = None) -> None:
        """The informing task as it now stands (whom still to tell, since, postponed until),
        for the signaller's worklist; a new task starts `since`."""
        self._informing_due(
            child=self.child,
            signal_id=signal.signal_id,
            partner=signal.partner,
            audience=list(signal.uninformed),
            since=since or signal.informing_since or signal.registered_on,
            postponed_until=signal.postponed[1] if signal.postponed else None,
        )

    def withdraw_signal(
        self, signal_id: uuid.UUID, partner: str, withdrawn_on: date, reason: str
    ) -> Signal:
        signal = self.signals.get(signal_id)
        if signal is None:
            raise UnknownSignalError(f"signal {signal_id} is not registered on this child")
        if not signal.active:
            raise SignalNotActiveError(f"signal {signal_id} is no longer active")
        if signal.signaller.partner != partner:
            raise NotTheSignallerError(f"partner {partner} did not register signal {signal_id}")
        before = self.match
        self._signal_withdrawn(
            child=self.child, signal_id=signal_id, withdrawn_on=withdrawn_on, reason=reason
        )
        self._announce_lapse(before, [self.child], withdrawn_on)
        return signal

    def expire(self, today: date) -> list[Signal]:
        """End the active signals whose time is up (planned removal date, 2-year cap)."""
        due = [s for s in self.active_signals if (s.ends_on or s.planned_removal_on) <= today]
        before = self.match
        for signal in due:
            self._signal_withdrawn(
                child=self.child,
                signal_id=signal.signal_id,
                withdrawn_on=signal.ends_on or signal.planned_removal_on,
                reason="expired",
            )
        self._announce_lapse(before, [self.child], today)
        return due

    def record_death(self, died_on: date) -> list[Signal]:
        """End every active signal; no new ones. Idempotent."""
        if self.died_on is not None:
            return []
        ending = self.active_signals
        before = self.match
        self._death_recorded(child=self.child, died_on=died_on)
        for signal in ending:
            self._signal_withdrawn(
                child=self.child, signal_id=signal.signal_id, withdrawn_on=died_on,
                reason="deceased",
            )  # fmt: skip
        self._announce_lapse(before, [self.child], died_on)
        return ending

    def find_match(self, found_at: datetime, terms: MatchTerms | None = None) -> bool:
        """Record a match when two or more partners have an active signal and the set grew."""
        terms = terms or MatchTerms()
        partners = self.active_partners
        if len(partners) < terms.min_partners or partners <= self.matched_partners:
            return False
        match_id = self.match_id or uuid.uuid5(NAMESPACE, f"match/{self.child}/{found_at}")
        self._open_match(self.active_signals, found_at, terms, match_id)
        return True

    def forget_history(self, retention_ends: Callable[[date], date], today: date) -> None:
        """Drop ended signals whose retention (from their end) has passed."""
        expired = [
            s.signal_id
            for s in self.signals.values()
            if not s.active and s.ended_on and retention_ends(s.ended_on) <= today
        ]
        if expired:
            self._history_expired(child=self.child, signal_ids=expired)

    def record_risk_inventory(
        self,
        inventory_id: uuid.UUID,
        recorded_by: Party,
        inventoried_on: date,
        age_band: str,
        participants: list[str],
        parents_involved: bool,
        plan_needed: bool,
        plan_due_on: date | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        if inventory_id in self.risk_inventories:
            raise RiskInventoryAlreadyRecordedError(f"risk inventory {inventory_id} exists")
        self._risk_inventory_recorded(
            child=self.child,
            inventory_id=inventory_id,
            recorded_by=recorded_by.stored(),
            inventoried_on=inventoried_on,
            age_band=age_band,
            participants=participants,
            parents_involved=parents_involved,
            plan_needed=plan_needed,
            plan_due_on=plan_due_on,
            event_id=event_id,
            sealed=sealed,
        )

    # queries

    @property
    def active_signals(self) -> list[Signal]:
        return [s for s in self.signals.values() if s.active]

    @property
    def active_partners(self) -> frozenset[str]:
        return frozenset(s.partner for s in self.signals.values() if s.active)

    @property
    def history(self) -> list[Signal]:
        return [s for s in self.signals.values() if not s.active]

    def due_with(self, retention_ends: Callable[[date], date]) -> dict[str, datetime]:
        """When the tick next has something to do here: a signal expires, the match's contact
        is late, ended signals' history is to be forgotten."""
        due = self.due()
        expiries = [start_of(s.ends_on or s.planned_removal_on) for s in self.active_signals]
        forgotten = [start_of(retention_ends(s.ended_on)) for s in self.history if s.ended_on]
        if expiries:
            due["expiry"] = min(expiries)
        if forgotten:
            due["history"] = min(forgotten)
        return due

    @property
    def is_empty(self) -> bool:
        """Nothing left to keep: no signals, no history (the aggregate may be deleted)."""
        return not self.signals and not self.risk_inventories

    # events

    @event(SignalRegistered)
    def _signal_registered(
        self,
        child: str,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
        ends_on: date | None = None,
        household: str | None = None,
        municipality: str | None = None,
        age_band: str | None = None,
    ) -> None:
        self.signals[signal_id] = Signal(
            signal_id, Party.of(signaller), registered_on, planned_removal_on,
            ends_on=ends_on, household=household, municipality=municipality,
        )  # fmt: skip

    @event(SignalWithdrawn)
    def _signal_withdrawn(
        self, child: str, signal_id: uuid.UUID, withdrawn_on: date, reason: str
    ) -> None:
        signal = self.signals[signal_id]
        signal.active = False
        signal.ended_on = withdrawn_on
        signal.end_reason = reason
        if len(self.active_partners) < 2:
            # The match lapses; a later second signaller makes a new one.
            self.match = None

    @event(ParentsInformed)
    def _parents_informed(
        self,
        child: str,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        audience: list[str],
        age_band: str | None,
    ) -> None:
        signal = self.signals.get(signal_id)
        if signal is not None:
            signal.to_inform = tuple(sorted({*signal.to_inform, *audience}))
            signal.postponed = None

    @event(InformingConfirmed)
    def _informing_confirmed(
        self, child: str, signal_id: uuid.UUID, audience: list[str], informed_on: date
    ) -> None:
        signal = self.signals[signal_id]
        signal.informed = tuple(sorted({*signal.informed, *audience}))

    @event(InformingPostponed)
    def _informing_postponed(
        self, child: str, signal_id: uuid.UUID, ground: str, until: date
    ) -> None:
        self.signals[signal_id].postponed = (ground, until)

    @event(InformingDue)
    def _informing_due(
        self,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        audience: list[str],
        since: date,
        postponed_until: date | None,
    ) -> None:
        self.signals[signal_id].informing_since = since

    @event(HistoryNoticeGiven)
    def _history_notice_given(
        self,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        earlier_signals: int,
        last_ended_on: date | None,
        earlier_partners: list[str],
    ) -> None:
        self.history_notified.add(partner)

    @event(HistoryExpired)
    def _history_expired(self, child: str, signal_ids: list[uuid.UUID]) -> None:
        for signal_id in signal_ids:
            self.signals.pop(signal_id, None)

    @event(DeathRecorded)
    def _death_recorded(self, child: str, died_on: date) -> None:
        self.died_on = died_on

    @event(RiskInventoryRecorded)
    def _risk_inventory_recorded(
        self,
        child: str,
        inventory_id: uuid.UUID,
        recorded_by: dict[str, str],
        inventoried_on: date,
        age_band: str,
        participants: list[str],
        parents_involved: bool,
        plan_needed: bool,
        plan_due_on: date | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        self.risk_inventories.add(inventory_id)


class HouseholdSignals(MatchHolder):
    """The active signals on the children of one household, and the household match.

    A household match needs signals of two or more partners on two or more children (signals
    of several partners on one child are that child's match already).
    """

    @staticmethod
    def create_id(household: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"household-signals/{household}")

    class SignalJoined(Aggregate.Event):
        signal_id: uuid.UUID
        child: str
        signaller: dict[str, str]
        municipality: str | None

    class SignalLeft(Aggregate.Event):
        signal_id: uuid.UUID

    @event("Opened")
    def __init__(self, household: str) -> None:
        self.household = household
        self.signals: dict[uuid.UUID, Signal] = {}
        self.children: dict[uuid.UUID, str] = {}
        self.match: Match | None = None

    @property
    def household_key(self) -> str | None:
        return self.household

    @property
    def children_of_match(self) -> list[str]:
        return sorted(set(self.children.values()))

    def join(
        self, signal_id: uuid.UUID, child: str, signaller: Party, municipality: str | None
    ) -> None:
        if signal_id not in self.signals:
            self._signal_joined(
                signal_id=signal_id,
                child=child,
                signaller=signaller.stored(),
                municipality=municipality,
            )

    def leave(self, signal_id: uuid.UUID, on: date) -> None:
        if signal_id in self.signals:
            before, children = self.match, self.children_of_match
            self._signal_left(signal_id=signal_id)
            self._announce_lapse(before, children, on)

    def find_match(self, found_at: datetime, terms: MatchTerms) -> bool:
        partners = frozenset(s.partner for s in self.signals.values())
        matched = frozenset(self.match.partners) if self.match else frozenset()
        if (
            len(partners) < terms.min_partners
            or len(set(self.children.values())) < 2
            or partners <= matched
        ):
            return False
        match_id = (self.match.match_id if self.match else None) or uuid.uuid5(
            NAMESPACE, f"household-match/{self.household}/{found_at}"
        )
        self._open_match(list(self.signals.values()), found_at, terms, match_id)
        return True

    @property
    def is_empty(self) -> bool:
        return not self.signals

    @event(SignalJoined)
    def _signal_joined(
        self,
        signal_id: uuid.UUID,
        child: str,
        signaller: dict[str, str],
        municipality: str | None,
    ) -> None:
        self.signals[signal_id] = Signal(
            signal_id, Party.of(signaller), date.min, date.max, municipality=municipality
        )
        self.children[signal_id] = child

    @event(SignalLeft)
    def _signal_left(self, signal_id: uuid.UUID) -> None:
        self.signals.pop(signal_id, None)
        self.children.pop(signal_id, None)
        partners = {s.partner for s in self.signals.values()}
        if len(partners) < 2 or len(set(self.children.values())) < 2:
            self.match = None


class Agenda(Aggregate):
    """Retired: when each child's or household's signals were next due, before the due-at
    table. Never written now; its stored events still load (an existing store's outbox and
    audit read them) and mean nothing."""

    class Scheduled(Aggregate.Event):
        key: str
        at: datetime

    class Unscheduled(Aggregate.Event):
        key: str

    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}


def _unique_signallers(signals: list[Signal]) -> list[Party]:
    seen: dict[str, Party] = {}
    for signal in signals:
        seen.setdefault(signal.partner, signal.signaller)
    return list(seen.values())

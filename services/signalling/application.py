"""The signalling application: loads a child's (and household's) signals, checks the clear codes
against the rules, applies the command, records it; and runs the time-driven rules (`tick`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import structlog
from eventsourcing.application import AggregateNotFoundError

from services.runtime.service import RuledApplication
from services.runtime.store import Batch
from services.signalling.domain import (
    ChildSignals,
    Coordinator,
    HouseholdSignals,
    MatchHolder,
    MatchTerms,
    Party,
    SignallingError,
    UnknownMatchError,
)
from services.signalling.rules import SignallingRules, load_rules
from services.signalling.vindplaatsen import VindplaatsRegister, load_vindplaatsen

log = structlog.get_logger(__name__)


class SignallerMismatchError(SignallingError):
    """A partner may only register signals in its own name."""


class UnknownPartnerError(SignallingError):
    """The partner is not in the partner register (infra/partners.yaml)."""


class RoleNotAllowedError(SignallingError):
    """The partner's registered role may not do this (rules.yaml)."""


class AgeBandRequiredError(SignallingError):
    """A signal without the child's age band: who must be informed cannot be told."""


class UnknownCodeError(SignallingError):
    """A code in clear (age band, municipality, reason, risk factor) the rules do not define."""


class SignallingApplication(RuledApplication[SignallingRules]):
    name = "signalling"
    refusals: ClassVar[tuple[type[Exception], ...]] = (SignallingError,)
    scheduled = True

    def __init__(
        self, *args: Any, vindplaatsen: VindplaatsRegister | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.vindplaatsen = vindplaatsen or load_vindplaatsen()

    def default_rules(self) -> SignallingRules:
        return load_rules()

    def due_at(self, aggregate: Any) -> Mapping[str, datetime] | None:
        if isinstance(aggregate, ChildSignals):
            return aggregate.due_with(self.rules.history_retention.after_date)
        if isinstance(aggregate, HouseholdSignals):
            return aggregate.due()
        return None

    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        """The child's signals, and its household's where the message names one."""
        ids = [ChildSignals.create_id(message.subject)]
        household = getattr(message.data, "household", None)
        if household is not None:
            ids.append(HouseholdSignals.create_id(household))
        return ids

    # helpers

    def _signals(self, batch: Batch | None, child: str) -> ChildSignals:
        return self.load(batch, ChildSignals, child)

    def _household(self, batch: Batch | None, household: str) -> HouseholdSignals:
        return self.load(batch, HouseholdSignals, household)

    def _terms(self) -> MatchTerms:
        rules = self.rules
        return MatchTerms(
            choose_coordinator=rules.choose_coordinator,
            municipal_coordinator=rules.municipal_coordinator,
            reminder_after=rules.reminder_after.after,
            escalation_after=rules.escalation_after.after,
            min_partners=rules.matching.min_partners,
            contact_of=self.vindplaatsen.match_contact,
        )

    def _role(self, partner: str) -> str:
        role = self.rules.role_of(partner)
        if role is None:
            raise UnknownPartnerError(f"partner {partner} is not registered")
        return role

    def _require_role(self, partner: str, allowed: list[str], what: str) -> None:
        role = self._role(partner)
        if role not in allowed:
            raise RoleNotAllowedError(f"role {role} of partner {partner} may not {what}")

    def _joined_household(self, batch: Batch, household: str) -> HouseholdSignals | None:
        """The household's signals if any signal ever joined them (None: none did). Never a
        new one: a signal naming a household joins it only under household matching, and an
        empty household recorded on a withdrawal would be a write to an aggregate that is no
        child's, shared by the partitions of its children."""
        try:
            household_signals: HouseholdSignals = batch.load(HouseholdSignals.create_id(household))
        except AggregateNotFoundError:
            return None
        return household_signals

    def _leave_household(self, batch: Batch, signals: ChildSignals, ended: list[Any]) -> None:
        for signal in ended:
            if signal.household:
                household = self._joined_household(batch, signal.household)
                if household is not None:
                    household.leave(signal.signal_id, signal.ended_on)

    # commands

    def register_signal(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        signaller: Party,
        registered_on: date,
        planned_removal_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
        household: str | None = None,
        municipality: str | None = None,
        age_band: str | None = None,
        batch: Batch | None = None,
    ) -> None:
        rules = self.rules
        self._require_role(signaller.partner, rules.signalling.signaller_roles, "signal")
        if age_band is None:
            raise AgeBandRequiredError("a signal declares the child's age band (who is informed)")
        if age_band not in rules.age_bands:
            limit = rules.lifecycle.age_limit_years
            raise UnknownCodeError(f"unknown age band {age_band!r} (no signals from age {limit})")
        if municipality is not None and municipality not in rules.coordinator.municipalities:
            raise UnknownCodeError(f"unknown municipality {municipality!r}")
        if signaller.vindplaats and self.vindplaatsen.of_signaller(signaller) is None:
            raise UnknownCodeError("the signal names a vindplaats its partner does not have")
        audience: list[str] = list(rules.age_bands[age_band].inform)
        ends_on = rules.max_signal_duration.after_date(registered_on)
        now = self.clock()

        def work(batch: Batch) -> None:
            signals = self._signals(batch, child)
            signals.register_signal(
                signal_id, signaller, registered_on, planned_removal_on, event_id, sealed,
                ends_on=ends_on, household=household, municipality=municipality,
                age_band=age_band, audience=audience,
            )  # fmt: skip
            log.info("signal_registered", signal_id=str(signal_id), partner=signaller.partner)
            if signals.find_match(now, self._terms()):
                log.info("match_found", match_id=str(signals.match_id))
            if household is not None and rules.matching.household_matching:
                home = self._household(batch, household)
                home.join(signal_id, child, signaller, municipality)
                if home.find_match(now, self._terms()):
                    log.info(
                        "household_match_found", match_id=str(home.match and home.match.match_id)
                    )

        self.run(batch, work)

    def withdraw_signal(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        withdrawn_on: date,
        reason: str,
        batch: Batch | None = None,
    ) -> None:
        if reason not in self.rules.withdrawal.partner_reasons:
            raise UnknownCodeError(f"a partner may not withdraw with reason {reason!r}")

        def work(batch: Batch) -> None:
            signals = self._signals(batch, child)
            signal = signals.withdraw_signal(signal_id, partner, withdrawn_on, reason)
            self._leave_household(batch, signals, [signal])

        self.run(batch, work)
        log.info("signal_withdrawn", signal_id=str(signal_id), partner=partner)

    def confirm_informing(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        audience: list[str],
        informed_on: date,
        batch: Batch | None = None,
    ) -> None:
        self.run(
            batch,
            lambda b: self._signals(b, child).confirm_informing(
                signal_id, partner, audience, informed_on
            ),
        )

    def postpone_informing(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        ground: str,
        until: date,
        batch: Batch | None = None,
    ) -> None:
        if ground not in self.rules.informing.postpone_grounds:
            raise UnknownCodeError(
                f"a ground to postpone is one of {self.rules.informing.postpone_grounds}"
            )
        today = self.clock().date()
        self.run(
            batch,
            lambda b: self._signals(b, child).postpone_informing(
                signal_id, partner, ground, until, today
            ),
        )

    def declare_age_band(
        self,
        *,
        child: str,
        signal_id: uuid.UUID,
        partner: str,
        age_band: str,
        declared_on: date | None = None,
        batch: Batch | None = None,
    ) -> None:
        if age_band not in self.rules.age_bands:
            limit = self.rules.lifecycle.age_limit_years
            raise UnknownCodeError(f"unknown age band {age_band!r} (no signals from age {limit})")
        audience: list[str] = list(self.rules.age_bands[age_band].inform)
        self.run(
            batch,
            lambda b: self._signals(b, child).declare_age_band(
                signal_id, partner, age_band, audience, declared_on
            ),
        )

    def record_death(
        self, *, child: str, partner: str, died_on: date, batch: Batch | None = None
    ) -> None:
        self._require_role(partner, self.rules.death.reporting_roles, "report a death")

        def work(batch: Batch) -> None:
            signals = self._signals(batch, child)
            ended = signals.record_death(died_on)
            self._leave_household(batch, signals, ended)

        self.run(batch, work)
        log.info("death_recorded", partner=partner)

    def _match_holder(self, batch: Batch, child: str, household: str | None) -> MatchHolder:
        if household is None:
            return self._signals(batch, child)
        home = self._joined_household(batch, household)
        if home is None or child not in home.children.values():
            raise UnknownMatchError("the child has no active signal in this household")
        return home

    def record_contact(
        self,
        *,
        child: str,
        match_id: uuid.UUID,
        household: str | None,
        partner: str,
        contacted_on: date,
        batch: Batch | None = None,
    ) -> None:
        def work(batch: Batch) -> None:
            holder = self._match_holder(batch, child, household)
            holder.record_contact(match_id, partner, contacted_on)

        self.run(batch, work)
        log.info("contact_recorded", match_id=str(match_id), partner=partner)

    def change_coordinator(
        self,
        *,
        child: str,
        match_id: uuid.UUID,
        household: str | None,
        by: str,
        coordinator: Coordinator,
        batch: Batch | None = None,
    ) -> None:
        self._role(by)
        self._require_role(coordinator.partner, self.rules.signalling.signaller_roles, "coordinate")
        now = self.clock()

        def work(batch: Batch) -> None:
            holder = self._match_holder(batch, child, household)
            holder.change_coordinator(match_id, by, coordinator, now)

        self.run(batch, work)
        log.info("coordinator_changed", match_id=str(match_id), partner=coordinator.partner)

    def record_risk_inventory(
        self,
        *,
        child: str,
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
        batch: Batch | None = None,
    ) -> None:
        rules = self.rules.risk_inventory
        self._require_role(recorded_by.partner, rules.recorder_roles, "record a risk inventory")
        if age_band not in rules.age_bands:
            raise UnknownCodeError(f"a risk inventory is for age bands {rules.age_bands}")
        for participant in participants:
            self._role(participant)
        if plan_needed and plan_due_on is None:
            plan_due_on = self.rules.plan_due_after.after_date(inventoried_on)

        def work(batch: Batch) -> None:
            self._signals(batch, child).record_risk_inventory(
                inventory_id, recorded_by, inventoried_on, age_band, participants,
                parents_involved, plan_needed, plan_due_on, event_id, sealed,
            )  # fmt: skip

        self.run(batch, work)
        log.info("risk_inventory_recorded", inventory_id=str(inventory_id))

    # time-driven rules

    def tick(self, now: datetime) -> None:
        """Expire signals, remind and escalate late contact, forget old history: whatever the
        due-at table says is due by `now`. Children with nothing left are deleted from the
        store."""
        batch = Batch(self.repository)
        retention = self.rules.history_retention.after_date
        empty: list[ChildSignals] = []
        for aggregate_id in self.due_by(now):
            holder: MatchHolder = batch.load(aggregate_id)
            if isinstance(holder, ChildSignals):
                ended = holder.expire(now.date())
                self._leave_household(batch, holder, ended)
                holder.remind(now)
                holder.forget_history(retention, now.date())
                if holder.is_empty:
                    empty.append(holder)
            else:
                holder.remind(now)
        self.save(*batch.aggregates)
        for signals in empty:
            # Metadata kept for the retention period only: then the events themselves go
            # (SQLite, PostgreSQL; the in-memory store of the unit tests has no table). On
            # many instances a partition's instance may have recorded a new signal on the
            # child since: then the child is no longer empty and stays.
            if not hasattr(self.recorder, "events_table_name"):
                continue
            if self.purge(signals.id, signals.version):
                log.info("history_deleted", aggregate_id=str(signals.id))
            else:
                log.info("history_kept_signalled_again", aggregate_id=str(signals.id))

    # queries

    def signals_of(self, child: str) -> ChildSignals:
        return self._signals(None, child)

    def household_of(self, household: str) -> HouseholdSignals:
        return self._household(None, household)

"""The arrangements around one child: support requests, TLVs, OPPs, youth-care decisions,
combined education-care arrangements with their funding, disputes and their escalation to
the holders of doorzettingsmacht, Variawet requests, regie, and the reminders of the clock.

Rules come from the seeds (000 ambitie 2-3 and 5, 003, 004) and the law; who may decide what,
the funding scheme and the periods are data (`Rules`, loaded from infra/arrangements). Commands
check every rule before they record anything, and raise a named `ArrangementsError` with a
reason a partner can act on. No I/O here.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any, NamedTuple

from eventsourcing.domain import Aggregate, event

from services.arrangements.rules import Rules
from services.runtime.aggregate import PerChild


class Reminder(NamedTuple):
    """A reminder ahead of `due_on`, to be sent from `start` on, once (`key`)."""

    about: str
    ref_id: uuid.UUID
    due_on: date
    start: date
    to: list[str]
    key: str


NAMESPACE = uuid.UUID("8d1b2c4e-5a3f-4e61-9b7a-617272616e67")

PAYERS = ("school", "swv", "municipality")


class ArrangementsError(Exception):
    """A business rule of arrangements refused the command."""


class NotEntitledError(ArrangementsError):
    """The partner's role may not take this decision (e.g. a school issuing a TLV)."""


class PartyMismatchError(ArrangementsError):
    """A partner may only decide in its own name."""


class InvalidDatesError(ArrangementsError):
    """Dates that make no sense: an end before a start, a decision in the future, …"""


class AlreadyRecordedError(ArrangementsError):
    """A decision with this id was recorded before."""


class UnknownReferenceError(ArrangementsError):
    """The OPP, arrangement or dispute referred to is not known for this child."""


class InvalidFundingError(ArrangementsError):
    """A funding split must name known payers and add up to 100%."""


class UnknownRegionError(ArrangementsError):
    """No holders of doorzettingsmacht are registered for the region."""


class NotAPartyError(ArrangementsError):
    """Only a party to the arrangement may dispute its funding."""


class DisputeStateError(ArrangementsError):
    """The dispute is not open (already decided), or another one is open."""


class NotAHolderError(ArrangementsError):
    """Only a holder of doorzettingsmacht of the region may decide a dispute."""


class VariawetError(ArrangementsError):
    """Reduced teaching time needs an OPP, hours a week, a period and a plan back to full time."""


def _entitled(rules: Rules, decision: str, partner: str, role: str | None) -> None:
    if not rules.may(decision, role):
        allowed = ", ".join(sorted(rules.entitled.get(decision, ()))) or "nobody"
        raise NotEntitledError(
            f"{partner} (role {role or 'unregistered'}) may not decide {decision}: "
            f"only {allowed} may"
        )


def _same(source: str, named: str, what: str) -> None:
    if source != named:
        raise PartyMismatchError(f"{what} must be the publishing partner ({source}), not {named}")


def _not_future(on: date, today: date, what: str) -> None:
    if on > today:
        raise InvalidDatesError(f"{what} {on} lies in the future (today is {today})")


def _period(start: date, end: date, what: str) -> None:
    if end <= start:
        raise InvalidDatesError(f"{what} ends ({end}) on or before it starts ({start})")


def check_split(split: list[dict[str, Any]]) -> None:
    payers = [s["payer"] for s in split]
    if not split or len(set(payers)) != len(payers) or not set(payers) <= set(PAYERS):
        raise InvalidFundingError(
            "a funding split names each payer (school, swv, municipality) once"
        )
    if sum(int(s["percent"]) for s in split) != 100:
        raise InvalidFundingError("a funding split must add up to 100%")


class ChildArrangements(PerChild):
    """Every arrangement decision about one child (by pseudonym)."""

    class SupportRequested(Aggregate.Event):
        child: str
        request_id: uuid.UUID
        school: dict[str, str]
        swv: str
        requested_on: date
        kind: str
        # The partner's event id: its sealed sections are bound to it, so the recorded
        # decision is published under the same id.
        event_id: uuid.UUID
        sealed: dict[str, str]

    class TlvIssued(Aggregate.Event):
        child: str
        tlv_id: uuid.UUID
        beschikkingsnummer: str
        swv_number: str
        categorie: str
        start_on: date
        end_on: date
        swv: dict[str, str]
        school: str | None
        request_id: uuid.UUID | None
        event_id: uuid.UUID
        sealed: dict[str, str]

    class OppDrawnUp(Aggregate.Event):
        child: str
        opp_id: uuid.UUID
        school: str
        regie: dict[str, str]
        drawn_up_on: date
        review_dates: list[date]
        event_id: uuid.UUID
        sealed: dict[str, str]

    class YouthCareDecided(Aggregate.Event):
        child: str
        decision_id: uuid.UUID
        beschikkingsnummer: str
        access_team: dict[str, str]
        provider: dict[str, str]
        start_on: date
        end_on: date
        regie: dict[str, str]
        event_id: uuid.UUID
        sealed: dict[str, str]

    class ArrangementAgreed(Aggregate.Event):
        child: str
        arrangement_id: uuid.UUID
        kind: str
        region: str
        parties: list[dict[str, str]]
        start_on: date
        end_on: date
        funding: list[dict[str, Any]]
        funding_basis: str
        event_id: uuid.UUID
        sealed: dict[str, str]

    class FundingDisputed(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        raised_by: str
        raised_on: date
        proposed: list[dict[str, Any]] | None
        event_id: uuid.UUID
        sealed: dict[str, str]

    class DisputeEscalated(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        region: str
        holders: list[dict[str, str]]
        escalated_on: date
        deadline: date

    class DisputeDecided(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        decided_by: str
        decided_on: date
        funding: list[dict[str, Any]]
        event_id: uuid.UUID
        sealed: dict[str, str]

    class DisputeDeadlinePassed(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        deadline: date
        holders: list[dict[str, str]]

    class ReducedTeachingTimeRequested(Aggregate.Event):
        child: str
        request_id: uuid.UUID
        school: str
        opp_id: uuid.UUID
        requested_on: date
        hours_per_week: float
        start_on: date
        end_on: date
        back_to_full_time: list[dict[str, Any]]
        earlier_request: bool
        event_id: uuid.UUID
        sealed: dict[str, str]

    class RegieChanged(Aggregate.Event):
        child: str
        domain: str
        ref_id: uuid.UUID
        regie: dict[str, str]
        changed_on: date
        event_id: uuid.UUID

    class ReminderDue(Aggregate.Event):
        child: str
        about: str
        ref_id: uuid.UUID
        due_on: date
        to: list[str]
        # What the reminder is for, so the clock sends each one once.
        key: str

    namespace, kind = NAMESPACE, "child-arrangements"

    def opened(self) -> None:
        self.requests: dict[uuid.UUID, dict[str, Any]] = {}
        self.tlvs: dict[uuid.UUID, dict[str, Any]] = {}
        self.opps: dict[uuid.UUID, dict[str, Any]] = {}
        self.youth_care: dict[uuid.UUID, dict[str, Any]] = {}
        self.arrangements: dict[uuid.UUID, dict[str, Any]] = {}
        self.disputes: dict[uuid.UUID, dict[str, Any]] = {}
        self.reduced_time: dict[uuid.UUID, dict[str, Any]] = {}
        self.reminded: set[str] = set()

    # commands -------------------------------------------------------------------------

    def request_support(
        self,
        *,
        source: str,
        role: str | None,
        request_id: uuid.UUID,
        school: dict[str, str],
        swv: str,
        requested_on: date,
        kind: str,
        today: date,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """The school (IB'er) asks the SWV for support beyond basic support."""
        _entitled(rules, "support-request", source, role)
        _same(source, school["partner"], "the requesting school")
        if request_id in self.requests:
            raise AlreadyRecordedError(f"support request {request_id} is already recorded")
        if rules.role_of(swv) != "swv":
            raise UnknownReferenceError(f"{swv} is not a registered samenwerkingsverband")
        if kind not in rules.funding_scheme:
            raise InvalidFundingError(f"kind of support {kind!r} is not in the decision scheme")
        _not_future(requested_on, today, "the request date")
        self._support_requested(
            child=self.child, request_id=request_id, school=school, swv=swv,
            requested_on=requested_on, kind=kind, event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def issue_tlv(
        self,
        *,
        source: str,
        role: str | None,
        tlv_id: uuid.UUID,
        beschikkingsnummer: str,
        swv_number: str,
        categorie: str,
        start_on: date,
        end_on: date,
        swv: dict[str, str],
        school: str | None,
        request_id: uuid.UUID | None,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """The SWV issues a TLV for a period (OSO: tlvingangdatum … tlveinddatum)."""
        _entitled(rules, "tlv", source, role)
        _same(source, swv["partner"], "the issuing SWV")
        if tlv_id in self.tlvs:
            raise AlreadyRecordedError(f"TLV {tlv_id} is already recorded")
        if any(t["beschikkingsnummer"] == beschikkingsnummer for t in self.tlvs.values()):
            raise AlreadyRecordedError(f"beschikkingsnummer {beschikkingsnummer} is already used")
        if request_id is not None and request_id not in self.requests:
            raise UnknownReferenceError(f"support request {request_id} is not known")
        _period(start_on, end_on, "the TLV")
        days = (end_on - start_on).days
        if not rules.tlv_min_days <= days <= rules.tlv_max_days:
            raise InvalidDatesError(
                f"a TLV runs {rules.tlv_min_days} to {rules.tlv_max_days} days, not {days}"
            )
        self._tlv_issued(
            child=self.child, tlv_id=tlv_id, beschikkingsnummer=beschikkingsnummer,
            swv_number=swv_number, categorie=categorie, start_on=start_on, end_on=end_on,
            swv=swv, school=school, request_id=request_id, event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def draw_up_opp(
        self,
        *,
        source: str,
        role: str | None,
        opp_id: uuid.UUID,
        school: str,
        regie: dict[str, str],
        drawn_up_on: date,
        review_dates: list[date],
        today: date,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """The school draws up (or revises, same id) the OPP; the IB'er holds regie on it."""
        _entitled(rules, "opp", source, role)
        _same(source, school, "the school of the OPP")
        existing = self.opps.get(opp_id)
        if existing is not None and existing["school"] != school:
            raise PartyMismatchError(f"OPP {opp_id} belongs to {existing['school']}")
        _not_future(drawn_up_on, today, "the OPP date")
        if sorted(set(review_dates)) != review_dates:
            raise InvalidDatesError("review dates must be distinct and in order")
        if review_dates[0] <= drawn_up_on:
            raise InvalidDatesError(f"review date {review_dates[0]} is not after the OPP date")
        self._opp_drawn_up(
            child=self.child, opp_id=opp_id, school=school, regie=regie,
            drawn_up_on=drawn_up_on, review_dates=review_dates, event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def decide_youth_care(
        self,
        *,
        source: str,
        role: str | None,
        decision_id: uuid.UUID,
        beschikkingsnummer: str,
        access_team: dict[str, str],
        provider: dict[str, str],
        start_on: date,
        end_on: date,
        regie: dict[str, str],
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """The access team decides on youth care (product sealed; period and contacts clear)."""
        _entitled(rules, "youth-care", source, role)
        _same(source, access_team["partner"], "the deciding access team")
        if decision_id in self.youth_care:
            raise AlreadyRecordedError(f"youth-care decision {decision_id} is already recorded")
        if rules.role_of(provider["partner"]) != "youth-care-provider":
            raise UnknownReferenceError(f"{provider['partner']} is not a registered provider")
        _period(start_on, end_on, "the youth care")
        self._youth_care_decided(
            child=self.child, decision_id=decision_id, beschikkingsnummer=beschikkingsnummer,
            access_team=access_team, provider=provider, start_on=start_on, end_on=end_on,
            regie=regie, event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def agree_arrangement(
        self,
        *,
        source: str,
        role: str | None,
        arrangement_id: uuid.UUID,
        kind: str,
        region: str,
        parties: list[dict[str, str]],
        start_on: date,
        end_on: date,
        funding: list[dict[str, Any]] | None,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """A combined arrangement starts; with no agreed split the decision scheme decides."""
        _entitled(rules, "arrangement", source, role)
        if source not in {p["partner"] for p in parties}:
            raise NotAPartyError(f"{source} is not among the parties it agrees for")
        if arrangement_id in self.arrangements:
            raise AlreadyRecordedError(f"arrangement {arrangement_id} is already recorded")
        if region not in rules.holders:
            raise UnknownRegionError(f"region {region!r} has no holders of doorzettingsmacht")
        _period(start_on, end_on, "the arrangement")
        if funding is None:
            scheme = rules.funding_scheme.get(kind)
            if scheme is None:
                raise InvalidFundingError(
                    f"kind {kind!r} is not in the decision scheme: agree a split explicitly"
                )
            funding = [{"payer": p, "percent": pct} for p, pct in scheme.items()]
            basis = "scheme"
        else:
            check_split(funding)
            basis = "agreed"
        self._arrangement_agreed(
            child=self.child, arrangement_id=arrangement_id, kind=kind, region=region,
            parties=parties, start_on=start_on, end_on=end_on, funding=funding,
            funding_basis=basis, event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def dispute_funding(
        self,
        *,
        source: str,
        role: str | None,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        raised_by: str,
        raised_on: date,
        proposed: list[dict[str, Any]] | None,
        today: date,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """A party disagrees about who pays: support goes on, and the dispute is escalated at
        once to the region's holders of doorzettingsmacht, with a deadline (seed 004)."""
        _entitled(rules, "funding-dispute", source, role)
        _same(source, raised_by, "who raises the dispute")
        arrangement = self.arrangements.get(arrangement_id)
        if arrangement is None:
            raise UnknownReferenceError(f"arrangement {arrangement_id} is not known")
        if source not in {p["partner"] for p in arrangement["parties"]}:
            raise NotAPartyError(f"{source} is not a party to arrangement {arrangement_id}")
        if dispute_id in self.disputes:
            raise AlreadyRecordedError(f"dispute {dispute_id} is already recorded")
        if any(
            d["arrangement_id"] == arrangement_id and d["decided_on"] is None
            for d in self.disputes.values()
        ):
            raise DisputeStateError(f"arrangement {arrangement_id} already has an open dispute")
        if proposed is not None:
            check_split(proposed)
        _not_future(raised_on, today, "the dispute date")
        if raised_on < arrangement["start_on"] - timedelta(days=365):
            raise InvalidDatesError("the dispute date lies long before the arrangement")
        holders = rules.holders.get(arrangement["region"])
        if not holders:
            raise UnknownRegionError(f"region {arrangement['region']!r} has no holders")
        self._funding_disputed(
            child=self.child, dispute_id=dispute_id, arrangement_id=arrangement_id,
            raised_by=raised_by, raised_on=raised_on, proposed=proposed,
            event_id=event_id, sealed=sealed,
        )  # fmt: skip
        self._dispute_escalated(
            child=self.child, dispute_id=dispute_id, arrangement_id=arrangement_id,
            region=arrangement["region"],
            holders=[{"partner": h.partner, "function": h.function, "contact": h.contact}
                     for h in holders],
            escalated_on=today, deadline=today + timedelta(days=rules.dispute_decision_days),
        )  # fmt: skip

    def decide_dispute(
        self,
        *,
        source: str,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        decided_by: str,
        decided_on: date,
        funding: list[dict[str, Any]],
        today: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """A holder of doorzettingsmacht of the region decides who pays."""
        _same(source, decided_by, "who decides the dispute")
        dispute = self.disputes.get(dispute_id)
        if dispute is None or dispute["arrangement_id"] != arrangement_id:
            raise UnknownReferenceError(f"dispute {dispute_id} on {arrangement_id} is not known")
        if dispute["decided_on"] is not None:
            raise DisputeStateError(f"dispute {dispute_id} was decided on {dispute['decided_on']}")
        if source not in {h["partner"] for h in dispute["holders"]}:
            raise NotAHolderError(
                f"{source} holds no doorzettingsmacht in region {dispute['region']}"
            )
        check_split(funding)
        _not_future(decided_on, today, "the decision date")
        if decided_on < dispute["raised_on"]:
            raise InvalidDatesError("a dispute cannot be decided before it was raised")
        self._dispute_decided(
            child=self.child, dispute_id=dispute_id, arrangement_id=arrangement_id,
            decided_by=decided_by, decided_on=decided_on, funding=funding,
            event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def request_reduced_teaching_time(
        self,
        *,
        source: str,
        role: str | None,
        request_id: uuid.UUID,
        school: str,
        opp_id: uuid.UUID,
        requested_on: date,
        hours_per_week: float,
        start_on: date,
        end_on: date,
        back_to_full_time: list[dict[str, Any]],
        earlier_request: bool,
        today: date,
        rules: Rules,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """Variawet: the request to the inspectorate, with OPP, hours, period and the schedule
        back to full time (seed 003)."""
        _entitled(rules, "reduced-teaching-time", source, role)
        _same(source, school, "the requesting school")
        if request_id in self.reduced_time:
            raise AlreadyRecordedError(f"request {request_id} is already recorded")
        opp = self.opps.get(opp_id)
        if opp is None:
            raise VariawetError(f"reduced teaching time needs an OPP: {opp_id} is not known")
        if opp["school"] != school:
            raise VariawetError(f"OPP {opp_id} is not {school}'s")
        _not_future(requested_on, today, "the request date")
        _period(start_on, end_on, "the reduced teaching time")
        if (end_on - start_on).days > rules.reduced_time_max_days:
            raise InvalidDatesError(
                f"reduced teaching time is granted for {rules.reduced_time_max_days} days at most"
            )
        full = rules.full_time_hours_per_week
        if hours_per_week >= full:
            raise VariawetError(f"{hours_per_week} hours a week is not less than full time {full}")
        steps = back_to_full_time
        dates = [s["from_on"] for s in steps]
        hours = [float(s["hours_per_week"]) for s in steps]
        if sorted(set(dates)) != dates or not all(start_on < d <= end_on for d in dates):
            raise InvalidDatesError("the steps back to full time must be in order, in the period")
        if hours != sorted(hours) or hours[0] < hours_per_week:
            raise VariawetError("the plan back to full time must not reduce hours")
        if hours[-1] < full:
            raise VariawetError(f"the plan must end at full time ({full} hours a week)")
        self._reduced_teaching_time_requested(
            child=self.child, request_id=request_id, school=school, opp_id=opp_id,
            requested_on=requested_on, hours_per_week=hours_per_week, start_on=start_on,
            end_on=end_on, back_to_full_time=steps, earlier_request=earlier_request,
            event_id=event_id, sealed=sealed,
        )  # fmt: skip

    def change_regie(
        self,
        *,
        source: str,
        role: str | None,
        domain: str,
        ref_id: uuid.UUID,
        regie: dict[str, str],
        changed_on: date,
        today: date,
        rules: Rules,
        event_id: uuid.UUID,
    ) -> None:
        """Regie moves: on the OPP (decided by its school), on youth care (municipality)."""
        if domain == "opp":
            _entitled(rules, "regie-opp", source, role)
            opp = self.opps.get(ref_id)
            if opp is None:
                raise UnknownReferenceError(f"OPP {ref_id} is not known")
            _same(source, opp["school"], "the school of the OPP")
            current = opp["regie"]
        else:
            _entitled(rules, "regie-youth-care", source, role)
            care = self.youth_care.get(ref_id)
            if care is None:
                raise UnknownReferenceError(f"youth-care decision {ref_id} is not known")
            current = care["regie"]
        _not_future(changed_on, today, "the change date")
        if current == regie:
            raise AlreadyRecordedError(f"{regie['partner']} already holds regie")
        self._regie_changed(
            child=self.child, domain=domain, ref_id=ref_id, regie=regie,
            changed_on=changed_on, event_id=event_id,
        )  # fmt: skip

    def remind(self, today: date, rules: Rules) -> int:
        """Record the reminders and passed deadlines that are due today; each once."""
        before = len(self.pending_events)
        for r in self._reminders(rules):
            if today >= r.start:
                self._reminder_due(
                    child=self.child, about=r.about, ref_id=r.ref_id, due_on=r.due_on, to=r.to,
                    key=r.key,
                )  # fmt: skip
        for dispute_id, dispute in self._open_disputes():
            holders = [h["partner"] for h in dispute["holders"]]
            deadline = dispute["deadline"]
            if today > deadline:
                self._dispute_deadline_passed(
                    child=self.child, dispute_id=dispute_id,
                    arrangement_id=dispute["arrangement_id"], deadline=deadline,
                    holders=dispute["holders"],
                )  # fmt: skip
                continue
            due = [d for d in rules.dispute_remind_days_before if today >= deadline - timedelta(d)]
            key = f"dispute-deadline/{dispute_id}/{min(due)}" if due else ""
            if due and key not in self.reminded:
                self._reminder_due(
                    child=self.child, about="dispute-deadline", ref_id=dispute_id,
                    due_on=deadline, to=holders, key=key,
                )  # fmt: skip
        return len(self.pending_events) - before

    def due(self, rules: Rules) -> dict[str, date]:
        """The first day `remind` has something to record: a reminder, a dispute's."""
        due: dict[str, date] = {}
        if starts := [r.start for r in self._reminders(rules)]:
            due["reminder"] = min(starts)
        days: list[date] = []
        for dispute_id, dispute in self._open_disputes():
            deadline = dispute["deadline"]
            days.append(deadline + timedelta(days=1))
            # A reminder is sent for the nearest threshold reached; the ones before it lapse.
            for d in sorted(rules.dispute_remind_days_before):
                if f"dispute-deadline/{dispute_id}/{d}" in self.reminded:
                    break
                days.append(deadline - timedelta(days=d))
        if days:
            due["dispute"] = min(days)
        return due

    def _reminders(self, rules: Rules) -> list[Reminder]:
        """Every reminder ahead of an end or review date not yet sent."""
        found: list[tuple[str, uuid.UUID, date, list[str]]] = []
        for tlv_id, tlv in self.tlvs.items():
            if not any(t["end_on"] > tlv["end_on"] for t in self.tlvs.values()):  # not renewed
                to = [tlv["swv"]["partner"]] + ([tlv["school"]] if tlv["school"] else [])
                found.append(("tlv-renewal", tlv_id, tlv["end_on"], to))
        for opp_id, opp in self.opps.items():
            to = [opp["school"], opp["regie"]["partner"]]
            found += [("opp-review", opp_id, review, to) for review in opp["review_dates"]]
        for decision_id, care in self.youth_care.items():
            to = [care["access_team"]["partner"], care["provider"]["partner"]]
            found.append(("youth-care-end", decision_id, care["end_on"], to))
        for request_id, reduced in self.reduced_time.items():
            found.append(("reduced-time-end", request_id, reduced["end_on"], [reduced["school"]]))
        reminders = []
        for about, ref_id, due_on, to in found:
            key = f"{about}/{ref_id}/{due_on.isoformat()}"
            if key not in self.reminded:
                start = due_on - timedelta(days=rules.reminder_days[about])
                reminders.append(
                    Reminder(about, ref_id, due_on, start, list(dict.fromkeys(to)), key)
                )
        return reminders

    def _open_disputes(self) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        return [
            (dispute_id, dispute)
            for dispute_id, dispute in self.disputes.items()
            if dispute["decided_on"] is None and not dispute["deadline_passed"]
        ]

    # queries --------------------------------------------------------------------------

    def funding_of(self, arrangement_id: uuid.UUID) -> dict[str, Any]:
        arrangement = self.arrangements[arrangement_id]
        return {
            "status": arrangement["funding_status"],
            "split": arrangement["funding"],
            "support": "running",
        }

    def regie_of(self) -> dict[str, dict[str, str]]:
        """Who holds regie: per OPP (the IB'er) and per youth-care decision (municipality)."""
        regie = {f"opp/{k}": v["regie"] for k, v in self.opps.items()}
        regie |= {f"youth-care/{k}": v["regie"] for k, v in self.youth_care.items()}
        return regie

    # events ---------------------------------------------------------------------------

    @event(SupportRequested)
    def _support_requested(
        self,
        *,
        child: str,
        request_id: uuid.UUID,
        school: dict[str, str],
        swv: str,
        requested_on: date,
        kind: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            request_id=request_id,
            school=school,
            swv=swv,
            requested_on=requested_on,
            kind=kind,
            event_id=event_id,
            sealed=sealed,
        )
        self.requests[kw["request_id"]] = {**kw, "status": "requested"}

    @event(TlvIssued)
    def _tlv_issued(
        self,
        *,
        child: str,
        tlv_id: uuid.UUID,
        beschikkingsnummer: str,
        swv_number: str,
        categorie: str,
        start_on: date,
        end_on: date,
        swv: dict[str, str],
        school: str | None,
        request_id: uuid.UUID | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            tlv_id=tlv_id,
            beschikkingsnummer=beschikkingsnummer,
            swv_number=swv_number,
            categorie=categorie,
            start_on=start_on,
            end_on=end_on,
            swv=swv,
            school=school,
            request_id=request_id,
            event_id=event_id,
            sealed=sealed,
        )
        self.tlvs[kw["tlv_id"]] = kw
        if kw["request_id"] in self.requests:
            self.requests[kw["request_id"]]["status"] = "tlv-issued"

    @event(OppDrawnUp)
    def _opp_drawn_up(
        self,
        *,
        child: str,
        opp_id: uuid.UUID,
        school: str,
        regie: dict[str, str],
        drawn_up_on: date,
        review_dates: list[date],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            opp_id=opp_id,
            school=school,
            regie=regie,
            drawn_up_on=drawn_up_on,
            review_dates=review_dates,
            event_id=event_id,
            sealed=sealed,
        )
        self.opps[kw["opp_id"]] = kw

    @event(YouthCareDecided)
    def _youth_care_decided(
        self,
        *,
        child: str,
        decision_id: uuid.UUID,
        beschikkingsnummer: str,
        access_team: dict[str, str],
        provider: dict[str, str],
        start_on: date,
        end_on: date,
        regie: dict[str, str],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            decision_id=decision_id,
            beschikkingsnummer=beschikkingsnummer,
            access_team=access_team,
            provider=provider,
            start_on=start_on,
            end_on=end_on,
            regie=regie,
            event_id=event_id,
            sealed=sealed,
        )
        self.youth_care[kw["decision_id"]] = kw

    @event(ArrangementAgreed)
    def _arrangement_agreed(
        self,
        *,
        child: str,
        arrangement_id: uuid.UUID,
        kind: str,
        region: str,
        parties: list[dict[str, str]],
        start_on: date,
        end_on: date,
        funding: list[dict[str, Any]],
        funding_basis: str,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            arrangement_id=arrangement_id,
            kind=kind,
            region=region,
            parties=parties,
            start_on=start_on,
            end_on=end_on,
            funding=funding,
            funding_basis=funding_basis,
            event_id=event_id,
            sealed=sealed,
        )
        self.arrangements[kw["arrangement_id"]] = {**kw, "funding_status": kw["funding_basis"]}

    @event(FundingDisputed)
    def _funding_disputed(
        self,
        *,
        child: str,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        raised_by: str,
        raised_on: date,
        proposed: list[dict[str, Any]] | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            dispute_id=dispute_id,
            arrangement_id=arrangement_id,
            raised_by=raised_by,
            raised_on=raised_on,
            proposed=proposed,
            event_id=event_id,
            sealed=sealed,
        )
        self.disputes[kw["dispute_id"]] = {
            **kw, "decided_on": None, "deadline_passed": False, "holders": [],
            "region": None, "deadline": None,
        }  # fmt: skip
        self.arrangements[kw["arrangement_id"]]["funding_status"] = "disputed"

    @event(DisputeEscalated)
    def _dispute_escalated(
        self,
        *,
        child: str,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        region: str,
        holders: list[dict[str, str]],
        escalated_on: date,
        deadline: date,
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            dispute_id=dispute_id,
            arrangement_id=arrangement_id,
            region=region,
            holders=holders,
            escalated_on=escalated_on,
            deadline=deadline,
        )
        dispute = self.disputes[kw["dispute_id"]]
        dispute.update(holders=kw["holders"], region=kw["region"], deadline=kw["deadline"])

    @event(DisputeDecided)
    def _dispute_decided(
        self,
        *,
        child: str,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        decided_by: str,
        decided_on: date,
        funding: list[dict[str, Any]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            dispute_id=dispute_id,
            arrangement_id=arrangement_id,
            decided_by=decided_by,
            decided_on=decided_on,
            funding=funding,
            event_id=event_id,
            sealed=sealed,
        )
        self.disputes[kw["dispute_id"]]["decided_on"] = kw["decided_on"]
        arrangement = self.arrangements[kw["arrangement_id"]]
        arrangement.update(funding=kw["funding"], funding_status="decided")

    @event(DisputeDeadlinePassed)
    def _dispute_deadline_passed(
        self,
        *,
        child: str,
        dispute_id: uuid.UUID,
        arrangement_id: uuid.UUID,
        deadline: date,
        holders: list[dict[str, str]],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            dispute_id=dispute_id,
            arrangement_id=arrangement_id,
            deadline=deadline,
            holders=holders,
        )
        self.disputes[kw["dispute_id"]]["deadline_passed"] = True

    @event(ReducedTeachingTimeRequested)
    def _reduced_teaching_time_requested(
        self,
        *,
        child: str,
        request_id: uuid.UUID,
        school: str,
        opp_id: uuid.UUID,
        requested_on: date,
        hours_per_week: float,
        start_on: date,
        end_on: date,
        back_to_full_time: list[dict[str, Any]],
        earlier_request: bool,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            request_id=request_id,
            school=school,
            opp_id=opp_id,
            requested_on=requested_on,
            hours_per_week=hours_per_week,
            start_on=start_on,
            end_on=end_on,
            back_to_full_time=back_to_full_time,
            earlier_request=earlier_request,
            event_id=event_id,
            sealed=sealed,
        )
        self.reduced_time[kw["request_id"]] = kw

    @event(RegieChanged)
    def _regie_changed(
        self,
        *,
        child: str,
        domain: str,
        ref_id: uuid.UUID,
        regie: dict[str, str],
        changed_on: date,
        event_id: uuid.UUID,
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child,
            domain=domain,
            ref_id=ref_id,
            regie=regie,
            changed_on=changed_on,
            event_id=event_id,
        )
        target = self.opps if kw["domain"] == "opp" else self.youth_care
        target[kw["ref_id"]]["regie"] = kw["regie"]

    @event(ReminderDue)
    def _reminder_due(
        self,
        *,
        child: str,
        about: str,
        ref_id: uuid.UUID,
        due_on: date,
        to: list[str],
        key: str,
    ) -> None:
        kw: dict[str, Any] = dict(
            child=child, about=about, ref_id=ref_id, due_on=due_on, to=to, key=key
        )
        self.reminded.add(kw["key"])
        if kw["about"] == "dispute-deadline":
            # A later, closer reminder supersedes the earlier ones it covers.
            self.reminded.add(kw["key"].rsplit("/", 1)[0])

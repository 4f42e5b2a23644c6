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
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from eventsourcing.domain import Aggregate

from ketenbus_contracts.arrangements import (
    AanmeldingReceivedData,
    ArrangementAgreedData,
    DecisionPeriodExtendedData,
    DisputeDecidedData,
    FundingDisputedData,
    FundingShare,
    HandelingsdeelConsentedData,
    OppDrawnUpData,
    PlacementDecidedData,
    ReducedTeachingTimeRequestedData,
    RegieChangedData,
    SupportRequestedData,
    TlvIssuedData,
    YouthCareDecidedData,
)
from ketenbus_contracts.envelope import EventData
from ketenbus_contracts.truancy import PupilEnrolledData
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


# A parent's account's role in the partner registry.
PARENT = "parent"


class ArrangementsError(Exception):
    """A business rule of arrangements refused the command."""


class NotEntitledError(ArrangementsError):
    """The partner's role may not take this decision (e.g. a school issuing a TLV)."""


class PartyMismatchError(ArrangementsError):
    """A partner may only decide in its own name."""


class InvalidDatesError(ArrangementsError):
    """Dates that make no sense: an end before a start, a decision in the future, …"""


class NotALinkedParentError(ArrangementsError):
    """A parent's account answers only for a child a school or the municipality linked it to."""


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


class ZorgplichtError(ArrangementsError):
    """The school decides on an aanmelding once, may extend its period once and before it ends,
    and when it does not place the child names the school that admits it instead."""


class OppRuleError(ArrangementsError):
    """An OPP follows op overeenstemming gericht overleg with the parents and is evaluated at
    least once a year (WPO art. 40a)."""


class ExpertOpinionsError(ArrangementsError):
    """A TLV rests on the advice of two experts, the first an orthopedagoog or psycholoog
    (WPO art. 18a lid 6)."""


class TlvTermError(ArrangementsError):
    """The TLV's term is not one the issuing SWV's rules allow (tlv-terms.yaml)."""


# The legal deadlines the clock watches: passing one records DeadlinePassed (once).
DEADLINES = frozenset({"zorgplicht-decision", "opp-after-placement", "opp-evaluation"})


def school_year(day: date) -> int:
    """The school year a day lies in, by the year it starts (1 August)."""
    return day.year if day.month >= 8 else day.year - 1


@dataclass(frozen=True)
class Arrival:
    """The child's arrival at another school that starts its handover: the parents' aanmelding
    there (`aanmelding_id`), or its enrolment."""

    school: str
    on: date
    transition: str
    aanmelding_id: uuid.UUID | None

    def handover_id(self, child: str) -> uuid.UUID:
        if self.aanmelding_id is not None:
            return uuid.uuid5(NAMESPACE, f"handover/{self.aanmelding_id}")
        return uuid.uuid5(NAMESPACE, f"handover/enrolment/{child}/{self.school}/{self.on}")


@dataclass(frozen=True)
class Decision:
    """Who takes a decision and with what: the publishing partner and its registered role, the
    day it is taken, the rules, and the partner's event (its id; its sealed sections)."""

    source: str
    role: str | None
    today: date
    rules: Rules
    event_id: uuid.UUID
    sealed: dict[str, str]
    # A parent's account linked to the child by a school or the municipality.
    linked_parent: bool = False

    def entitled(self, decision: str) -> Rules:
        """The rules, once they entitle the partner's role to take `decision`."""
        if not self.rules.may(decision, self.role):
            allowed = ", ".join(sorted(self.rules.entitled.get(decision, ()))) or "nobody"
            raise NotEntitledError(
                f"{self.source} (role {self.role or 'unregistered'}) may not decide "
                f"{decision}: only {allowed} may"
            )
        return self.rules


# Kept with every event, not part of its recorded facts.
_META = frozenset({"originator_id", "originator_version", "timestamp"})


def _state(event: Aggregate.Event) -> dict[str, Any]:
    """A recorded decision's facts, as the aggregate keeps them."""
    return {k: v for k, v in vars(event).items() if k not in _META}


def _shares(shares: list[FundingShare] | None) -> list[dict[str, Any]] | None:
    return None if shares is None else [s.model_dump() for s in shares]


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

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.requests[self.request_id] = _state(self) | {"status": "requested"}

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
        # Older stored TLVs lack them.
        expert_opinions: list[dict[str, Any]] | None = None

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.tlvs[self.tlv_id] = _state(self)
            if self.request_id in aggregate.requests:
                aggregate.requests[self.request_id]["status"] = "tlv-issued"

    class OppDrawnUp(Aggregate.Event):
        child: str
        opp_id: uuid.UUID
        school: str
        regie: dict[str, str]
        drawn_up_on: date
        review_dates: list[date]
        event_id: uuid.UUID
        sealed: dict[str, str]
        # Older stored OPPs lack them.
        parents_consulted_on: date | None = None
        handelingsdeel_consent: str = "pending"

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.opps[self.opp_id] = _state(self)

    class HandelingsdeelConsented(Aggregate.Event):
        child: str
        opp_id: uuid.UUID
        school: str
        answered_on: date
        granted: bool
        event_id: uuid.UUID
        sealed: dict[str, str]

        def apply(self, aggregate: ChildArrangements) -> None:
            consent = "granted" if self.granted else "refused"
            aggregate.opps[self.opp_id]["handelingsdeel_consent"] = consent

    class AanmeldingReceived(Aggregate.Event):
        child: str
        aanmelding_id: uuid.UUID
        school: dict[str, str]
        received_on: date
        extra_support: bool
        tlv_id: uuid.UUID | None
        decide_by: date
        event_id: uuid.UUID
        sealed: dict[str, str]
        transition: str | None = None

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.aanmeldingen[self.aanmelding_id] = _state(self) | {
                "extended": False, "decided_on": None, "placed_on": None, "opp_due_on": None,
            }  # fmt: skip

    class DecisionPeriodExtended(Aggregate.Event):
        child: str
        aanmelding_id: uuid.UUID
        school: str
        extended_on: date
        decide_by: date
        event_id: uuid.UUID
        sealed: dict[str, str]

        def apply(self, aggregate: ChildArrangements) -> None:
            aanmelding = aggregate.aanmeldingen[self.aanmelding_id]
            aanmelding.update(extended=True, decide_by=self.decide_by)

    class PlacementDecided(Aggregate.Event):
        child: str
        aanmelding_id: uuid.UUID
        school: str
        decided_on: date
        placed: bool
        placed_on: date | None
        other_school: str | None
        opp_due_on: date | None
        event_id: uuid.UUID
        sealed: dict[str, str]

        def apply(self, aggregate: ChildArrangements) -> None:
            aanmelding = aggregate.aanmeldingen[self.aanmelding_id]
            aanmelding.update(
                decided_on=self.decided_on, placed_on=self.placed_on, opp_due_on=self.opp_due_on
            )

    class HandoverNeeded(Aggregate.Event):
        child: str
        handover_id: uuid.UUID
        aanmelding_id: uuid.UUID | None
        transition: str
        sender: dict[str, str]
        receiver: str
        swv: str | None
        planned_on: date
        because: list[str]

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.handed_over_to.add(self.receiver)

    class DeadlinePassed(Aggregate.Event):
        child: str
        about: str
        ref_id: uuid.UUID
        deadline: date
        to: list[str]
        key: str

        def apply(self, aggregate: ChildArrangements) -> None:
            # Passed: its reminder (same key without the prefix) is not sent any more.
            aggregate.reminded |= {self.key, self.key.removeprefix("passed/")}

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

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.youth_care[self.decision_id] = _state(self)

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

        def apply(self, aggregate: ChildArrangements) -> None:
            agreed = _state(self) | {"funding_status": self.funding_basis}
            aggregate.arrangements[self.arrangement_id] = agreed

    class FundingDisputed(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        raised_by: str
        raised_on: date
        proposed: list[dict[str, Any]] | None
        event_id: uuid.UUID
        sealed: dict[str, str]

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.disputes[self.dispute_id] = _state(self) | {
                "decided_on": None, "deadline_passed": False, "holders": [], "region": None,
                "deadline": None,
            }  # fmt: skip
            aggregate.arrangements[self.arrangement_id]["funding_status"] = "disputed"

    class DisputeEscalated(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        region: str
        holders: list[dict[str, str]]
        escalated_on: date
        deadline: date

        def apply(self, aggregate: ChildArrangements) -> None:
            dispute = aggregate.disputes[self.dispute_id]
            dispute.update(holders=self.holders, region=self.region, deadline=self.deadline)

    class DisputeDecided(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        decided_by: str
        decided_on: date
        funding: list[dict[str, Any]]
        event_id: uuid.UUID
        sealed: dict[str, str]

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.disputes[self.dispute_id]["decided_on"] = self.decided_on
            arrangement = aggregate.arrangements[self.arrangement_id]
            arrangement.update(funding=self.funding, funding_status="decided")

    class DisputeDeadlinePassed(Aggregate.Event):
        child: str
        dispute_id: uuid.UUID
        arrangement_id: uuid.UUID
        deadline: date
        holders: list[dict[str, str]]

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.disputes[self.dispute_id]["deadline_passed"] = True

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

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.reduced_time[self.request_id] = _state(self)

    class RegieChanged(Aggregate.Event):
        child: str
        domain: str
        ref_id: uuid.UUID
        regie: dict[str, str]
        changed_on: date
        event_id: uuid.UUID

        def apply(self, aggregate: ChildArrangements) -> None:
            target = aggregate.opps if self.domain == "opp" else aggregate.youth_care
            target[self.ref_id]["regie"] = self.regie

    class ReminderDue(Aggregate.Event):
        child: str
        about: str
        ref_id: uuid.UUID
        due_on: date
        to: list[str]
        # What the reminder is for, so the clock sends each one once.
        key: str

        def apply(self, aggregate: ChildArrangements) -> None:
            aggregate.reminded.add(self.key)
            if self.about == "dispute-deadline":
                # A later, closer reminder supersedes the earlier ones it covers.
                aggregate.reminded.add(self.key.rsplit("/", 1)[0])

    namespace, kind = NAMESPACE, "child-arrangements"

    def opened(self) -> None:
        self.requests: dict[uuid.UUID, dict[str, Any]] = {}
        self.tlvs: dict[uuid.UUID, dict[str, Any]] = {}
        self.opps: dict[uuid.UUID, dict[str, Any]] = {}
        self.youth_care: dict[uuid.UUID, dict[str, Any]] = {}
        self.arrangements: dict[uuid.UUID, dict[str, Any]] = {}
        self.disputes: dict[uuid.UUID, dict[str, Any]] = {}
        self.reduced_time: dict[uuid.UUID, dict[str, Any]] = {}
        self.aanmeldingen: dict[uuid.UUID, dict[str, Any]] = {}
        self.reminded: set[str] = set()
        # The schools a handover started by itself goes to (once per school).
        self.handed_over_to: set[str] = set()

    # commands -------------------------------------------------------------------------

    def request_support(self, d: SupportRequestedData, by: Decision) -> None:
        """The school (IB'er) asks the SWV for support beyond basic support."""
        rules = by.entitled("support-request")
        _same(by.source, d.school.partner, "the requesting school")
        if d.request_id in self.requests:
            raise AlreadyRecordedError(f"support request {d.request_id} is already recorded")
        if rules.role_of(d.swv) != "swv":
            raise UnknownReferenceError(f"{d.swv} is not a registered samenwerkingsverband")
        if d.kind not in rules.funding_scheme:
            raise InvalidFundingError(f"kind of support {d.kind!r} is not in the decision scheme")
        _not_future(d.requested_on, by.today, "the request date")
        self._record(self.SupportRequested, d, by)

    def issue_tlv(self, d: TlvIssuedData, by: Decision) -> None:
        """The SWV issues a TLV for a period (OSO: tlvingangdatum … tlveinddatum)."""
        rules = by.entitled("tlv")
        _same(by.source, d.swv.partner, "the issuing SWV")
        if d.tlv_id in self.tlvs:
            raise AlreadyRecordedError(f"TLV {d.tlv_id} is already recorded")
        number = d.beschikkingsnummer
        if any(t["beschikkingsnummer"] == number for t in self.tlvs.values()):
            raise AlreadyRecordedError(f"beschikkingsnummer {number} is already used")
        if d.request_id is not None and d.request_id not in self.requests:
            raise UnknownReferenceError(f"support request {d.request_id} is not known")
        _period(d.start_on, d.end_on, "the TLV")
        self._check_expert_opinions(d, by)
        term = rules.tlv_terms.get(d.swv.partner)
        if term is None:
            raise TlvTermError(f"{d.swv.partner} has no TLV terms registered (tlv-terms.yaml)")
        if term.ends_on_school_year_end and (d.end_on.month, d.end_on.day) != (7, 31):
            raise TlvTermError(f"{d.swv.partner}'s TLVs end on 31 July, not on {d.end_on}")
        years = school_year(d.end_on) - school_year(d.start_on) + 1
        if term.max_school_years is not None and years > term.max_school_years:
            raise TlvTermError(
                f"{d.swv.partner}'s TLVs span {term.max_school_years} school years at most, "
                f"not {years}"
            )
        self._record(self.TlvIssued, d, by)

    @staticmethod
    def _check_expert_opinions(d: TlvIssuedData, by: Decision) -> None:
        """Two experts advised before the decision, the first an orthopedagoog or psycholoog."""
        rules, opinions = by.rules, d.expert_opinions
        first = ", ".join(sorted(rules.tlv_first_expert))
        if len(opinions) < rules.tlv_expert_opinions:
            raise ExpertOpinionsError(
                f"a TLV rests on {rules.tlv_expert_opinions} expert opinions (deskundigenadvies), "
                f"not {len(opinions)}"
            )
        if not any(o.discipline in rules.tlv_first_expert for o in opinions):
            raise ExpertOpinionsError(f"one of the experts is an {first}")
        for opinion in opinions:
            _not_future(opinion.given_on, by.today, "an expert opinion")

    def draw_up_opp(self, d: OppDrawnUpData, by: Decision) -> None:
        """The school draws up (or revises, same id) the OPP; the IB'er holds regie on it."""
        by.entitled("opp")
        _same(by.source, d.school, "the school of the OPP")
        existing = self.opps.get(d.opp_id)
        if existing is not None and existing["school"] != d.school:
            raise PartyMismatchError(f"OPP {d.opp_id} belongs to {existing['school']}")
        _not_future(d.drawn_up_on, by.today, "the OPP date")
        if d.parents_consulted_on is None:
            raise OppRuleError(
                "an OPP is drawn up after op overeenstemming gericht overleg with the parents: "
                "state the day (parents_consulted_on)"
            )
        if d.parents_consulted_on > d.drawn_up_on:
            raise InvalidDatesError("the overleg with the parents comes before the OPP date")
        reviews = list(d.review_dates)
        if sorted(set(reviews)) != reviews:
            raise InvalidDatesError("review dates must be distinct and in order")
        if reviews[0] <= d.drawn_up_on:
            raise InvalidDatesError(f"review date {reviews[0]} is not after the OPP date")
        limit = by.rules.opp_evaluation_days
        for before, review in zip([d.drawn_up_on, *reviews], reviews, strict=False):
            if (review - before).days > limit:
                raise OppRuleError(
                    f"an OPP is evaluated at least once a year: {review} is more than {limit} "
                    f"days after {before}"
                )
        self._record(self.OppDrawnUp, d, by)

    def consent_to_handelingsdeel(self, d: HandelingsdeelConsentedData, by: Decision) -> None:
        """The parents' answer on the OPP's handelingsdeel, recorded by its school or given by
        a linked parent's own account."""
        if by.role == PARENT:
            if not by.linked_parent:
                raise NotALinkedParentError(f"{by.source} is not a parent linked to the child")
        else:
            by.entitled("opp")
        opp = self.opps.get(d.opp_id)
        if opp is None:
            raise UnknownReferenceError(f"OPP {d.opp_id} is not known")
        if by.role != PARENT:
            _same(by.source, opp["school"], "the school of the OPP")
        _same(d.school, opp["school"], "the school named")
        if opp.get("handelingsdeel_consent") == "granted":
            raise AlreadyRecordedError(f"the parents consented to OPP {d.opp_id} before")
        _not_future(d.answered_on, by.today, "the answer date")
        if d.answered_on < opp["drawn_up_on"]:
            raise InvalidDatesError("the parents answer on an OPP drawn up")
        self._record(self.HandelingsdeelConsented, d, by)

    # zorgplicht --------------------------------------------------------------------------

    def receive_aanmelding(self, d: AanmeldingReceivedData, by: Decision) -> None:
        """The parents' written aanmelding at a school: it decides within the rules' period."""
        rules = by.entitled("aanmelding")
        _same(by.source, d.school.partner, "the school of the aanmelding")
        if d.aanmelding_id in self.aanmeldingen:
            raise AlreadyRecordedError(f"aanmelding {d.aanmelding_id} is already recorded")
        if d.tlv_id is not None and d.tlv_id not in self.tlvs:
            raise UnknownReferenceError(f"TLV {d.tlv_id} is not known")
        _not_future(d.received_on, by.today, "the aanmelding date")
        decide_by = d.received_on + timedelta(days=rules.zorgplicht_decision_days)
        self._record(self.AanmeldingReceived, d, by, decide_by=decide_by)
        if d.transition is not None:
            arrival = Arrival(d.school.partner, d.received_on, d.transition, d.aanmelding_id)
            self._handover_needed(arrival, max(decide_by, by.today), rules)

    def receive_enrolment(self, d: PupilEnrolledData, today: date, rules: Rules) -> None:
        """The school's enrolment of the child (truancy's record of it): one that names its
        transition starts the handover by itself as an aanmelding does, unless one started
        for that school already."""
        if d.transition is None:
            return
        arrival = Arrival(d.school, d.enrolled_on, d.transition, None)
        self._handover_needed(arrival, max(d.enrolled_on, today), rules)

    def _handover_needed(self, arrival: Arrival, planned_on: date, rules: Rules) -> None:
        """A child with an OPP or a running arrangement at another school changes school: the
        handover starts by itself, from that school (the latest OPP's, else the arrangement's),
        once per receiving school."""
        receiver = arrival.school
        if receiver in self.handed_over_to:
            return
        senders: dict[str, tuple[str, set[str]]] = {}
        for opp in sorted(self.opps.values(), key=lambda o: o["drawn_up_on"]):
            if opp["school"] != receiver:
                senders[opp["school"]] = (opp["regie"]["contact"], {"opp"})
        for arrangement in self.arrangements.values():
            if arrangement["end_on"] < arrival.on:
                continue
            for party in arrangement["parties"]:
                school = party["partner"]
                if school == receiver or rules.role_of(school) != "school":
                    continue
                contact, because = senders.get(school, (party["contact"], set()))
                senders[school] = (contact, because | {"arrangement"})
        if not senders:
            return
        with_opp = [school for school, (_, because) in senders.items() if "opp" in because]
        school = with_opp[-1] if with_opp else next(iter(senders))
        contact, because = senders[school]
        swv = next((t["swv"]["partner"] for t in self.tlvs.values()), None)
        self.trigger_event(
            self.HandoverNeeded,
            child=self.child,
            handover_id=arrival.handover_id(self.child),
            aanmelding_id=arrival.aanmelding_id,
            transition=arrival.transition,
            sender={"partner": school, "contact": contact},
            receiver=receiver,
            swv=swv,
            planned_on=planned_on,
            because=sorted(because),
        )

    def _aanmelding(self, aanmelding_id: uuid.UUID, by: Decision) -> dict[str, Any]:
        """An undecided aanmelding at the publishing school."""
        aanmelding = self.aanmeldingen.get(aanmelding_id)
        if aanmelding is None:
            raise UnknownReferenceError(f"aanmelding {aanmelding_id} is not known")
        _same(by.source, aanmelding["school"]["partner"], "the school of the aanmelding")
        if aanmelding["decided_on"] is not None:
            raise ZorgplichtError(f"aanmelding {aanmelding_id} was decided on")
        return aanmelding

    def extend_decision_period(self, d: DecisionPeriodExtendedData, by: Decision) -> None:
        """The school extends its period once, by the rules' days, before it ends."""
        rules = by.entitled("aanmelding")
        aanmelding = self._aanmelding(d.aanmelding_id, by)
        _same(d.school, by.source, "the school named")
        if aanmelding["extended"]:
            raise ZorgplichtError("the decision period is extended once only")
        _not_future(d.extended_on, by.today, "the extension date")
        if d.extended_on > aanmelding["decide_by"]:
            raise ZorgplichtError(f"the period ended on {aanmelding['decide_by']}")
        decide_by = aanmelding["decide_by"] + timedelta(days=rules.zorgplicht_extension_days)
        self._record(self.DecisionPeriodExtended, d, by, decide_by=decide_by)

    def decide_placement(self, d: PlacementDecidedData, by: Decision) -> None:
        """Placed (an OPP due within the rules' weeks where extra support is asked), or not,
        with the school that admits the child instead."""
        rules = by.entitled("aanmelding")
        aanmelding = self._aanmelding(d.aanmelding_id, by)
        _same(d.school, by.source, "the school named")
        _not_future(d.decided_on, by.today, "the decision date")
        if d.decided_on < aanmelding["received_on"]:
            raise InvalidDatesError("a decision cannot come before the aanmelding")
        if d.placed and d.placed_on is None:
            raise ZorgplichtError("a placement states the day it starts (placed_on)")
        if not d.placed and d.other_school in (None, d.school):
            raise ZorgplichtError(
                "a school that does not place the child names the school that admits it "
                "instead (zorgplicht)"
            )
        due = None
        if d.placed_on is not None and d.placed and aanmelding["extra_support"]:
            due = d.placed_on + timedelta(days=rules.opp_after_placement_days)
        self._record(self.PlacementDecided, d, by, opp_due_on=due)

    def decide_youth_care(self, d: YouthCareDecidedData, by: Decision) -> None:
        """The access team decides on youth care (product sealed; period and contacts clear)."""
        rules = by.entitled("youth-care")
        _same(by.source, d.access_team.partner, "the deciding access team")
        if d.decision_id in self.youth_care:
            raise AlreadyRecordedError(f"youth-care decision {d.decision_id} is already recorded")
        if rules.role_of(d.provider.partner) != "youth-care-provider":
            raise UnknownReferenceError(f"{d.provider.partner} is not a registered provider")
        _period(d.start_on, d.end_on, "the youth care")
        self._record(self.YouthCareDecided, d, by)

    def agree_arrangement(self, d: ArrangementAgreedData, by: Decision) -> None:
        """A combined arrangement starts; with no agreed split the decision scheme decides."""
        rules = by.entitled("arrangement")
        if by.source not in {p.partner for p in d.parties}:
            raise NotAPartyError(f"{by.source} is not among the parties it agrees for")
        if d.arrangement_id in self.arrangements:
            raise AlreadyRecordedError(f"arrangement {d.arrangement_id} is already recorded")
        if d.region not in rules.holders:
            raise UnknownRegionError(f"region {d.region!r} has no holders of doorzettingsmacht")
        _period(d.start_on, d.end_on, "the arrangement")
        funding = _shares(d.funding)
        if funding is None:
            scheme = rules.funding_scheme.get(d.kind)
            if scheme is None:
                raise InvalidFundingError(
                    f"kind {d.kind!r} is not in the decision scheme: agree a split explicitly"
                )
            funding = [{"payer": p, "percent": pct} for p, pct in scheme.items()]
            basis = "scheme"
        else:
            check_split(funding)
            basis = "agreed"
        self._record(self.ArrangementAgreed, d, by, funding=funding, funding_basis=basis)

    def dispute_funding(self, d: FundingDisputedData, by: Decision) -> None:
        """A party disagrees about who pays: support goes on, and the dispute is escalated at
        once to the region's holders of doorzettingsmacht, with a deadline (seed 004)."""
        rules, source, today = by.entitled("funding-dispute"), by.source, by.today
        _same(source, d.raised_by, "who raises the dispute")
        arrangement = self.arrangements.get(d.arrangement_id)
        if arrangement is None:
            raise UnknownReferenceError(f"arrangement {d.arrangement_id} is not known")
        if source not in {p["partner"] for p in arrangement["parties"]}:
            raise NotAPartyError(f"{source} is not a party to arrangement {d.arrangement_id}")
        if d.dispute_id in self.disputes:
            raise AlreadyRecordedError(f"dispute {d.dispute_id} is already recorded")
        if any(
            dispute["arrangement_id"] == d.arrangement_id and dispute["decided_on"] is None
            for dispute in self.disputes.values()
        ):
            raise DisputeStateError(f"arrangement {d.arrangement_id} already has an open dispute")
        proposed = _shares(d.proposed)
        if proposed is not None:
            check_split(proposed)
        _not_future(d.raised_on, today, "the dispute date")
        if d.raised_on < arrangement["start_on"] - timedelta(days=365):
            raise InvalidDatesError("the dispute date lies long before the arrangement")
        holders = rules.holders.get(arrangement["region"])
        if not holders:
            raise UnknownRegionError(f"region {arrangement['region']!r} has no holders")
        self._record(self.FundingDisputed, d, by)
        self.trigger_event(
            self.DisputeEscalated,
            child=self.child,
            dispute_id=d.dispute_id,
            arrangement_id=d.arrangement_id,
            region=arrangement["region"],
            holders=[
                {"partner": h.partner, "function": h.function, "contact": h.contact}
                for h in holders
            ],
            escalated_on=today,
            deadline=today + timedelta(days=rules.dispute_decision_days),
        )

    def decide_dispute(self, d: DisputeDecidedData, by: Decision) -> None:
        """A holder of doorzettingsmacht of the region decides who pays."""
        _same(by.source, d.decided_by, "who decides the dispute")
        dispute = self.disputes.get(d.dispute_id)
        if dispute is None or dispute["arrangement_id"] != d.arrangement_id:
            raise UnknownReferenceError(
                f"dispute {d.dispute_id} on {d.arrangement_id} is not known"
            )
        if dispute["decided_on"] is not None:
            raise DisputeStateError(
                f"dispute {d.dispute_id} was decided on {dispute['decided_on']}"
            )
        if by.source not in {h["partner"] for h in dispute["holders"]}:
            raise NotAHolderError(
                f"{by.source} holds no doorzettingsmacht in region {dispute['region']}"
            )
        check_split(_shares(d.funding) or [])
        _not_future(d.decided_on, by.today, "the decision date")
        if d.decided_on < dispute["raised_on"]:
            raise InvalidDatesError("a dispute cannot be decided before it was raised")
        self._record(self.DisputeDecided, d, by)

    def request_reduced_teaching_time(
        self, d: ReducedTeachingTimeRequestedData, by: Decision
    ) -> None:
        """Variawet: the request to the inspectorate, with OPP, hours, period and the schedule
        back to full time (seed 003)."""
        rules = by.entitled("reduced-teaching-time")
        _same(by.source, d.school, "the requesting school")
        if d.request_id in self.reduced_time:
            raise AlreadyRecordedError(f"request {d.request_id} is already recorded")
        opp = self.opps.get(d.opp_id)
        if opp is None:
            raise VariawetError(f"reduced teaching time needs an OPP: {d.opp_id} is not known")
        if opp["school"] != d.school:
            raise VariawetError(f"OPP {d.opp_id} is not {d.school}'s")
        _not_future(d.requested_on, by.today, "the request date")
        _period(d.start_on, d.end_on, "the reduced teaching time")
        if (d.end_on - d.start_on).days > rules.reduced_time_max_days:
            raise InvalidDatesError(
                f"reduced teaching time is granted for {rules.reduced_time_max_days} days at most"
            )
        full = rules.full_time_hours_per_week
        if d.hours_per_week >= full:
            raise VariawetError(
                f"{d.hours_per_week} hours a week is not less than full time {full}"
            )
        dates = [s.from_on for s in d.back_to_full_time]
        hours = [float(s.hours_per_week) for s in d.back_to_full_time]
        if sorted(set(dates)) != dates or not all(d.start_on < on <= d.end_on for on in dates):
            raise InvalidDatesError("the steps back to full time must be in order, in the period")
        if hours != sorted(hours) or hours[0] < d.hours_per_week:
            raise VariawetError("the plan back to full time must not reduce hours")
        if hours[-1] < full:
            raise VariawetError(f"the plan must end at full time ({full} hours a week)")
        self._record(self.ReducedTeachingTimeRequested, d, by)

    def change_regie(self, d: RegieChangedData, by: Decision) -> None:
        """Regie moves: on the OPP (decided by its school), on youth care (municipality)."""
        if d.domain == "opp":
            by.entitled("regie-opp")
            opp = self.opps.get(d.ref_id)
            if opp is None:
                raise UnknownReferenceError(f"OPP {d.ref_id} is not known")
            _same(by.source, opp["school"], "the school of the OPP")
            current = opp["regie"]
        else:
            by.entitled("regie-youth-care")
            care = self.youth_care.get(d.ref_id)
            if care is None:
                raise UnknownReferenceError(f"youth-care decision {d.ref_id} is not known")
            current = care["regie"]
        _not_future(d.changed_on, by.today, "the change date")
        if current == d.regie.model_dump():
            raise AlreadyRecordedError(f"{d.regie.partner} already holds regie")
        # A regie change carries nothing sealed.
        self._record(self.RegieChanged, d, by, sealed=False)

    def _record(
        self,
        kind: type[Aggregate.Event],
        d: EventData,
        by: Decision,
        *,
        sealed: bool = True,
        **values: Any,
    ) -> None:
        """Record a partner's decision: its data as the contract gave it, under the partner's
        event id and sealed sections (`values`: what the rules decided instead)."""
        own = {"child": self.child, "event_id": by.event_id}
        if sealed:
            own["sealed"] = by.sealed
        self.trigger_event(kind, **(own | d.model_dump(exclude={"sealed"}) | values))

    def remind(self, today: date, rules: Rules) -> int:
        """Record the reminders and passed deadlines that are due today; each once."""
        before = len(self.pending_events)
        for reminder in self._deadlines(rules):
            if today > reminder.due_on:
                facts = {k: v for k, v in reminder._asdict().items() if k not in ("start", "key")}
                facts["deadline"] = facts.pop("due_on")
                key = f"passed/{reminder.key}"
                self.trigger_event(self.DeadlinePassed, child=self.child, key=key, **facts)
        for reminder in self._reminders(rules):
            if today >= reminder.start:
                self._remind(reminder)
        for dispute_id, dispute in self._open_disputes():
            deadline = dispute["deadline"]
            if today > deadline:
                facts = {k: dispute[k] for k in ("dispute_id", "arrangement_id", "holders")}
                passed = facts | {"child": self.child, "deadline": deadline}
                self.trigger_event(self.DisputeDeadlinePassed, **passed)
                continue
            days = [d for d in rules.dispute_remind_days_before if today >= deadline - timedelta(d)]
            key = f"dispute-deadline/{dispute_id}/{min(days)}" if days else ""
            if days and key not in self.reminded:
                holders = [h["partner"] for h in dispute["holders"]]
                self._remind(
                    Reminder("dispute-deadline", dispute_id, deadline, today, holders, key)
                )
        return len(self.pending_events) - before

    def _remind(self, reminder: Reminder) -> None:
        facts = {k: v for k, v in reminder._asdict().items() if k != "start"}
        self.trigger_event(self.ReminderDue, child=self.child, **facts)

    def due(self, rules: Rules) -> dict[str, date]:
        """The first day `remind` has something to record: a reminder, a dispute's."""
        due: dict[str, date] = {}
        if starts := [r.start for r in self._reminders(rules)]:
            due["reminder"] = min(starts)
        if passes := [r.due_on + timedelta(days=1) for r in self._deadlines(rules)]:
            due["deadline"] = min(passes)
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

    def _reminders(self, rules: Rules, *, sent: bool = False) -> list[Reminder]:
        """Every reminder ahead of an end or review date not yet sent (`sent`: also those
        sent, whose deadline may still pass)."""
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
        found += self._passend_deadlines(rules)
        reminders = []
        for about, ref_id, due_on, to in found:
            key = f"{about}/{ref_id}/{due_on.isoformat()}"
            if sent or key not in self.reminded:
                start = due_on - timedelta(days=rules.reminder_days[about])
                reminders.append(
                    Reminder(about, ref_id, due_on, start, list(dict.fromkeys(to)), key)
                )
        return reminders

    def _deadlines(self, rules: Rules) -> list[Reminder]:
        """The legal deadlines (DEADLINES) not yet recorded as passed."""
        return [
            r
            for r in self._reminders(rules, sent=True)
            if r.about in DEADLINES and f"passed/{r.key}" not in self.reminded
        ]

    def _passend_deadlines(self, rules: Rules) -> list[tuple[str, uuid.UUID, date, list[str]]]:
        """The school's decision on an open aanmelding; the OPP six weeks after a placement
        with extra support; each OPP's yearly evaluation; a TLV still without a place."""
        found: list[tuple[str, uuid.UUID, date, list[str]]] = []
        opp_schools = {o["school"] for o in self.opps.values()}
        placed_tlvs = set()
        for aanmelding_id, a in self.aanmeldingen.items():
            school = a["school"]["partner"]
            if a["decided_on"] is None:
                found.append(("zorgplicht-decision", aanmelding_id, a["decide_by"], [school]))
            elif a["opp_due_on"] is not None and school not in opp_schools:
                found.append(("opp-after-placement", aanmelding_id, a["opp_due_on"], [school]))
            if a["placed_on"] is not None and a["tlv_id"] is not None:
                placed_tlvs.add(a["tlv_id"])
        for opp_id, opp in self.opps.items():
            due = opp["drawn_up_on"] + timedelta(days=rules.opp_evaluation_days)
            found.append(("opp-evaluation", opp_id, due, [opp["school"], opp["regie"]["partner"]]))
        for tlv_id, tlv in self.tlvs.items():
            if tlv_id not in placed_tlvs:
                due = tlv["start_on"] + timedelta(days=rules.tlv_waiting_remind_days)
                if due <= tlv["end_on"]:
                    found.append(("tlv-waiting", tlv_id, due, [tlv["swv"]["partner"]]))
        return found

    def waiting_tlvs(self) -> list[uuid.UUID]:
        """TLVs issued with no place at a school yet (no placement on an aanmelding with it)."""
        placed = {a["tlv_id"] for a in self.aanmeldingen.values() if a["placed_on"] is not None}
        return [tlv_id for tlv_id in self.tlvs if tlv_id not in placed]

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

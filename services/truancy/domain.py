"""A child's enrolments and attendance, and what the law and the region make of them.

Rules (Leerplichtwet art. 18, 21; Besluit verzuimmelding; thuiszitterspact; seeds 000, 001 F):
- 16 hours unauthorised within 4 consecutive school weeks → a verzuimmelding is due; only
  unauthorised absence leads to one; a school files luxeverzuim and signaalverzuim itself;
- category 2 thuiszitter: more than 4 consecutive school weeks absent more than 50% (any kind);
  a verzuimmelding only when the unauthorised absence alone is that long, else the JGZ's route
  (MAZL: long absence through illness);
- category 1 (absolute verzuim): resident of compulsory age, not enrolled after the grace days;
- three-month rule: warnings, the local integral meeting, then escalation to the
  thuiszitterstafel with the SWV before three months; a failed offer starts the clock again;
  the meetings' outcomes are recorded decisions;
- exemptions (art. 5 onder a, b, c; 5a; 15) stop the rules, partial ones (3a, 3b) leave the
  other hours required; 5 onder a needs the statement of art. 7 and the SWV's advice, given
  by the SWV; art. 5 exemptions last one school year at most (renewed yearly, Lpw art. 6
  lid 2 onder b, unless the art. 7 statement says never fit for a school, lid 3); the
  leerplicht of the municipality where the child lives decides (Lpw art. 6 lid 1);
- hours a school filed as luxe- or signaalverzuim were reported: they do not count again
  towards the next 16 hours.
Thresholds, codes and calendars come in as `RegionRules`. The aggregate keeps rolling per-week
sums for the last few school weeks only, so no rule ever rescans a child's history.

No I/O here: the application loads and saves, the handlers decode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.policy.regions import RegionRules, week_of
from services.runtime.aggregate import PerChild, PerRegion, Value

NAMESPACE = uuid.UUID("3a1f6d2c-7e4b-4c1a-9f0e-747275616e63")
# The kinds of verzuimmelding a school files itself (no hour count shows them).
FILED_KINDS = frozenset({"luxe", "signaal"})


class TruancyError(Exception):
    """A business rule of truancy refused the command."""


class NotEnrolledError(TruancyError):
    """The school has no enrolment of this child."""


class UnknownExemptionArticleError(TruancyError):
    """The region knows no exemption under this article."""


class SwvAdviceRequiredError(TruancyError):
    """This exemption needs the SWV's advice."""


class UnknownReportError(TruancyError):
    """No verzuimmelding with this id was made about this child."""


class ReportAlreadyClosedError(TruancyError):
    """The report was closed (afgesloten) before."""


class UnknownCodeError(TruancyError):
    """A code that the region's code lists do not contain."""


class NotAThuiszitterError(TruancyError):
    """An offer or decision for a child that is not at home."""


class StatementRequiredError(TruancyError):
    """This exemption needs the statement of art. 7 (doctor, psychologist, orthopedagogue)."""


class RenewalRequiredError(TruancyError):
    """This exemption is renewed yearly: it cannot run past the end of the school year."""


class PartialExemptionError(TruancyError):
    """A partial exemption (3a, 3b) needs its hours a week, below the hours required; a full
    one has none."""


class NotTheRegionsSwvError(TruancyError):
    """Only the region's SWV gives the SWV's advice."""


class NotFileableError(TruancyError):
    """A school files only the kinds the region lets it (luxeverzuim, signaalverzuim)."""


class ReportAlreadyFiledError(TruancyError):
    """A report with this id was made before."""


class UnknownOfferError(TruancyError):
    """No open offer with this id was made to this thuiszitter."""


class NotAMemberOfTheForumError(TruancyError):
    """Only a member of the meeting records its decision."""


class NotTheMunicipalitysLeerplichtError(TruancyError):
    """Only the leerplicht of the municipality where the child lives decides on its exemption
    (Lpw art. 6 lid 1: the kennisgeving goes to that municipality)."""


class SupersededContractError(TruancyError):
    """exemption-granted.v1 is taken only as published before v2 took over: publish v2."""


@dataclass(frozen=True)
class Exemption(Value):
    """An exemption granted: its article, period and (partial) hours a week."""

    article: str
    valid_from: date
    valid_until: date | None
    hours_per_week: float | None = None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class ReducedTime(Value):
    """Variawet: from `start_on` to `end_on` the pupil attends `hours_per_week`, then the
    schedule's hours from each step's day on (back to full time)."""

    start_on: date
    end_on: date
    hours_per_week: float
    schedule: tuple[tuple[date, float], ...] = ()

    def hours_on(self, monday: date) -> float | None:
        """The hours required in the week of `monday` (None: not reduced then)."""
        if not self.start_on <= monday + timedelta(days=4) or monday > self.end_on:
            return None
        hours = self.hours_per_week
        for from_on, step in sorted(self.schedule):
            if from_on <= monday:
                hours = step
        return hours

    @classmethod
    def of(cls, value: Any) -> ReducedTime:
        given = dict(value)
        steps = tuple(
            (date.fromisoformat(str(d)) if not isinstance(d, date) else d, float(h))
            for d, h in given.get("schedule", ())
        )
        return cls(given["start_on"], given["end_on"], given["hours_per_week"], steps)


@dataclass(frozen=True)
class Advice(Value):
    """The SWV's advice on an exemption under an article."""

    swv: str
    article: str
    advice: str
    given_on: date


@dataclass(frozen=True)
class Thuiszitter(Value):
    """A child at home: its category and the three-month clock (from `clock_from`, which a
    failed offer moves), the stages reached and the offer that stopped the clock."""

    region: str
    category: int
    since: date
    school: str | None
    clock_from: date
    warned: int = 0
    integral: bool = False
    escalated: bool = False
    offer: str | None = None


class ChildAttendance(PerChild):
    """One child's (by pseudonym) enrolments, recent weekly absence sums and thuiszitter state."""

    class Enrolled(Aggregate.Event):
        child: str
        school: str
        brin: str
        region: str
        enrolled_on: date
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]
        # The transition the school named (relayed for arrangements: it may start a handover);
        # older stored enrolments have none.
        transition: str | None = None

    class DeEnrolled(Aggregate.Event):
        child: str
        school: str
        brin: str
        region: str
        de_enrolled_on: date
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class AbsenceRecorded(Aggregate.Event):
        child: str
        absence_id: uuid.UUID
        school: str
        region: str
        on: date
        hours: float
        lessons: int
        authorised: bool
        keep_from: date  # weeks before this Monday are dropped from the rolling sums

    class ResidentRegistered(Aggregate.Event):
        child: str
        municipality: str
        region: str
        registered_on: date
        compulsory_until: date
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class ExemptionGranted(Aggregate.Event):
        child: str
        exemption_id: uuid.UUID
        leerplicht: str
        region: str
        article: str
        swv_advice: str | None
        valid_from: date
        valid_until: date | None
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class ReportDue(Aggregate.Event):
        child: str
        report_id: uuid.UUID
        school: str
        brin: str
        region: str
        leerplicht: str
        begin_on: date
        end_on: date
        kind: str
        hours_unauthorised: float
        hours_absent: float
        lessons_missed: int
        action_taken: str
        municipal_action_wanted: bool
        contact: str
        absence_ids: list[uuid.UUID]
        weeks: list[date]

    class ReportAnswered(Aggregate.Event):
        child: str
        report_id: uuid.UUID
        leerplicht: str
        status: str
        answered_on: date
        closed_reason: str | None
        home_reason: str | None
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class ThuiszitterRegistered(Aggregate.Event):
        child: str
        region: str
        category: int
        since: date
        absolute: bool
        school: str | None
        home_reason: str
        municipality: str | None = None  # recorded since the monitor counts per municipality

    class ThuiszitterEnded(Aggregate.Event):
        child: str
        region: str
        category: int
        ended_on: date
        reason: str

    class ThreeMonthRuleReached(Aggregate.Event):
        child: str
        region: str
        stage: str
        threshold_days: int
        since: date
        days_at_home: int
        deadline: date
        notify: list[str]

    class OfferMade(Aggregate.Event):
        child: str
        offer_id: uuid.UUID
        by: str
        offered_on: date
        # The partner's event: its sealed sections are bound to its id, so it is relayed
        # under that id.
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class OfferFailed(Aggregate.Event):
        child: str
        offer_id: uuid.UUID
        by: str
        failed_on: date
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class DecisionRecorded(Aggregate.Event):
        child: str
        decision_id: uuid.UUID
        by: str
        region: str
        forum: str
        outcome: str
        decided_on: date
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class AdviceGiven(Aggregate.Event):
        child: str
        advice_id: uuid.UUID
        swv: str
        region: str
        article: str
        advice: str
        given_on: date
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class TeachingTimeReduced(Aggregate.Event):
        child: str
        request_id: uuid.UUID
        school: str
        hours_per_week: float
        start_on: date
        end_on: date
        schedule: list[list[Any]]

    class ExemptionGrantedV2(Aggregate.Event):
        child: str
        exemption_id: uuid.UUID
        leerplicht: str
        region: str
        article: str
        statement: dict[str, Any] | None
        hours_per_week: float | None
        valid_from: date
        valid_until: date | None
        event_id: uuid.UUID
        source: str
        sealed: dict[str, str]

    class JgzReferralDue(Aggregate.Event):
        child: str
        region: str
        school: str
        jgz: str
        since: date
        weeks: int
        hours_absent: float
        notify: list[str]

    class IntegralMeetingDue(Aggregate.Event):
        child: str
        region: str
        since: date
        days_at_home: int
        deadline: date
        notify: list[str]

    namespace, kind = NAMESPACE, "child-attendance"
    # 2: exemptions and the thuiszitter are values (snapshots of version 1 are upcast).
    # 3: the unreported unauthorised absences by id, with their week and hours.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["exemptions"] = {
            key: Exemption("onbekend", start, until).stored()
            for key, (start, until) in state.get("exemptions", {}).items()
        }
        state["advice"] = {}
        state["reduced"] = {}
        old = state.get("thuiszitter")
        if old is not None:
            state["thuiszitter"] = Thuiszitter(
                region=old["region"],
                category=old["category"],
                since=old["since"],
                school=old.get("school"),
                clock_from=old["since"],
                warned=old.get("warned", 0),
                escalated=old.get("escalated", False),
                offer="onbekend" if old.get("offer") else None,
            ).stored()

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        # Absences recorded before keep no hours of their own: a filed report clears none.
        state["unreported"] = {}

    def opened(self) -> None:
        self.enrolments: dict[str, dict[str, Any]] = {}  # brin → school, region, since
        self.region: str | None = None
        self.resident: dict[str, Any] | None = None
        # Monday → [unreported unauthorised hours, absent hours, lessons, unreported dates,
        # unreported absence ids, unauthorised hours]: a report clears the "unreported" ones.
        # Keys are strings (ISO dates, UUIDs) so the state can be snapshotted as JSON.
        self.weeks: dict[str, list[Any]] = {}
        # absence id → [its Monday, its day, its hours]: the unreported unauthorised absences,
        # so a report that names them (luxe, signaal) takes exactly their hours out.
        self.unreported: dict[str, list[Any]] = {}
        self.latest_week: date | None = None
        self.exemptions: dict[str, Exemption] = {}
        self.advice: dict[str, Advice] = {}  # article → the SWV's latest advice
        self.reduced: dict[str, ReducedTime] = {}  # Variawet, by request id
        self.reports: dict[str, str] = {}
        self.thuiszitter: Thuiszitter | None = None
        self.home_reason = "onbekend"

    # queries

    @property
    def enrolled(self) -> bool:
        return bool(self.enrolments)

    def exempt_on(self, day: date) -> bool:
        """A full exemption covers the day (a partial one leaves hours required)."""
        return any(e.covers(day) and e.hours_per_week is None for e in self.exemptions.values())

    def exempt_hours(self, monday: date) -> float:
        """The hours a week partial exemptions (3a, 3b) take off the week of `monday`."""
        return sum(
            e.hours_per_week or 0.0
            for e in self.exemptions.values()
            if e.hours_per_week is not None and e.covers(monday)
        )

    def required_hours(self, rules: RegionRules, school: str | None, monday: date) -> float:
        """The hours the child must attend in that week: the school's week, or the Variawet's
        reduced hours, less the hours a partial exemption frees (no verzuim counts for hours
        not required)."""
        week = rules.weekly_hours(school)
        for reduced in self.reduced.values():
            hours = reduced.hours_on(monday)
            if hours is not None:
                week = min(week, hours)
        return max(week - self.exempt_hours(monday), 0.0)

    # commands: Variawet (arrangements' record of the school board's decision)

    def reduce_teaching_time(
        self,
        request_id: uuid.UUID,
        school: str,
        hours_per_week: float,
        start_on: date,
        end_on: date,
        schedule: list[tuple[date, float]],
    ) -> None:
        if str(request_id) in self.reduced:
            return
        self._teaching_time_reduced(
            child=self.child,
            request_id=request_id,
            school=school,
            hours_per_week=hours_per_week,
            start_on=start_on,
            end_on=end_on,
            schedule=[[day, hours] for day, hours in schedule],
        )

    # commands: enrolment

    def enrol(
        self,
        school: str,
        brin: str,
        region: str,
        on: date,
        relayed: dict[str, Any],
        transition: str | None = None,
    ) -> None:
        self._enrolled(
            child=self.child,
            school=school,
            brin=brin,
            region=region,
            enrolled_on=on,
            transition=transition,
            **relayed,
        )
        if self.thuiszitter is not None and self.thuiszitter.category == 1:
            self._end_thuiszitter(on, "ingeschreven")

    def de_enrol(
        self, school: str, brin: str, region: str, on: date, relayed: dict[str, Any]
    ) -> None:
        enrolment = self.enrolments.get(brin)
        if enrolment is None or enrolment["school"] != school:
            raise NotEnrolledError(f"{school} has no enrolment of this child at {brin}")
        self._de_enrolled(
            child=self.child, school=school, brin=brin, region=region, de_enrolled_on=on, **relayed
        )
        if self.thuiszitter is not None and self.thuiszitter.category == 2:
            self._end_thuiszitter(on, "uitgeschreven")

    def register_resident(
        self,
        municipality: str,
        region: str,
        on: date,
        compulsory_until: date,
        relayed: dict[str, Any],
    ) -> None:
        self._resident_registered(
            child=self.child,
            municipality=municipality,
            region=region,
            registered_on=on,
            compulsory_until=compulsory_until,
            **relayed,
        )

    # commands: absences and the rules they trigger

    def record_absence(
        self,
        rules: RegionRules,
        *,
        absence_id: uuid.UUID,
        school: str,
        on: date,
        hours: float,
        lessons: int | None,
        authorised: bool,
    ) -> None:
        """Record one day's absence; a report or thuiszitter registration may follow."""
        if school not in {e["school"] for e in self.enrolments.values()}:
            raise NotEnrolledError(f"{school} has no enrolment of this child")
        latest = max(on, self.latest_week or on)
        kept = rules.calendar.school_weeks_back(latest, rules.window_weeks)
        self._absence_recorded(
            child=self.child,
            absence_id=absence_id,
            school=school,
            region=rules.region,
            on=on,
            hours=hours,
            lessons=lessons or 0,
            authorised=authorised,
            keep_from=kept[-1],
        )
        if self.exempt_on(on):
            return
        self._check_report(rules, school, latest)
        self._check_category2(rules, school, latest)

    @property
    def _municipality(self) -> str | None:
        return None if self.resident is None else self.resident["municipality"]

    def _brin_of(self, school: str) -> str:
        return next(b for b, e in self.enrolments.items() if e["school"] == school)

    def _check_report(self, rules: RegionRules, school: str, latest: date) -> None:
        window = rules.calendar.school_weeks_back(latest, rules.report.school_weeks)
        sums = [self.weeks[k] for w in reversed(window) if (k := w.isoformat()) in self.weeks]
        unauthorised = sum(
            min(float(self.weeks[k][0]), self.required_hours(rules, school, w))
            for w in window
            if (k := w.isoformat()) in self.weeks
        )
        if unauthorised < rules.report.unauthorised_hours:
            return
        days = sorted(d for s in sums for d in s[3])
        self._report(
            rules,
            school,
            kind="16-uur",
            begin_on=days[0],
            end_on=days[-1],
            hours_unauthorised=unauthorised,
            sums=sums,
            weeks=window,
        )

    def _report(
        self,
        rules: RegionRules,
        school: str,
        *,
        kind: str,
        begin_on: date,
        end_on: date,
        hours_unauthorised: float,
        sums: list[list[Any]],
        weeks: list[date],
    ) -> None:
        contact = rules.schools[school].contact if school in rules.schools else school
        self._report_due(
            child=self.child,
            report_id=uuid.uuid5(NAMESPACE, f"report/{self.child}/{kind}/{begin_on}"),
            school=school,
            brin=self._brin_of(school),
            region=rules.region,
            leerplicht=rules.leerplicht,
            begin_on=begin_on,
            end_on=end_on,
            kind=kind,
            hours_unauthorised=hours_unauthorised,
            hours_absent=sum(s[1] for s in sums),
            lessons_missed=sum(s[2] for s in sums),
            action_taken=rules.report.action_taken,
            municipal_action_wanted=rules.report.municipal_action_wanted,
            contact=contact,
            absence_ids=[i for s in sums for i in s[4]],
            weeks=weeks if kind == "16-uur" else [],
        )

    def _share(
        self, rules: RegionRules, school: str | None, monday: date, *, unauthorised: bool = False
    ) -> float:
        """The share of the week's required hours the child was absent (0 when none were
        required: a partial exemption may free them all)."""
        sums = self.weeks.get(monday.isoformat())
        required = self.required_hours(rules, school, monday)
        if sums is None or required <= 0:
            return 0.0
        # Regions that define long-term relative absence as unauthorised only count those.
        only_unauthorised = unauthorised or rules.thuiszitter.counts == "unauthorised"
        hours = sums[5] if only_unauthorised else sums[1]
        return min(float(hours), required) / required

    def _check_category2(self, rules: RegionRules, school: str, latest: date) -> None:
        if self.thuiszitter is not None:
            return
        rule = rules.thuiszitter
        weeks = rules.calendar.school_weeks_back(latest, rule.more_than_weeks + 1)
        shares = [self._share(rules, school, w) for w in weeks]
        if not all(share > rule.absent_share_above for share in shares):
            return
        since = weeks[-1]
        self._thuiszitter_registered(
            child=self.child,
            region=rules.region,
            category=2,
            since=since,
            absolute=all(share >= rule.absolute_share for share in shares),
            school=school,
            home_reason=self.home_reason,
            municipality=self._municipality,
        )
        sums = [self.weeks[w.isoformat()] for w in reversed(weeks)]
        # Only unauthorised absence leads to a verzuimmelding (Leerplichtwet art. 21): the
        # long absence is leerplicht's only when the unauthorised hours alone make it.
        unauthorised = [self._share(rules, school, w, unauthorised=True) for w in weeks]
        if all(share > rule.absent_share_above for share in unauthorised):
            self._report(
                rules,
                school,
                kind="maand-of-langer",
                begin_on=since,
                end_on=latest,
                hours_unauthorised=sum(s[0] for s in sums),
                sums=sums,
                weeks=[],
            )
        else:
            # Absence the school reports as authorised is illness (or leave): the JGZ's route
            # (medische advisering ziek gemelde leerlingen), not leerplicht's.
            self._jgz_referral_due(
                child=self.child,
                region=rules.region,
                school=school,
                jgz=rules.jgz,
                since=since,
                weeks=len(weeks),
                hours_absent=float(sum(s[1] for s in sums)),
                notify=[rules.jgz],
            )

    # commands: a school files what no hour count shows

    def file_report(
        self,
        rules: RegionRules,
        *,
        report_id: uuid.UUID,
        school: str,
        kind: str,
        begin_on: date,
        end_on: date,
        hours_unauthorised: float,
        lessons_missed: int,
        action_taken: str,
        municipal_action_wanted: bool,
        absence_ids: list[uuid.UUID],
    ) -> None:
        """Luxeverzuim or signaalverzuim, filed by the school: a verzuimmelding is due."""
        if school not in {e["school"] for e in self.enrolments.values()}:
            raise NotEnrolledError(f"{school} has no enrolment of this child")
        if kind not in rules.report.school_filed_kinds:
            raise NotFileableError(f"a school files {rules.report.school_filed_kinds}, not {kind}")
        if str(report_id) in self.reports:
            raise ReportAlreadyFiledError(f"report {report_id} was made before")
        if end_on < begin_on:
            raise NotFileableError("a report ends on or after its first day")
        contact = rules.schools[school].contact if school in rules.schools else school
        self._report_due(
            child=self.child,
            report_id=report_id,
            school=school,
            brin=self._brin_of(school),
            region=rules.region,
            leerplicht=rules.leerplicht,
            begin_on=begin_on,
            end_on=end_on,
            kind=kind,
            hours_unauthorised=hours_unauthorised,
            hours_absent=hours_unauthorised,
            lessons_missed=lessons_missed,
            action_taken=action_taken,
            municipal_action_wanted=municipal_action_wanted,
            contact=contact,
            absence_ids=list(absence_ids),
            weeks=[],
        )

    # commands: leerplicht

    def give_advice(
        self,
        rules: RegionRules,
        *,
        advice_id: uuid.UUID,
        swv: str,
        article: str,
        advice: str,
        given_on: date,
        relayed: dict[str, Any],
    ) -> None:
        """The SWV's advice on an exemption (seed 000 §4.3), given by the region's SWV."""
        if swv != rules.swv:
            raise NotTheRegionsSwvError(f"{swv} is not the SWV of region {rules.region}")
        if article not in rules.exemptions.swv_advice_required:
            raise UnknownExemptionArticleError(f"the SWV gives no advice under article {article}")
        self._advice_given(
            child=self.child,
            advice_id=advice_id,
            swv=swv,
            region=rules.region,
            article=article,
            advice=advice,
            given_on=given_on,
            **relayed,
        )

    def grant_exemption(
        self,
        rules: RegionRules,
        *,
        exemption_id: uuid.UUID,
        leerplicht: str,
        article: str,
        statement: dict[str, Any] | None,
        hours_per_week: float | None,
        valid_from: date,
        valid_until: date | None,
        relayed: dict[str, Any],
    ) -> None:
        """An exemption under an article of the Leerplichtwet, checked as the law asks."""
        law = rules.exemptions
        if article not in law.articles:
            raise UnknownExemptionArticleError(f"no exemption under article {article}")
        self._check_deciding_leerplicht(rules, leerplicht)
        if article in law.statement_required and statement is None:
            raise StatementRequiredError(f"article {article} needs the statement of art. 7")
        if article in law.swv_advice_required and article not in self.advice:
            raise SwvAdviceRequiredError(f"article {article} needs the SWV's advice, given by it")
        partial = article in law.partial
        if partial != (hours_per_week is not None):
            raise PartialExemptionError(f"hours a week go with a partial exemption ({law.partial})")
        if hours_per_week is not None and hours_per_week >= rules.weekly_hours(None):
            raise PartialExemptionError("a partial exemption leaves hours required")
        # The kennisgeving is renewed each year (Lpw art. 6 lid 2 onder b), unless the
        # statement of art. 7 says the child will never be fit to attend a school (lid 3).
        never_fit = bool(statement and statement.get("never_fit"))
        if article in law.yearly_renewal and not never_fit:
            school_year_end = law.school_year_end(valid_from)
            if valid_until is not None and valid_until > school_year_end:
                raise RenewalRequiredError(
                    f"article {article} is renewed yearly: valid until {school_year_end} at most"
                )
            valid_until = valid_until or school_year_end
        self._exemption_granted_v2(
            child=self.child,
            exemption_id=exemption_id,
            leerplicht=leerplicht,
            region=rules.region,
            article=article,
            statement=statement,
            hours_per_week=hours_per_week,
            valid_from=valid_from,
            valid_until=valid_until,
            **relayed,
        )
        if self.thuiszitter is not None and not partial:
            self._end_thuiszitter(valid_from, "vrijstelling")

    def _check_deciding_leerplicht(self, rules: RegionRules, leerplicht: str) -> None:
        """The leerplicht of the municipality where the child lives decides (its residence
        from the population feed; not known: the region's leerplicht)."""
        deciding = rules.leerplicht_of(self._municipality)
        if leerplicht != deciding:
            where = self._municipality or f"region {rules.region}"
            raise NotTheMunicipalitysLeerplichtError(
                f"{leerplicht} does not decide for a child living in {where}"
            )

    def grant_superseded_exemption(
        self,
        rules: RegionRules,
        *,
        exemption_id: uuid.UUID,
        leerplicht: str,
        article: str,
        swv_advice: str | None,
        valid_from: date,
        valid_until: date | None,
        published_on: date,
        relayed: dict[str, Any],
    ) -> None:
        """An exemption-granted.v1 published before v2 took over (a stream or store that holds
        it is still read): taken as it was then, by v1's checks; one published later is
        refused (v1 let leerplicht assert the SWV's advice)."""
        law = rules.exemptions
        cutover = law.v1_published_before
        if cutover is None or published_on >= cutover:
            raise SupersededContractError(
                "exemption-granted.v1 is superseded: leerplicht publishes exemption-granted.v2"
            )
        if article not in law.articles:
            raise UnknownExemptionArticleError(f"no exemption under article {article}")
        if article in law.swv_advice_required and swv_advice is None:
            raise SwvAdviceRequiredError(f"article {article} needed the SWV's advice")
        self._exemption_granted(
            child=self.child,
            exemption_id=exemption_id,
            leerplicht=leerplicht,
            region=rules.region,
            article=article,
            swv_advice=swv_advice,
            valid_from=valid_from,
            valid_until=valid_until,
            **relayed,
        )
        if self.thuiszitter is not None:
            self._end_thuiszitter(valid_from, "vrijstelling")

    def answer_report(
        self,
        rules: RegionRules,
        *,
        report_id: uuid.UUID,
        leerplicht: str,
        status: str,
        answered_on: date,
        closed_reason: str | None,
        home_reason: str | None,
        relayed: dict[str, Any],
    ) -> None:
        current = self.reports.get(str(report_id))
        if current is None:
            raise UnknownReportError(f"no report {report_id} about this child")
        if current == "afgesloten":
            raise ReportAlreadyClosedError(f"report {report_id} was closed before")
        if status == "afgesloten" and closed_reason not in rules.codes.closed_reasons:
            raise UnknownCodeError(f"closing needs a reason from {rules.codes.closed_reasons}")
        if home_reason is not None and home_reason not in rules.codes.home_reasons:
            raise UnknownCodeError(f"unknown reason for being at home: {home_reason}")
        self._report_answered(
            child=self.child,
            report_id=report_id,
            leerplicht=leerplicht,
            status=status,
            answered_on=answered_on,
            closed_reason=closed_reason,
            home_reason=home_reason,
            **relayed,
        )

    def make_offer(self, offer_id: uuid.UUID, by: str, on: date, relayed: dict[str, Any]) -> None:
        if self.thuiszitter is None:
            raise NotAThuiszitterError("an offer is recorded for a thuiszitter only")
        self._offer_made(child=self.child, offer_id=offer_id, by=by, offered_on=on, **relayed)

    def fail_offer(self, offer_id: uuid.UUID, by: str, on: date, relayed: dict[str, Any]) -> None:
        """The offer did not work out: the three-month clock starts again on `on`."""
        if self.thuiszitter is None or self.thuiszitter.offer != str(offer_id):
            raise UnknownOfferError(f"no open offer {offer_id} to this thuiszitter")
        self._offer_failed(child=self.child, offer_id=offer_id, by=by, failed_on=on, **relayed)

    def record_decision(
        self,
        rules: RegionRules,
        *,
        decision_id: uuid.UUID,
        by: str,
        forum: str,
        outcome: str,
        decided_on: date,
        relayed: dict[str, Any],
    ) -> None:
        """The outcome of the local integral meeting or the thuiszitterstafel; no agreement in
        the local meeting escalates at once."""
        if self.thuiszitter is None:
            raise NotAThuiszitterError("a decision is recorded for a thuiszitter only")
        members = rules.integral_meeting if forum == "integraal-overleg" else rules.escalation
        if by not in members:
            raise NotAMemberOfTheForumError(f"{by} does not sit in the {forum}")
        if outcome not in rules.codes.decision_outcomes:
            raise UnknownCodeError(
                f"a decision's outcome is one of {rules.codes.decision_outcomes}"
            )
        self._decision_recorded(
            child=self.child,
            decision_id=decision_id,
            by=by,
            region=rules.region,
            forum=forum,
            outcome=outcome,
            decided_on=decided_on,
            **relayed,
        )
        if forum == "integraal-overleg" and outcome in rules.codes.escalating_outcomes:
            self._check_three_months(rules, decided_on, no_agreement=True)

    # time-driven rules

    def review(self, rules: RegionRules, today: date) -> None:
        """What time alone decides: category 1, the end of category 2, the three-month rule."""
        if self.thuiszitter is None:
            self._check_category1(rules, today)
        elif self.thuiszitter.category == 2:
            last_week = week_of(today) - timedelta(days=7)
            weeks = rules.calendar.school_weeks_back(last_week, 1)
            school = self.thuiszitter.school
            if weeks[0] >= self.thuiszitter.since and (
                self._share(rules, school, weeks[0]) <= rules.thuiszitter.absent_share_above
            ):
                self._end_thuiszitter(today, "terug-naar-school")
                return
        if self.thuiszitter is not None:
            self._check_three_months(rules, today)

    def _check_category1(self, rules: RegionRules, today: date) -> None:
        resident = self.resident
        if resident is None or self.enrolled or self.exempt_on(today):
            return
        if today > resident["compulsory_until"]:
            return
        since = max(resident["registered_on"], resident.get("de_enrolled_on", date.min))
        if today < since + timedelta(days=rules.thuiszitter.category1_grace_days):
            return
        self._thuiszitter_registered(
            child=self.child,
            region=rules.region,
            category=1,
            since=since,
            absolute=True,
            school=None,
            home_reason=self.home_reason,
            municipality=self._municipality,
        )

    def _check_three_months(
        self, rules: RegionRules, today: date, *, no_agreement: bool = False
    ) -> None:
        """Warnings to leerplicht, then the local integral meeting (seed 000 §3.4), then the
        escalation to the thuiszitterstafel with the SWV: never before the meeting."""
        state = self.thuiszitter
        if state is None or state.offer is not None or state.escalated:
            return
        rule = rules.three_month_rule
        days = (today - state.clock_from).days
        deadline = state.clock_from + timedelta(days=rule.limit_days)
        meeting = not state.integral and days >= rule.integral_meeting_after_days
        escalate = days >= rule.escalate_after_days or no_agreement
        if not meeting and not escalate:
            # one warning per threshold passed; a late tick gives only the highest one
            due = [d for d in rule.warn_after_days if state.warned < d <= days]
            if due:
                self._reached(rules, "warning", max(due), days, deadline, [rules.leerplicht])
            return
        if meeting:
            self._integral_meeting_due(
                child=self.child,
                region=rules.region,
                since=state.clock_from,
                days_at_home=days,
                deadline=deadline,
                notify=list(rules.integral_meeting),
            )
        if escalate:
            threshold = min(days, rule.escalate_after_days)
            self._reached(rules, "escalated", threshold, days, deadline, rules.escalation)

    def _reached(
        self,
        rules: RegionRules,
        stage: str,
        threshold: int,
        days: int,
        deadline: date,
        notify: list[str],
    ) -> None:
        assert self.thuiszitter is not None
        self._three_month_rule_reached(
            child=self.child,
            region=rules.region,
            stage=stage,
            threshold_days=threshold,
            since=self.thuiszitter.clock_from,
            days_at_home=days,
            deadline=deadline,
            notify=list(notify),
        )

    def _end_thuiszitter(self, on: date, reason: str) -> None:
        state = self.thuiszitter
        assert state is not None
        self._thuiszitter_ended(
            child=self.child,
            region=state.region,
            category=state.category,
            ended_on=on,
            reason=reason,
        )

    # events

    @event(Enrolled)
    def _enrolled(
        self,
        child: str,
        school: str,
        brin: str,
        region: str,
        enrolled_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
        transition: str | None = None,
    ) -> None:
        self.enrolments[brin] = {"school": school, "region": region, "since": enrolled_on}
        self.region = region

    @event(DeEnrolled)
    def _de_enrolled(
        self,
        child: str,
        school: str,
        brin: str,
        region: str,
        de_enrolled_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        del self.enrolments[brin]
        if self.resident is not None:
            self.resident["de_enrolled_on"] = de_enrolled_on

    @event(AbsenceRecorded)
    def _absence_recorded(
        self,
        child: str,
        absence_id: uuid.UUID,
        school: str,
        region: str,
        on: date,
        hours: float,
        lessons: int,
        authorised: bool,
        keep_from: date,
    ) -> None:
        self.region = region
        monday = week_of(on)
        self.latest_week = max(monday, self.latest_week or monday)
        sums = self.weeks.setdefault(monday.isoformat(), [0.0, 0.0, 0, [], [], 0.0])
        if not authorised:
            sums[0] += hours
            sums[3].append(on)
            sums[4].append(absence_id)
            sums[5] += hours
            self.unreported[str(absence_id)] = [monday.isoformat(), on.isoformat(), hours]
        sums[1] += hours
        sums[2] += lessons
        cut = keep_from.isoformat()
        for key in [w for w in self.weeks if w < cut]:
            del self.weeks[key]
        for key in [a for a, (monday, _, _) in self.unreported.items() if monday < cut]:
            del self.unreported[key]

    @event(ResidentRegistered)
    def _resident_registered(
        self,
        child: str,
        municipality: str,
        region: str,
        registered_on: date,
        compulsory_until: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        self.region = region
        self.resident = {
            "municipality": municipality,
            "registered_on": registered_on,
            "compulsory_until": compulsory_until,
        }

    @event(ExemptionGranted)
    def _exemption_granted(
        self,
        child: str,
        exemption_id: uuid.UUID,
        leerplicht: str,
        region: str,
        article: str,
        swv_advice: str | None,
        valid_from: date,
        valid_until: date | None,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        self.exemptions[str(exemption_id)] = Exemption(article, valid_from, valid_until)

    @event(ExemptionGrantedV2)
    def _exemption_granted_v2(
        self,
        child: str,
        exemption_id: uuid.UUID,
        leerplicht: str,
        region: str,
        article: str,
        statement: dict[str, Any] | None,
        hours_per_week: float | None,
        valid_from: date,
        valid_until: date | None,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        self.exemptions[str(exemption_id)] = Exemption(
            article, valid_from, valid_until, hours_per_week
        )

    @event(TeachingTimeReduced)
    def _teaching_time_reduced(
        self,
        child: str,
        request_id: uuid.UUID,
        school: str,
        hours_per_week: float,
        start_on: date,
        end_on: date,
        schedule: list[list[Any]],
    ) -> None:
        steps = tuple((day, float(hours)) for day, hours in schedule)
        self.reduced[str(request_id)] = ReducedTime(start_on, end_on, hours_per_week, steps)

    @event(AdviceGiven)
    def _advice_given(
        self,
        child: str,
        advice_id: uuid.UUID,
        swv: str,
        region: str,
        article: str,
        advice: str,
        given_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        self.advice[article] = Advice(swv, article, advice, given_on)

    @event(ReportDue)
    def _report_due(
        self,
        child: str,
        report_id: uuid.UUID,
        school: str,
        brin: str,
        region: str,
        leerplicht: str,
        begin_on: date,
        end_on: date,
        kind: str,
        hours_unauthorised: float,
        hours_absent: float,
        lessons_missed: int,
        action_taken: str,
        municipal_action_wanted: bool,
        contact: str,
        absence_ids: list[uuid.UUID],
        weeks: list[date],
    ) -> None:
        self.reports[str(report_id)] = "gemeld"
        # What was reported is not counted again towards the next 16 hours: the weeks of a
        # 16-hour report, the absences a filed report (luxe, signaal) names or, naming none,
        # the unreported ones in its period.
        for monday in weeks:
            if monday.isoformat() in self.weeks:
                sums = self.weeks[monday.isoformat()]
                for absence in sums[4]:
                    self.unreported.pop(str(absence), None)
                sums[0], sums[3], sums[4] = 0.0, [], []
        if kind in FILED_KINDS:
            self._take_out(self._reported_absences(absence_ids, begin_on, end_on))

    def _reported_absences(self, named: list[uuid.UUID], begin_on: date, end_on: date) -> list[str]:
        if named:
            return [str(a) for a in named if str(a) in self.unreported]
        first, last = begin_on.isoformat(), end_on.isoformat()
        return [a for a, (_, day, _) in self.unreported.items() if first <= day <= last]

    def _take_out(self, absences: list[str]) -> None:
        """Unreported absences a report covered leave the week's unreported sums."""
        for absence in absences:
            monday, _, hours = self.unreported.pop(absence)
            sums = self.weeks.get(monday)
            if sums is None:
                continue
            sums[0] = max(float(sums[0]) - hours, 0.0)
            ids = [str(i) for i in sums[4]]
            if absence in ids:
                at = ids.index(absence)
                del sums[4][at]
                if at < len(sums[3]):
                    del sums[3][at]

    @event(ReportAnswered)
    def _report_answered(
        self,
        child: str,
        report_id: uuid.UUID,
        leerplicht: str,
        status: str,
        answered_on: date,
        closed_reason: str | None,
        home_reason: str | None,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        self.reports[str(report_id)] = status
        if home_reason is not None:
            self.home_reason = home_reason

    @event(ThuiszitterRegistered)
    def _thuiszitter_registered(
        self,
        child: str,
        region: str,
        category: int,
        since: date,
        absolute: bool,
        school: str | None,
        home_reason: str,
        municipality: str | None = None,
    ) -> None:
        self.thuiszitter = Thuiszitter(region, category, since, school, clock_from=since)

    @event(ThuiszitterEnded)
    def _thuiszitter_ended(
        self, child: str, region: str, category: int, ended_on: date, reason: str
    ) -> None:
        self.thuiszitter = None

    @event(ThreeMonthRuleReached)
    def _three_month_rule_reached(
        self,
        child: str,
        region: str,
        stage: str,
        threshold_days: int,
        since: date,
        days_at_home: int,
        deadline: date,
        notify: list[str],
    ) -> None:
        assert self.thuiszitter is not None
        if stage == "escalated":
            self.thuiszitter = replace(self.thuiszitter, escalated=True)
        else:
            self.thuiszitter = replace(self.thuiszitter, warned=threshold_days)

    @event(IntegralMeetingDue)
    def _integral_meeting_due(
        self,
        child: str,
        region: str,
        since: date,
        days_at_home: int,
        deadline: date,
        notify: list[str],
    ) -> None:
        assert self.thuiszitter is not None
        self.thuiszitter = replace(self.thuiszitter, integral=True)

    @event(JgzReferralDue)
    def _jgz_referral_due(
        self,
        child: str,
        region: str,
        school: str,
        jgz: str,
        since: date,
        weeks: int,
        hours_absent: float,
        notify: list[str],
    ) -> None:
        pass

    @event(OfferMade)
    def _offer_made(
        self,
        child: str,
        offer_id: uuid.UUID,
        by: str,
        offered_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        assert self.thuiszitter is not None
        self.thuiszitter = replace(self.thuiszitter, offer=str(offer_id))

    @event(OfferFailed)
    def _offer_failed(
        self,
        child: str,
        offer_id: uuid.UUID,
        by: str,
        failed_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        assert self.thuiszitter is not None
        # The three-month clock starts again: no warning, meeting or escalation yet.
        self.thuiszitter = replace(
            self.thuiszitter,
            clock_from=failed_on,
            warned=0,
            integral=False,
            escalated=False,
            offer=None,
        )

    @event(DecisionRecorded)
    def _decision_recorded(
        self,
        child: str,
        decision_id: uuid.UUID,
        by: str,
        region: str,
        forum: str,
        outcome: str,
        decided_on: date,
        event_id: uuid.UUID,
        source: str,
        sealed: dict[str, str],
    ) -> None:
        if self.thuiszitter is not None and forum == "integraal-overleg":
            # The local integral meeting was held: escalation may follow.
            self.thuiszitter = replace(self.thuiszitter, integral=True)


class RegionWatch(PerRegion):
    """The children of a region that time-driven rules must look at (thuiszitters, residents
    waiting for an enrolment): the tick reads this instead of every child."""

    class Watched(Aggregate.Event):
        child: str

    class Unwatched(Aggregate.Event):
        child: str

    namespace, kind = NAMESPACE, "region-watch"

    def opened(self) -> None:
        self.children: set[str] = set()

    def watch(self, child: str) -> None:
        if child not in self.children:
            self._watched(child=child)

    def unwatch(self, child: str) -> None:
        if child in self.children:
            self._unwatched(child=child)

    @event(Watched)
    def _watched(self, child: str) -> None:
        self.children.add(child)

    @event(Unwatched)
    def _unwatched(self, child: str) -> None:
        self.children.discard(child)

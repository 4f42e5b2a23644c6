"""A child's enrolments and attendance, and what the law and the region make of them.

Rules (Leerplichtwet art. 18, 21; Besluit verzuimmelding; thuiszitterspact; seed 001 F):
- 16 hours unauthorised within 4 consecutive school weeks → a verzuimmelding is due;
- category 2 thuiszitter: more than 4 consecutive school weeks absent more than 50% (any kind);
- category 1 (absolute verzuim): resident of compulsory age, not enrolled after the grace days;
- three-month rule: warnings, then escalation to the thuiszitterstafel before three months;
- exemptions (5a, 5b, 15) stop the rules; 5a needs the SWV's advice (as the region says).
Thresholds, codes and calendars come in as `RegionRules`. The aggregate keeps rolling per-week
sums for the last few school weeks only, so no rule ever rescans a child's history.

No I/O here: the application loads and saves, the handlers decode.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.policy.regions import RegionRules, week_of
from services.runtime.aggregate import PerChild, PerRegion

NAMESPACE = uuid.UUID("3a1f6d2c-7e4b-4c1a-9f0e-747275616e63")


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
    """An offer for a child that is not at home."""


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

    namespace, kind = NAMESPACE, "child-attendance"

    def opened(self) -> None:
        self.enrolments: dict[str, dict[str, Any]] = {}  # brin → school, region, since
        self.region: str | None = None
        self.resident: dict[str, Any] | None = None
        # Monday → [unreported unauthorised hours, absent hours, lessons, unreported dates,
        # unreported absence ids, unauthorised hours]: a report clears the "unreported" ones.
        # Keys are strings (ISO dates, UUIDs) so the state can be snapshotted as JSON.
        self.weeks: dict[str, list[Any]] = {}
        self.latest_week: date | None = None
        self.exemptions: dict[str, list[date | None]] = {}
        self.reports: dict[str, str] = {}
        self.thuiszitter: dict[str, Any] | None = None
        self.home_reason = "onbekend"

    # queries

    @property
    def enrolled(self) -> bool:
        return bool(self.enrolments)

    def exempt_on(self, day: date) -> bool:
        return any(
            start is not None and start <= day and (until is None or day <= until)
            for start, until in self.exemptions.values()
        )

    # commands: enrolment

    def enrol(self, school: str, brin: str, region: str, on: date, relayed: dict[str, Any]) -> None:
        self._enrolled(
            child=self.child, school=school, brin=brin, region=region, enrolled_on=on, **relayed
        )
        if self.thuiszitter is not None and self.thuiszitter["category"] == 1:
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
        if self.thuiszitter is not None and self.thuiszitter["category"] == 2:
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

    def _brin_of(self, school: str) -> str:
        return next(b for b, e in self.enrolments.items() if e["school"] == school)

    def _check_report(self, rules: RegionRules, school: str, latest: date) -> None:
        window = rules.calendar.school_weeks_back(latest, rules.report.school_weeks)
        sums = [self.weeks[k] for w in reversed(window) if (k := w.isoformat()) in self.weeks]
        unauthorised = sum(s[0] for s in sums)
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

    def _share(self, rules: RegionRules, school: str | None, monday: date) -> float:
        sums = self.weeks.get(monday.isoformat())
        if sums is None:
            return 0.0
        # Regions that define long-term relative absence as unauthorised only count those.
        hours = sums[5] if rules.thuiszitter.counts == "unauthorised" else sums[1]
        return float(hours) / rules.weekly_hours(school)

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
        )
        sums = [self.weeks[w.isoformat()] for w in reversed(weeks)]
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

    # commands: leerplicht

    def grant_exemption(
        self,
        rules: RegionRules,
        *,
        exemption_id: uuid.UUID,
        leerplicht: str,
        article: str,
        swv_advice: str | None,
        valid_from: date,
        valid_until: date | None,
        relayed: dict[str, Any],
    ) -> None:
        if article not in rules.exemptions.articles:
            raise UnknownExemptionArticleError(f"no exemption under article {article}")
        if article in rules.exemptions.swv_advice_required and swv_advice is None:
            raise SwvAdviceRequiredError(f"an exemption under article {article} needs SWV advice")
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

    # time-driven rules

    def review(self, rules: RegionRules, today: date) -> None:
        """What time alone decides: category 1, the end of category 2, the three-month rule."""
        if self.thuiszitter is None:
            self._check_category1(rules, today)
        elif self.thuiszitter["category"] == 2:
            last_week = week_of(today) - timedelta(days=7)
            weeks = rules.calendar.school_weeks_back(last_week, 1)
            school = self.thuiszitter.get("school")
            if weeks[0] >= self.thuiszitter["since"] and (
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
        )

    def _check_three_months(self, rules: RegionRules, today: date) -> None:
        state = self.thuiszitter
        assert state is not None
        if state["offer"]:
            return
        rule = rules.three_month_rule
        days = (today - state["since"]).days
        deadline = state["since"] + timedelta(days=rule.limit_days)
        if days >= rule.escalate_after_days and not state["escalated"]:
            stage, threshold, notify = (
                "escalated",
                rule.escalate_after_days,
                rules.thuiszitterstafel,
            )
        else:
            # one warning per threshold passed; a late tick gives only the highest one
            due = [d for d in rule.warn_after_days if state["warned"] < d <= days]
            if not due or state["escalated"]:
                return
            stage, threshold, notify = "warning", max(due), [rules.leerplicht]
        self._three_month_rule_reached(
            child=self.child,
            region=rules.region,
            stage=stage,
            threshold_days=threshold,
            since=state["since"],
            days_at_home=days,
            deadline=deadline,
            notify=list(notify),
        )

    def _end_thuiszitter(self, on: date, reason: str) -> None:
        state = self.thuiszitter
        assert state is not None
        self._thuiszitter_ended(
            child=self.child,
            region=state["region"],
            category=state["category"],
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
        sums[1] += hours
        sums[2] += lessons
        cut = keep_from.isoformat()
        for key in [w for w in self.weeks if w < cut]:
            del self.weeks[key]

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
        self.exemptions[str(exemption_id)] = [valid_from, valid_until]

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
        # What was reported is not counted again towards the next 16 hours.
        for monday in weeks:
            if monday.isoformat() in self.weeks:
                sums = self.weeks[monday.isoformat()]
                sums[0], sums[3], sums[4] = 0.0, [], []

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
    ) -> None:
        self.thuiszitter = {
            "region": region,
            "category": category,
            "since": since,
            "school": school,
            "warned": 0,
            "escalated": False,
            "offer": False,
        }

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
            self.thuiszitter["escalated"] = True
        else:
            self.thuiszitter["warned"] = threshold_days

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
        self.thuiszitter["offer"] = True


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

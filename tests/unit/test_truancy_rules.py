"""Truancy's rules, each with an injected clock and school calendar (in memory)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from ketenbus_contracts.arrangements import (
    ReducedTeachingTimeRequested,
    ReducedTeachingTimeRequestedData,
    ScheduleStep,
)
from ketenbus_contracts.truancy import (
    Article7Statement,
    ExemptionGranted,
    ExemptionGrantedData,
    ExemptionGrantedV2,
    ExemptionGrantedV2Data,
    OfferFailed,
    OfferFailedData,
    OfferMade,
    OfferMadeData,
    ReportAnswered,
    ReportAnsweredData,
    ResidentRegistered,
    ResidentRegisteredData,
    SwvAdviceGiven,
    SwvAdviceGivenData,
    ThuiszitterDecisionRecorded,
    ThuiszitterDecisionRecordedData,
    VerzuimFiled,
    VerzuimFiledData,
)
from services.truancy.bootstrap import service_spec
from services.truancy.domain import (
    ChildAttendance,
    Exemption,
    NotAMemberOfTheForumError,
    NotEnrolledError,
    NotFileableError,
    NotTheMunicipalitysLeerplichtError,
    NotTheRegionsSwvError,
    PartialExemptionError,
    RenewalRequiredError,
    ReportAlreadyClosedError,
    StatementRequiredError,
    SupersededContractError,
    SwvAdviceRequiredError,
    Thuiszitter,
    UnknownCodeError,
    UnknownOfferError,
    UnknownReportError,
)
from services.truancy.translation import apply_inbound
from tests.unit.truancy_helpers import (
    CHILD,
    LEERPLICHT,
    SCHOOL,
    Clock,
    absent,
    application,
    enrol,
    of_type,
    recorded,
    region,
)

MONDAY = date(2026, 9, 7)  # a school week; the autumn holiday is the week of 2026-10-19


def weekdays(first: date, weeks: int) -> list[date]:
    return [first + timedelta(weeks=w, days=d) for w in range(weeks) for d in range(5)]


# Leerplichtwet art. 21: 16 hours unauthorised within 4 consecutive school weeks


def test_sixteen_unauthorised_hours_within_four_school_weeks_make_a_report_due() -> None:
    app = application()
    enrol(app)
    ids = [absent(app, MONDAY + timedelta(weeks=w), 4) for w in range(4)]

    [report] = of_type(app, "ReportDue")
    expected = {
        "kind": "16-uur", "begin_on": MONDAY, "end_on": MONDAY + timedelta(weeks=3),
        "hours_unauthorised": 16.0, "leerplicht": LEERPLICHT, "school": SCHOOL, "brin": "99ZZ",
        "municipal_action_wanted": True, "absence_ids": ids,
    }  # fmt: skip
    assert expected == {k: getattr(report, k) for k in expected}
    assert report.contact and report.action_taken


def test_fifteen_hours_or_authorised_hours_make_no_report() -> None:
    app = application()
    enrol(app)
    absent(app, MONDAY, 8)
    absent(app, MONDAY + timedelta(days=1), 7)
    absent(app, MONDAY + timedelta(days=2), 8, authorised=True)

    assert [] == of_type(app, "ReportDue")


def test_sixteen_hours_spread_over_five_school_weeks_make_no_report() -> None:
    app = application()
    enrol(app)
    for w in range(5):
        absent(app, MONDAY + timedelta(weeks=w), 3.5)

    assert [] == of_type(app, "ReportDue")


def test_a_holiday_week_does_not_break_four_consecutive_school_weeks() -> None:
    app = application()
    enrol(app)
    # 5, 12 Oct are school weeks, 19 Oct holiday, 26 Oct and 2 Nov school weeks
    for day in (date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 26), date(2026, 11, 2)):
        absent(app, day, 4)

    assert ["16-uur"] == [r.kind for r in of_type(app, "ReportDue")]


def test_reported_hours_do_not_count_towards_the_next_report() -> None:
    app = application()
    enrol(app)
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 4)
    absent(app, MONDAY + timedelta(weeks=4), 4)

    assert 1 == len(of_type(app, "ReportDue"))


def test_the_rolling_sums_keep_a_few_weeks_only_whatever_the_history() -> None:
    rules = region()
    app = application(rules)
    enrol(app)
    for day in weekdays(MONDAY, 30):
        absent(app, day, 0.5)

    assert len(app.attendance_of(CHILD).weeks) <= rules.window_weeks


def test_an_absence_from_a_school_without_an_enrolment_is_refused() -> None:
    app = application()
    with pytest.raises(NotEnrolledError):
        absent(app, MONDAY, 2)


# seed 001 F: category 2, more than 4 weeks absent more than 50%, authorised or not


def test_more_than_four_weeks_absent_over_half_the_time_is_category_2() -> None:
    app = application()
    enrol(app)
    for day in weekdays(MONDAY, 5):
        absent(app, day, 3)  # 15 of 25 hours a week, unauthorised

    [registered] = of_type(app, "ThuiszitterRegistered")
    assert (2, MONDAY, False) == (registered.category, registered.since, registered.absolute)
    assert {"16-uur", "maand-of-langer"} == {r.kind for r in of_type(app, "ReportDue")}


# Leerplichtwet art. 21: only unauthorised absence leads to a verzuimmelding; long illness is
# the JGZ's (medische advisering ziek gemelde leerlingen, MAZL)


def test_only_unauthorised_absence_leads_to_a_verzuimmelding() -> None:
    app = application()
    enrol(app)
    for day in weekdays(MONDAY, 5):
        absent(app, day, 5, authorised=True)  # ill for five weeks, every hour authorised

    [registered] = of_type(app, "ThuiszitterRegistered")
    assert (2, MONDAY) == (registered.category, registered.since)  # counted in the monitor
    assert [] == of_type(app, "ReportDue")


def test_long_absence_through_illness_goes_to_the_jgz_not_to_leerplicht() -> None:
    app = application()
    enrol(app)
    for day in weekdays(MONDAY, 5):
        absent(app, day, 5, authorised=True)

    [referral] = of_type(app, "JgzReferralDue")
    assert ("jgz-gelderland-zuid", ["jgz-gelderland-zuid"], MONDAY, SCHOOL, 115.0) == (
        referral.jgz, referral.notify, referral.since, referral.school, referral.hours_absent
    )  # fmt: skip


def test_four_weeks_over_half_is_not_yet_category_2() -> None:
    app = application()
    enrol(app)
    for day in weekdays(MONDAY, 4):
        absent(app, day, 3, authorised=True)

    assert [] == of_type(app, "ThuiszitterRegistered")


def test_a_region_counting_only_unauthorised_absence_ignores_authorised_weeks() -> None:
    app = application(region(thuiszitter__counts="unauthorised"))
    enrol(app)
    for day in weekdays(MONDAY, 5):
        absent(app, day, 3, authorised=True)

    assert [] == of_type(app, "ThuiszitterRegistered")


def test_a_week_back_at_school_ends_category_2_at_the_next_tick() -> None:
    clock = Clock(datetime(2026, 10, 12, 7, tzinfo=UTC))
    app = application(clock=clock)
    enrol(app)
    for day in weekdays(MONDAY, 5):
        absent(app, day, 5)
    app.tick(clock())  # week of 5 Oct still over half: stays
    clock.now = datetime(2026, 10, 26, 7, tzinfo=UTC)  # week of 12 Oct had no absences

    app.tick(clock())

    [ended] = of_type(app, "ThuiszitterEnded")
    assert (2, "terug-naar-school") == (ended.category, ended.reason)


# category 1: absolute verzuim, from the municipal population feed


def resident(app, on: date = date(2026, 9, 1)) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ResidentRegistered.create(
        source=LEERPLICHT, subject=CHILD,
        data=ResidentRegisteredData(
            municipality=LEERPLICHT, region="lingewaard", registered_on=on,
            compulsory_until=date(2032, 7, 31),
        ),
    ))  # fmt: skip


def test_a_resident_of_compulsory_age_without_enrolment_becomes_category_1_after_grace() -> None:
    app = application()
    resident(app)

    app.tick(datetime(2026, 9, 7, tzinfo=UTC))
    assert [] == of_type(app, "ThuiszitterRegistered")
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    [registered] = of_type(app, "ThuiszitterRegistered")
    assert (1, date(2026, 9, 1), True) == (
        registered.category, registered.since, registered.absolute
    )  # fmt: skip


def test_a_thuiszitter_names_the_municipality_it_lives_in_for_the_monitor() -> None:
    app = application()
    resident(app)

    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    [registered] = of_type(app, "ThuiszitterRegistered")
    assert LEERPLICHT == registered.municipality  # the population feed's partner


def test_enrolment_ends_absolute_verzuim() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 10, tzinfo=UTC))

    enrol(app, on=date(2026, 9, 14))

    [ended] = of_type(app, "ThuiszitterEnded")
    assert (1, "ingeschreven") == (ended.category, ended.reason)


def test_an_enrolled_resident_is_never_category_1() -> None:
    app = application()
    enrol(app)
    resident(app)

    app.tick(datetime(2026, 10, 1, tzinfo=UTC))

    assert [] == of_type(app, "ThuiszitterRegistered")


# thuiszitterspact: no child at home three months without an offer


SWV = "swv-lingewaard"
WIJKTEAM = "wijkteam-lingewaard"


def test_the_three_month_rule_warns_then_escalates_to_the_thuiszitterstafel() -> None:
    app = application()
    resident(app)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for days in range(8, 100):
        app.tick(start + timedelta(days=days))

    reached = of_type(app, "ThreeMonthRuleReached")
    expected = [
        ("warning", 42, [LEERPLICHT]),
        ("warning", 63, [LEERPLICHT]),
        ("escalated", 75, [LEERPLICHT, SWV, WIJKTEAM]),
    ]
    assert expected == [(r.stage, r.days_at_home, r.notify) for r in reached]
    assert date(2026, 12, 1) == reached[-1].deadline


def test_the_swv_takes_part_in_the_three_month_escalation() -> None:
    app = application(region(thuiszitterstafel=[LEERPLICHT]))
    resident(app)
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    app.tick(datetime(2026, 11, 20, tzinfo=UTC))

    [escalated] = [r for r in of_type(app, "ThreeMonthRuleReached") if r.stage == "escalated"]
    assert [LEERPLICHT, SWV] == escalated.notify


def test_a_local_integral_meeting_comes_before_escalation() -> None:
    app = application()
    resident(app)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for days in (8, 56, 80):
        app.tick(start + timedelta(days=days))

    stages = [
        (type(e).__name__, getattr(e, "stage", None), e.days_at_home)
        for e in recorded(app)
        if type(e).__name__ in ("IntegralMeetingDue", "ThreeMonthRuleReached")
    ]
    assert [
        ("IntegralMeetingDue", None, 56),
        ("ThreeMonthRuleReached", "escalated", 80),
    ] == stages
    [meeting] = of_type(app, "IntegralMeetingDue")
    assert [LEERPLICHT, WIJKTEAM, SWV] == meeting.notify


def test_a_late_tick_still_holds_the_integral_meeting_before_escalating() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    app.tick(datetime(2026, 11, 30, tzinfo=UTC))

    kinds = [type(e).__name__ for e in recorded(app)][-2:]
    assert ["IntegralMeetingDue", "ThreeMonthRuleReached"] == kinds


def decision(app, by: str, forum: str, outcome: str, on: date) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ThuiszitterDecisionRecorded.create(
        source=by, subject=CHILD,
        data=ThuiszitterDecisionRecordedData(
            decision_id=uuid.uuid4(), by=by, region="lingewaard", forum=forum,  # type: ignore[arg-type]
            outcome=outcome, decided_on=on,
        ),
    ))  # fmt: skip


def test_the_outcome_of_the_meeting_is_a_recorded_decision() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    decision(app, SWV, "integraal-overleg", "zorg-ingezet", date(2026, 9, 20))

    [recorded_decision] = of_type(app, "DecisionRecorded")
    assert (SWV, "integraal-overleg", "zorg-ingezet") == (
        recorded_decision.by, recorded_decision.forum, recorded_decision.outcome
    )  # fmt: skip


def test_no_agreement_in_the_integral_meeting_escalates_at_once() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))

    decision(app, WIJKTEAM, "integraal-overleg", "geen-overeenstemming", date(2026, 9, 30))

    [escalated] = of_type(app, "ThreeMonthRuleReached")
    assert ("escalated", 29) == (escalated.stage, escalated.days_at_home)


def test_only_a_member_records_the_decision_of_a_meeting_with_a_known_outcome() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 8, tzinfo=UTC))
    with pytest.raises(NotAMemberOfTheForumError):
        decision(app, SCHOOL, "thuiszitterstafel", "zorg-ingezet", date(2026, 9, 30))
    with pytest.raises(UnknownCodeError):
        decision(app, SWV, "thuiszitterstafel", "weet-niet", date(2026, 9, 30))


def test_an_offer_stops_the_three_month_clock() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 10, tzinfo=UTC))
    apply_inbound(app, OfferMade.create(
        source="bs-de-regenboog", subject=CHILD,
        data=OfferMadeData(offer_id=uuid.uuid4(), by="bs-de-regenboog",
                           offered_on=date(2026, 9, 20)),
    ))  # fmt: skip

    app.tick(datetime(2026, 12, 1, tzinfo=UTC))

    assert [] == of_type(app, "ThreeMonthRuleReached")


def offer(app, offer_id: uuid.UUID, on: date) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, OfferMade.create(
        source=SCHOOL, subject=CHILD,
        data=OfferMadeData(offer_id=offer_id, by=SCHOOL, offered_on=on),
    ))  # fmt: skip


def test_a_failed_offer_restarts_the_three_month_clock() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 10, tzinfo=UTC))
    offer_id = uuid.uuid4()
    offer(app, offer_id, date(2026, 9, 20))
    apply_inbound(app, OfferFailed.create(
        source=SCHOOL, subject=CHILD,
        data=OfferFailedData(offer_id=offer_id, by=SCHOOL, failed_on=date(2026, 10, 5)),
    ))  # fmt: skip

    app.tick(datetime(2026, 11, 15, tzinfo=UTC))  # 75 days since 1 Sep, 41 since the failure
    assert [] == of_type(app, "ThreeMonthRuleReached")
    app.tick(datetime(2026, 11, 16, tzinfo=UTC))

    [warning] = of_type(app, "ThreeMonthRuleReached")
    assert ("warning", date(2026, 10, 5), date(2027, 1, 4)) == (
        warning.stage, warning.since, warning.deadline
    )  # fmt: skip


def test_an_unknown_offer_cannot_fail() -> None:
    app = application()
    resident(app)
    app.tick(datetime(2026, 9, 10, tzinfo=UTC))
    with pytest.raises(UnknownOfferError):
        apply_inbound(app, OfferFailed.create(
            source=SCHOOL, subject=CHILD,
            data=OfferFailedData(offer_id=uuid.uuid4(), by=SCHOOL, failed_on=date(2026, 10, 5)),
        ))  # fmt: skip


# exemptions (Leerplichtwet 1969 art. 3a, 3b, 5 onder a/b/c, 5a, 7, 15), the SWV's advice


STATEMENT = Article7Statement(by="orthopedagoog-generalist", issued_on=date(2026, 9, 1))


def exemption(  # type: ignore[no-untyped-def]
    app,
    article: str,
    *,
    statement: Article7Statement | None = STATEMENT,
    hours: float | None = None,
    valid_from: date = MONDAY,
    valid_until: date | None = None,
) -> None:
    apply_inbound(app, ExemptionGrantedV2.create(
        source=LEERPLICHT, subject=CHILD,
        data=ExemptionGrantedV2Data(
            exemption_id=uuid.uuid4(), leerplicht=LEERPLICHT, region="lingewaard",
            article=article, statement=statement, hours_per_week=hours,  # type: ignore[arg-type]
            valid_from=valid_from, valid_until=valid_until,
        ),
    ))  # fmt: skip


def advice(app, swv: str = SWV, article: str = "5a") -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, SwvAdviceGiven.create(
        source=swv, subject=CHILD,
        data=SwvAdviceGivenData(
            advice_id=uuid.uuid4(), swv=swv, region="lingewaard", article=article,  # type: ignore[arg-type]
            advice="positief", given_on=date(2026, 9, 2),
        ),
    ))  # fmt: skip


def test_an_exemption_under_5_onder_a_needs_the_swv_advice_given_by_the_swv() -> None:
    app = application()
    with pytest.raises(SwvAdviceRequiredError):
        exemption(app, "5a")
    with pytest.raises(NotTheRegionsSwvError):
        advice(app, swv="swv-po-lingewaard")

    advice(app)
    exemption(app, "5a")

    [granted] = of_type(app, "ExemptionGrantedV2")
    statement = {"by": "orthopedagoog-generalist", "issued_on": "2026-09-01", "never_fit": False}
    assert ("5a", statement) == (
        granted.article, granted.statement
    )  # fmt: skip


def test_an_exemption_under_5_onder_a_needs_the_statement_of_article_7() -> None:
    app = application()
    advice(app)
    with pytest.raises(StatementRequiredError):
        exemption(app, "5a", statement=None)


def test_5_onder_b_and_c_are_renewed_every_school_year() -> None:
    app = application()
    with pytest.raises(RenewalRequiredError):
        exemption(app, "5b", statement=None, valid_until=date(2027, 12, 31))

    exemption(app, "5c", statement=None)

    [granted] = of_type(app, "ExemptionGrantedV2")
    assert ("5c", date(2027, 7, 31)) == (granted.article, granted.valid_until)


def test_every_article_of_the_law_is_known_and_5a_is_trekkend_bestaan() -> None:
    app = application()
    for article in ("5b", "5c", "5a-trekkend", "15"):
        exemption(app, article, statement=None)

    granted = [e.article for e in of_type(app, "ExemptionGrantedV2")]
    assert ["5b", "5c", "5a-trekkend", "15"] == granted


def test_a_partial_exemption_names_its_hours_a_week() -> None:
    app = application()
    with pytest.raises(PartialExemptionError):
        exemption(app, "3a", statement=None)
    with pytest.raises(PartialExemptionError):
        exemption(app, "15", statement=None, hours=5)


def test_an_exempt_child_is_not_reported() -> None:
    app = application()
    enrol(app)
    exemption(app, "5b", statement=None)
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 4)

    assert [] == of_type(app, "ReportDue")


def test_a_partial_exemption_measures_absence_against_the_hours_still_required() -> None:
    exempt, not_exempt = application(), application()
    for app in (exempt, not_exempt):
        enrol(app)
    exemption(exempt, "3b", statement=None, hours=15)  # 10 of 25 hours a week required
    for app in (exempt, not_exempt):
        for day in weekdays(MONDAY, 5):
            absent(app, day, 2, authorised=True)  # 10 hours a week

    assert [] == of_type(not_exempt, "ThuiszitterRegistered")
    [registered] = of_type(exempt, "ThuiszitterRegistered")
    assert (2, MONDAY) == (registered.category, registered.since)


def test_no_verzuim_counts_for_hours_a_partial_exemption_frees() -> None:
    app = application()
    enrol(app)
    exemption(app, "3a", statement=None, hours=22)  # 3 hours a week required
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 5)  # 20 hours, only 12 of them required

    assert [] == of_type(app, "ReportDue")


# Variawet: reduced teaching time (recorded by arrangements) reaches truancy


def variawet(app, hours: float, steps: list[tuple[date, float]]) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ReducedTeachingTimeRequested.create(
        source="ketenbus.arrangements", subject=CHILD,
        data=ReducedTeachingTimeRequestedData(
            request_id=uuid.uuid4(), school=SCHOOL, opp_id=uuid.uuid4(),
            requested_on=date(2026, 9, 1), hours_per_week=hours, start_on=date(2026, 9, 1),
            end_on=date(2027, 1, 31),
            back_to_full_time=[ScheduleStep(from_on=d, hours_per_week=h) for d, h in steps],
        ),
    ))  # fmt: skip


def test_variawet_hours_not_required_count_no_verzuim() -> None:
    app = application()
    enrol(app)
    variawet(app, 3, [(date(2026, 12, 1), 20)])  # 3 hours a week this autumn
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 5)  # 20 hours, only 12 of them required

    assert [] == of_type(app, "ReportDue")
    assert 3.0 == app.attendance_of(CHILD).required_hours(region(), SCHOOL, MONDAY)


def test_variawet_steps_back_to_full_time() -> None:
    app = application()
    enrol(app)
    variawet(app, 3, [(date(2026, 12, 1), 20)])
    attendance = app.attendance_of(CHILD)

    required = [
        attendance.required_hours(region(), SCHOOL, monday)
        for monday in (date(2026, 11, 30), date(2026, 12, 7), date(2027, 2, 1))
    ]
    assert [3.0, 20.0, 25.0] == required


# luxeverzuim and signaalverzuim: filed by the school (Besluit verzuimmelding)


def filed(app, kind: str, school: str = SCHOOL) -> uuid.UUID:  # type: ignore[no-untyped-def]
    report_id = uuid.uuid4()
    apply_inbound(app, VerzuimFiled.create(
        source=school, subject=CHILD,
        data=VerzuimFiledData(
            report_id=report_id, school=school, brin="99ZZ", region="lingewaard",
            kind=kind, begin_on=date(2026, 10, 16), end_on=date(2026, 10, 16),  # type: ignore[arg-type]
            hours_unauthorised=5, lessons_missed=5, action_taken="Ouders gebeld",
            municipal_action_wanted=False,
        ),
    ))  # fmt: skip
    return report_id


def test_a_school_files_luxeverzuim_and_it_is_reported_to_leerplicht() -> None:
    app = application()
    enrol(app)

    report_id = filed(app, "luxe")

    [report] = of_type(app, "ReportDue")
    assert (report_id, "luxe", LEERPLICHT, 5.0) == (
        report.report_id, report.kind, report.leerplicht, report.hours_unauthorised
    )  # fmt: skip


def test_a_school_files_signaalverzuim_below_sixteen_hours() -> None:
    app = application()
    enrol(app)
    absent(app, MONDAY, 3)

    filed(app, "signaal")

    assert ["signaal"] == [r.kind for r in of_type(app, "ReportDue")]


def test_a_school_files_only_the_kinds_no_hour_count_shows() -> None:
    app = application(region(report__school_filed_kinds=["luxe"]))
    enrol(app)
    with pytest.raises(NotFileableError):
        filed(app, "signaal")


# leerplicht's answers


def answer(app, report_id: uuid.UUID, status: str, reason: str | None = None) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ReportAnswered.create(
        source=LEERPLICHT, subject=CHILD,
        data=ReportAnsweredData(
            report_id=report_id, leerplicht=LEERPLICHT, status=status,  # type: ignore[arg-type]
            answered_on=date(2026, 10, 1), closed_reason=reason,
        ),
    ))  # fmt: skip


def reported(app) -> uuid.UUID:  # type: ignore[no-untyped-def]
    enrol(app)
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 4)
    report_id: uuid.UUID = of_type(app, "ReportDue")[0].report_id
    return report_id


def test_leerplicht_takes_a_report_in_hand_and_closes_it_with_a_reason() -> None:
    app = application()
    report_id = reported(app)

    answer(app, report_id, "in-behandeling")
    answer(app, report_id, "afgesloten", "terug-naar-school")

    assert {str(report_id): "afgesloten"} == app.attendance_of(CHILD).reports


def test_closing_a_report_needs_a_known_reason() -> None:
    app = application()
    report_id = reported(app)
    with pytest.raises(UnknownCodeError):
        answer(app, report_id, "afgesloten", None)


def test_a_closed_report_takes_no_more_answers() -> None:
    app = application()
    report_id = reported(app)
    answer(app, report_id, "afgesloten", "halt")
    with pytest.raises(ReportAlreadyClosedError):
        answer(app, report_id, "in-behandeling")


def test_an_answer_to_an_unknown_report_is_refused() -> None:
    app = application()
    enrol(app)
    with pytest.raises(UnknownReportError):
        answer(app, uuid.uuid4(), "in-behandeling")


def test_a_snapshot_keeps_the_exemptions_and_the_thuiszitter_as_values() -> None:
    app = application()
    enrol(app)
    exemption(app, "3b", statement=None, hours=15)
    variawet(app, 20, [(date(2026, 12, 1), 22)])  # 20 - 15 = 5 hours a week required
    for day in weekdays(MONDAY, 5):
        absent(app, day, 2, authorised=True)  # past 16 events: loaded from a snapshot

    attendance = app.attendance_of(CHILD)

    assert app.snapshots is not None
    assert [] != list(app.snapshots.get(attendance.id))
    assert ["3b"] == [e.article for e in attendance.exemptions.values()]
    assert [((date(2026, 12, 1), 22.0),)] == [r.schedule for r in attendance.reduced.values()]
    assert (2, MONDAY, MONDAY) == (
        attendance.thuiszitter and attendance.thuiszitter.category,
        attendance.thuiszitter and attendance.thuiszitter.since,
        attendance.thuiszitter and attendance.thuiszitter.clock_from,
    )  # fmt: skip


def test_a_version_1_snapshot_is_upcast_to_values() -> None:
    state = {
        "exemptions": {"x": [MONDAY, None]},
        "thuiszitter": {
            "region": "lingewaard", "category": 2, "since": MONDAY, "school": SCHOOL,
            "warned": 42, "escalated": False, "offer": False,
        },
    }  # fmt: skip

    ChildAttendance.upcast_v1_v2(state)

    assert {"x": Exemption("onbekend", MONDAY, None).stored()} == state["exemptions"]
    assert (
        Thuiszitter("lingewaard", 2, MONDAY, SCHOOL, MONDAY, warned=42).stored()
        == (state["thuiszitter"])
    )


def test_truancy_reads_the_variawet_decisions_from_the_arrangements_stream() -> None:
    consumers = service_spec().consumers

    [variawet_reader] = [c for c in consumers if c.stream.name == "ARRANGEMENTS"]

    assert (ReducedTeachingTimeRequested.outbound_subject(),) == variawet_reader.filter_subjects


# luxe- and signaalverzuim were reported: their hours do not count again (Lpw art. 21)


def filed_absences(app, kind: str, absences: list[uuid.UUID], hours: float) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, VerzuimFiled.create(
        source=SCHOOL, subject=CHILD,
        data=VerzuimFiledData(
            report_id=uuid.uuid4(), school=SCHOOL, brin="99ZZ", region="lingewaard",
            kind=kind, begin_on=MONDAY, end_on=MONDAY + timedelta(days=4),  # type: ignore[arg-type]
            hours_unauthorised=hours, action_taken="Ouders gebeld",
            municipal_action_wanted=False, absence_ids=absences,
        ),
    ))  # fmt: skip


@pytest.mark.parametrize("kind", ["luxe", "signaal"])
def test_luxe_and_signaalverzuim_hours_do_not_count_towards_the_next_16_hour_report(
    kind: str,
) -> None:
    app = application()
    enrol(app)
    leave = [absent(app, MONDAY + timedelta(days=d), 5) for d in range(2)]  # 10 hours away
    filed_absences(app, kind, leave, 10)
    for w in range(1, 4):
        absent(app, MONDAY + timedelta(weeks=w), 3)  # 9 more hours: 19 with the leave

    assert [kind] == [r.kind for r in of_type(app, "ReportDue")]

    absent(app, MONDAY + timedelta(weeks=3, days=1), 7)  # 16 hours not reported before

    assert [kind, "16-uur"] == [r.kind for r in of_type(app, "ReportDue")]
    assert 16.0 == of_type(app, "ReportDue")[-1].hours_unauthorised


def test_a_filed_report_naming_no_absences_takes_out_the_unreported_ones_in_its_period() -> None:
    app = application()
    enrol(app)
    for d in range(3):
        absent(app, MONDAY + timedelta(days=d), 4)  # 12 hours in the filed week
    filed_absences(app, "luxe", [], 12)
    absent(app, MONDAY + timedelta(weeks=1), 6)

    assert ["luxe"] == [r.kind for r in of_type(app, "ReportDue")]


def test_a_version_2_snapshot_is_upcast_with_no_unreported_absences() -> None:
    state: dict[str, object] = {"weeks": {}}

    ChildAttendance.upcast_v2_v3(state)

    assert {} == state["unreported"]


# exemptions: the leerplicht of the municipality where the child lives decides (Lpw art. 6 lid 1)


def living_in(app, municipality: str) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ResidentRegistered.create(
        source=municipality, subject=CHILD,
        data=ResidentRegisteredData(
            municipality=municipality, region="lingewaard", registered_on=date(2026, 9, 1),
            compulsory_until=date(2032, 7, 31),
        ),
    ))  # fmt: skip


def exemption_by(app, leerplicht: str) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ExemptionGrantedV2.create(
        source=leerplicht, subject=CHILD,
        data=ExemptionGrantedV2Data(
            exemption_id=uuid.uuid4(), leerplicht=leerplicht, region="lingewaard",
            article="5b", valid_from=MONDAY,
        ),
    ))  # fmt: skip


TWO_MUNICIPALITIES = {"gemeente-lingewaard": LEERPLICHT, "gemeente-overbetuwe": "leerplicht-ob"}


def test_the_leerplicht_of_the_municipality_where_the_child_lives_decides_on_its_exemption() -> (
    None
):
    app = application(region(municipalities=TWO_MUNICIPALITIES))
    enrol(app)
    living_in(app, "gemeente-overbetuwe")
    with pytest.raises(NotTheMunicipalitysLeerplichtError):
        exemption_by(app, LEERPLICHT)  # the region's, not the child's municipality's

    exemption_by(app, "leerplicht-ob")

    assert ["5b"] == [e.article for e in of_type(app, "ExemptionGrantedV2")]


def test_no_leerplicht_outside_the_region_grants_an_exemption() -> None:
    app = application()
    enrol(app)
    with pytest.raises(NotTheMunicipalitysLeerplichtError):
        exemption_by(app, "leerplicht-elders")


# exemption-granted.v1, published before v2 took over, still replays


def exemption_v1(app, published: datetime, article: str = "5a") -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ExemptionGranted.create(
        source=LEERPLICHT, subject=CHILD, time=published,
        data=ExemptionGrantedData(
            exemption_id=uuid.uuid4(), leerplicht=LEERPLICHT, region="lingewaard",
            article=article, swv_advice="positief", valid_from=MONDAY,  # type: ignore[arg-type]
        ),
    ))  # fmt: skip


def test_an_exemption_granted_v1_published_before_v2_still_replays() -> None:
    app = application()
    enrol(app)

    exemption_v1(app, datetime(2026, 11, 2, 9, tzinfo=UTC))
    absent(app, MONDAY, 8)
    absent(app, MONDAY + timedelta(days=1), 8)

    [granted] = of_type(app, "ExemptionGranted")
    assert ("5a", "positief") == (granted.article, granted.swv_advice)
    assert [] == of_type(app, "ReportDue")  # the exemption holds


def test_an_exemption_granted_v1_published_after_v2_took_over_is_refused() -> None:
    app = application()
    enrol(app)
    with pytest.raises(SupersededContractError):
        exemption_v1(app, datetime(2026, 12, 4, 9, tzinfo=UTC))

    assert [] == of_type(app, "ExemptionGranted")


def test_an_exemption_under_article_5_is_renewed_yearly_unless_never_fit_for_school() -> None:
    app = application()
    advice(app)
    never_fit = Article7Statement(by="arts", issued_on=date(2026, 9, 1), never_fit=True)

    exemption(app, "5a")  # Lpw art. 6 lid 2 onder b: renewed each school year
    exemption(app, "5a", statement=never_fit)  # lid 3: not when never fit for a school

    assert [date(2027, 7, 31), None] == [e.valid_until for e in of_type(app, "ExemptionGrantedV2")]

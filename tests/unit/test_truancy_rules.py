"""Truancy's rules, each with an injected clock and school calendar (in memory)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from ketenbus_contracts.truancy import (
    ExemptionGranted,
    ExemptionGrantedData,
    OfferMade,
    OfferMadeData,
    ReportAnswered,
    ReportAnsweredData,
    ResidentRegistered,
    ResidentRegisteredData,
)
from services.truancy.domain import (
    NotEnrolledError,
    ReportAlreadyClosedError,
    SwvAdviceRequiredError,
    UnknownCodeError,
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
        absent(app, day, 3, authorised=True)  # 15 of 25 hours a week

    [registered] = of_type(app, "ThuiszitterRegistered")
    assert (2, MONDAY, False) == (registered.category, registered.since, registered.absolute)
    assert ["maand-of-langer"] == [r.kind for r in of_type(app, "ReportDue")]


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
        ("escalated", 75, [LEERPLICHT, "wijkteam-lingewaard"]),
    ]
    assert expected == [(r.stage, r.days_at_home, r.notify) for r in reached]
    assert date(2026, 12, 1) == reached[-1].deadline


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


# exemptions (Leerplichtwet art. 5a, 5b, 15) with SWV advice


def exemption(app, article: str, advice: str | None) -> None:  # type: ignore[no-untyped-def]
    apply_inbound(app, ExemptionGranted.create(
        source=LEERPLICHT, subject=CHILD,
        data=ExemptionGrantedData(
            exemption_id=uuid.uuid4(), leerplicht=LEERPLICHT, region="lingewaard",
            article=article, swv_advice=advice, valid_from=MONDAY,  # type: ignore[arg-type]
        ),
    ))  # fmt: skip


def test_an_exemption_under_5a_needs_the_swv_advice() -> None:
    app = application()
    with pytest.raises(SwvAdviceRequiredError):
        exemption(app, "5a", None)


def test_an_exempt_child_is_not_reported() -> None:
    app = application()
    enrol(app)
    exemption(app, "5a", "positief")
    for w in range(4):
        absent(app, MONDAY + timedelta(weeks=w), 4)

    assert [] == of_type(app, "ReportDue")


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

"""The plan's forms checked at the edge: a verzuimmelding answered by the leerplicht it went to,
a signal withdrawn by its own signaller, an exemption granted as the law has it by the
leerplicht of the municipality where the child lives (the population feed, on the plan), each
as one event with the person in it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, get_args

import pytest

from ketenbus_contracts.truancy import ExemptionArticleV2, ExemptionDetails
from services.integral_plan import web_forms
from services.integral_plan.web import EXEMPTION_ARTICLES
from services.integral_plan.web_forms import OnPlan, answer_form, exemption_form, withdraw_form
from services.policy.regions import load_regions
from tests.browser.site import KID, story
from tests.events import CHILD, LEERPLICHT, PO, resident_registered

ACTOR = "mw-" + "1" * 24
TODAY = date(2026, 11, 24)


def _report(plan: dict[str, Any]) -> str:
    return str(plan["attendance"]["reports"][0]["report_id"])


def test_leerplicht_answers_the_verzuimmelding_it_got() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, LEERPLICHT, ACTOR, _report(plan))

    checked, draft = answer_form({"status": "afgesloten", "reden": "terug-naar-school"}, on)

    assert checked.ok and draft is not None and draft.sealed is None
    event = draft.build(uuid.uuid4(), {})
    assert ("nl.ketenbus.truancy.report-answered.v1", LEERPLICHT, ACTOR) == (
        event.type,
        event.source,
        event.ketenbusactor,
    )
    assert ("afgesloten", "terug-naar-school", TODAY) == (
        event.data.status,
        event.data.closed_reason,
        event.data.answered_on,
    )


def test_a_verzuimmelding_closed_without_a_listed_reason_comes_back_with_the_error() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, LEERPLICHT, ACTOR, _report(plan))

    missing, none = answer_form({"status": "afgesloten"}, on)
    # The truancy service closes a report only with a code of the region's list.
    unknown, also_none = answer_form({"status": "afgesloten", "reden": "hervat"}, on)

    assert (None, None) == (none, also_none)
    assert "Kies de reden van afsluiten." == missing.errors["reden"]
    assert "Kies een reden van afsluiten uit de lijst." == unknown.errors["reden"]


def test_only_the_leerplicht_it_went_to_answers_a_verzuimmelding() -> None:
    plan = story().plan_of(KID)

    checked, draft = answer_form(
        {"status": "in-behandeling"}, OnPlan(plan, TODAY, PO, ACTOR, _report(plan))
    )

    assert None is draft
    assert "Deze verzuimmelding kunt u niet beantwoorden." == checked.errors["actie"]


def test_only_the_signaller_withdraws_its_signal() -> None:
    plan = story().plan_of(CHILD)
    theirs = next(s for s in plan["signals"] if s["partner"] != PO)

    checked, draft = withdraw_form(
        {"reden": "withdrawn"}, OnPlan(plan, TODAY, PO, ACTOR, theirs["signal_id"])
    )

    assert None is draft
    assert "Dit signaal kunt u niet intrekken." == checked.errors["actie"]


def test_leerplicht_grants_an_exemption_under_an_article_with_the_art_7_statement() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, LEERPLICHT, ACTOR)
    form = {
        "artikel": "5a",
        "vanaf": "2026-12-01",
        "verklaring_door": "arts",
        "verklaring_op": "2026-11-20",
        "motivering": "Langdurig ziek volgens de jeugdarts.",
    }

    checked, draft = exemption_form(form, on)

    assert checked.ok and draft is not None
    assert ExemptionDetails(motivation="Langdurig ziek volgens de jeugdarts.") == draft.sealed
    event = draft.build(uuid.uuid4(), {})
    assert ("nl.ketenbus.truancy.exemption-granted.v2", LEERPLICHT, ACTOR) == (
        event.type,
        event.source,
        event.ketenbusactor,
    )
    assert ("lingewaard", "5a", "arts", date(2026, 12, 1), None, None) == (
        event.data.region,
        event.data.article,
        event.data.statement and event.data.statement.by,
        event.data.valid_from,
        event.data.valid_until,
        event.data.hours_per_week,
    )


def test_a_partial_exemption_names_its_hours_a_week_on_the_form() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, LEERPLICHT, ACTOR)

    checked, draft = exemption_form({"artikel": "3a", "vanaf": "2026-12-01", "uren": "6,5"}, on)

    assert draft is not None and checked.ok
    assert 6.5 == draft.build(uuid.uuid4(), {}).data.hours_per_week


def test_an_exemption_the_law_does_not_allow_comes_back_with_the_errors() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, LEERPLICHT, ACTOR)

    no_statement, none = exemption_form({"artikel": "5a", "vanaf": "2026-12-01"}, on)
    no_hours, none2 = exemption_form({"artikel": "3b", "vanaf": "2026-12-01", "uren": "30"}, on)
    past_year, none3 = exemption_form(
        {"artikel": "5b", "vanaf": "2026-12-01", "tot": "2027-12-31"}, on
    )
    no_article, none4 = exemption_form({"artikel": "7", "vanaf": "2026-11-01"}, on)

    assert (None, None, None, None) == (none, none2, none3, none4)
    assert "Kies wie de verklaring (art. 7) gaf." == no_statement.errors["verklaring_door"]
    assert "Het aantal uren per week ligt tussen 0 en 25." == no_hours.errors["uren"]
    assert (
        "Artikel 5b wordt elk schooljaar verlengd: ten laatste 2027-07-31."
        == past_year.errors["tot"]
    )
    assert {"artikel", "vanaf"} == set(no_article.errors)


def test_only_the_leerplicht_of_the_childs_region_grants_an_exemption() -> None:
    plan = story().plan_of(KID)
    form = {"artikel": "5b", "vanaf": "2026-12-01"}

    school, none = exemption_form(form, OnPlan(plan, TODAY, PO, ACTOR))
    outsider, also_none = exemption_form(form, OnPlan(plan, TODAY, "leerplicht-elders", ACTOR))

    assert (None, None) == (none, also_none)
    assert "U kunt voor dit kind geen vrijstelling verlenen." == school.errors["actie"]
    assert "U kunt voor dit kind geen vrijstelling verlenen." == outsider.errors["actie"]


def test_the_form_offers_every_article_the_contract_has() -> None:
    assert set(get_args(ExemptionArticleV2)) == set(EXEMPTION_ARTICLES)


TWO_MUNICIPALITIES = {"gemeente-lingewaard": LEERPLICHT, "gemeente-overbetuwe": "leerplicht-ob"}


@pytest.fixture
def two_municipalities(monkeypatch: pytest.MonkeyPatch) -> None:
    """The region with a leerplicht for each of its two municipalities."""
    regions = load_regions()
    rules = regions["lingewaard"].model_copy(update={"municipalities": TWO_MUNICIPALITIES})
    monkeypatch.setattr(web_forms, "load_regions", lambda: regions | {"lingewaard": rules})


@pytest.mark.usefixtures("two_municipalities")
def test_the_leerplicht_of_the_municipality_where_the_child_lives_grants_its_exemption() -> None:
    app = story()
    # The population feed, through the plan: the child lives in the other municipality.
    app.apply(resident_registered("gemeente-overbetuwe", date(2026, 9, 1), KID))
    plan = app.plan_of(KID)
    form = {"artikel": "5b", "vanaf": "2026-12-01"}

    refused, none = exemption_form(form, OnPlan(plan, TODAY, LEERPLICHT, ACTOR))
    checked, draft = exemption_form(form, OnPlan(plan, TODAY, "leerplicht-ob", ACTOR))

    assert {"municipality": "gemeente-overbetuwe", "region": "lingewaard"}.items() <= (
        plan["attendance"]["residence"].items()
    )
    assert None is none
    assert (
        "Alleen de leerplicht van de gemeente waar het kind woont, verleent een vrijstelling "
        "(Leerplichtwet art. 6)."
    ) == refused.errors["actie"]
    assert checked.ok and draft is not None
    event = draft.build(uuid.uuid4(), {})
    assert ("leerplicht-ob", "lingewaard") == (event.data.leerplicht, event.data.region)


@pytest.mark.usefixtures("two_municipalities")
def test_without_a_known_residence_the_regions_leerplicht_of_the_school_decides() -> None:
    plan = story().plan_of(KID)
    form = {"artikel": "5b", "vanaf": "2026-12-01"}

    ours, draft = exemption_form(form, OnPlan(plan, TODAY, LEERPLICHT, ACTOR))
    theirs, none = exemption_form(form, OnPlan(plan, TODAY, "leerplicht-ob", ACTOR))

    assert ours.ok and draft is not None and None is none
    assert "U kunt voor dit kind geen vrijstelling verlenen." == theirs.errors["actie"]


def test_an_exemption_for_a_child_never_fit_for_school_is_not_renewed_yearly() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, LEERPLICHT, ACTOR)
    form = {
        "artikel": "5a",
        "vanaf": "2026-12-01",
        "tot": "2030-07-31",
        "verklaring_door": "arts",
        "verklaring_op": "2026-11-20",
        "niet_geschikt": "ja",
    }

    checked, draft = exemption_form(form, on)
    renewed, none = exemption_form(form | {"niet_geschikt": ""}, on)

    assert checked.ok and draft is not None and None is none
    statement = draft.build(uuid.uuid4(), {}).data.statement
    assert statement is not None and statement.never_fit
    assert date(2030, 7, 31) == draft.build(uuid.uuid4(), {}).data.valid_until
    assert (
        "Artikel 5a wordt elk schooljaar verlengd: ten laatste 2027-07-31."
        == (renewed.errors["tot"])
    )


def test_never_fit_goes_with_the_statement_of_article_7_only() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, LEERPLICHT, ACTOR)

    checked, draft = exemption_form(
        {"artikel": "5b", "vanaf": "2026-12-01", "niet_geschikt": "ja"}, on
    )

    assert None is draft
    assert (
        "Niet geschikt hoort bij de verklaring van artikel 7 (5 onder a)."
        == (checked.errors["niet_geschikt"])
    )

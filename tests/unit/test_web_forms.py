"""The plan's forms checked at the edge: a verzuimmelding answered by the leerplicht it went to,
a signal withdrawn by its own signaller, each as one event with the person in it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from services.integral_plan.web_forms import OnPlan, answer_form, withdraw_form
from tests.browser.site import KID, story
from tests.events import CHILD, LEERPLICHT, PO

ACTOR = "mw-" + "1" * 24
TODAY = date(2026, 11, 24)


def _report(plan: dict[str, Any]) -> str:
    return str(plan["attendance"]["reports"][0]["report_id"])


def test_leerplicht_answers_the_verzuimmelding_it_got() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, LEERPLICHT, ACTOR, _report(plan))

    checked, draft = answer_form({"status": "afgesloten", "reden": "hervat"}, on)

    assert checked.ok and draft is not None and draft.sealed is None
    event = draft.build(uuid.uuid4(), {})
    assert ("nl.ketenbus.truancy.report-answered.v1", LEERPLICHT, ACTOR) == (
        event.type,
        event.source,
        event.ketenbusactor,
    )
    assert ("afgesloten", "hervat", TODAY) == (
        event.data.status,
        event.data.closed_reason,
        event.data.answered_on,
    )


def test_a_verzuimmelding_closed_without_a_coded_reason_comes_back_with_the_error() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, LEERPLICHT, ACTOR, _report(plan))

    missing, none = answer_form({"status": "afgesloten"}, on)
    free_text, also_none = answer_form({"status": "afgesloten", "reden": "Weer naar school!"}, on)

    assert (None, None) == (none, also_none)
    assert "Vul de reden van afsluiten in (een code)." == missing.errors["reden"]
    assert free_text.errors["reden"].startswith("De reden is een code")


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

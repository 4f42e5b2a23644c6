"""The parents answer on their child's OPP handelingsdeel themselves (their account, role
parent): the arrangements service takes it only from an account a school or the municipality
linked to the child (the plan's `parent-linked`, read from PLAN), and a parent's account
decides nothing else."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import demo.arrangements as ev
from ketenbus_contracts.arrangements import HandelingsdeelConsented
from services.arrangements.application import ArrangementsApplication
from tests.events import PARENT, parent_linked
from tests.unit.test_arrangements_application import (
    CHILD,
    OTHER,
    TODAY,
    app,
    apply,
    clock,
    published,
)

__all__ = ["app", "clock"]  # the fixtures, shared with the arrangements' own tests

SCHOOL = ev.SCHOOL.partner


def answer(opp: Any, child: str = CHILD, granted: bool = True) -> HandelingsdeelConsented:
    """The handelingsdeel answer as the parent's own account publishes it."""
    school = ev.handelingsdeel(child, opp.data.opp_id, TODAY, granted=granted)
    return school.model_copy(update={"source": PARENT})


def drawn_up(app: ArrangementsApplication, child: str = CHILD) -> Any:
    opp = ev.opp(child, TODAY, [TODAY + timedelta(days=90)], consent="pending")
    assert [] == apply(app, opp)
    return opp


def test_a_linked_parent_answers_on_the_handelingsdeel_themselves(
    app: ArrangementsApplication,
) -> None:
    opp = drawn_up(app)
    link = parent_linked(SCHOOL, consent_on=date(2026, 9, 1), child=CHILD)

    assert [] == apply(app, link, answer(opp))
    assert "granted" == app.arrangements_of(CHILD).opps[opp.data.opp_id]["handelingsdeel_consent"]
    assert 1 == len([e for e in published(app) if isinstance(e, HandelingsdeelConsented)])


def test_a_parent_not_linked_to_the_child_cannot_answer_for_it(
    app: ArrangementsApplication,
) -> None:
    # The attack: a parent linked to another child answers for this one.
    opp = drawn_up(app)
    apply(app, parent_linked(SCHOOL, consent_on=date(2026, 9, 1), child=OTHER))

    [refused] = apply(app, answer(opp))

    assert "not a parent linked to the child" in refused
    assert "pending" == app.arrangements_of(CHILD).opps[opp.data.opp_id]["handelingsdeel_consent"]


def test_a_parents_account_decides_nothing_else_on_the_arrangements(
    app: ArrangementsApplication,
) -> None:
    apply(app, parent_linked(SCHOOL, consent_on=date(2026, 9, 1), child=CHILD))
    opp = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=90)], consent="pending")

    [refused] = apply(app, opp.model_copy(update={"source": PARENT}))

    assert "may not decide" in refused

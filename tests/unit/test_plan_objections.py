"""A parent's objection (bezwaar, AVG art. 21) against an organisation on the plan processing
their child's data for a purpose: only a linked parent's own account records it; it is on the
werklijst of the organisation objected to until that one decides; the decision is shown to the
parent; no other organisation on the plan learns of it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.domain import (
    NotALinkedParentError,
    NotAPartyError,
    NotResponsibleError,
    ObjectionDecidedError,
    PlanError,
    PupilTooYoungError,
)
from services.integral_plan.query import PlanAccess
from tests.browser.site import KID, story
from tests.events import (
    CHILD,
    NOW,
    PARENT,
    PUPIL,
    SCHOOL,
    WIJKTEAM,
    objection,
    objection_decided,
    parent_linked,
)

TEAM, SCHOOL_ID = WIJKTEAM.partner, SCHOOL.partner


def kinds(app: IntegralPlanApplication, partner: str, now: datetime = NOW) -> list[dict[str, str]]:
    return [i for i in app.worklist(partner, now)["items"] if i["kind"] == "objection-decision"]


def refused(app: IntegralPlanApplication, event: object) -> type[PlanError] | None:
    try:
        app.apply(event)
    except PlanError as exc:
        return type(exc)
    return None


def test_a_linked_parents_objection_is_work_for_the_organisation_objected_to_alone(
    tmp_path: Path,
) -> None:
    app = story()
    objected = objection(TEAM)
    app.apply(objected)
    access = PlanAccess.load(tmp_path)

    [item] = kinds(app, TEAM)
    assert ("plan", "2026-11-20", "2026-12-20") == (
        item["purpose"],
        item["since"],
        item["deadline"],
    )
    assert [] == kinds(app, SCHOOL_ID)
    team = access.visible_plan(app.plan_of(CHILD), TEAM)
    school = access.visible_plan(app.plan_of(CHILD), SCHOOL_ID)
    assert [str(objected.data.objection_id)] == [o["objection_id"] for o in team["objections"]]
    assert [] == school["objections"]


def test_the_decision_is_recorded_shown_to_the_parent_and_off_the_werklijst(
    tmp_path: Path,
) -> None:
    app = story()
    objected = objection(TEAM)
    app.apply(objected)
    app.apply(objection_decided(objected, TEAM, "upheld"))

    view = PlanAccess.load(tmp_path).visible_plan(app.plan_of(CHILD), PARENT, app.parents_of(CHILD))
    assert [("upheld", "2026-11-23")] == [
        (o["decision"], o["decided_on"]) for o in view["objections"]
    ]
    assert [] == kinds(app, TEAM)


def test_only_a_linked_parents_own_account_records_an_objection() -> None:
    app = story()

    # The attacks: the parent for a child they are not linked to; an organisation as the parent.
    assert NotALinkedParentError is refused(app, objection(TEAM, child=KID))
    assert NotALinkedParentError is refused(app, objection(TEAM, by=SCHOOL_ID))
    assert NotAPartyError is refused(app, objection("leerplicht-lingewaard"))


def test_only_the_organisation_objected_to_decides_and_only_once() -> None:
    app = story()
    objected = objection(TEAM)
    app.apply(objected)

    assert NotResponsibleError is refused(app, objection_decided(objected, SCHOOL_ID))
    app.apply(objection_decided(objected, TEAM))
    assert ObjectionDecidedError is refused(app, objection_decided(objected, TEAM))


@pytest.mark.parametrize("days, overdue", [(29, 0), (31, 1)])
def test_an_objection_not_decided_within_a_month_is_over_its_date(days: int, overdue: int) -> None:
    app = story()
    app.apply(objection(TEAM))

    [item] = kinds(app, TEAM, datetime(2026, 11, 20, tzinfo=NOW.tzinfo) + timedelta(days=days))
    assert overdue == item["days_overdue"]


def test_the_pupil_from_16_records_an_objection_from_their_own_linked_account() -> None:
    app = story()
    app.apply(parent_linked(SCHOOL_ID, PUPIL, consent_on=date(2026, 9, 1)))
    objected = objection(TEAM, by=PUPIL, account=PUPIL)
    app.apply(objected)

    [item] = kinds(app, TEAM)
    assert str(objected.data.objection_id) == item["ref"]
    # Not linked to another child: refused there, as a parent's account is.
    assert NotALinkedParentError is refused(
        app, objection(TEAM, by=PUPIL, child=KID, account=PUPIL)
    )


def test_a_pupils_own_account_is_linked_from_16_only_as_the_recorder_states_the_age_band() -> None:
    app = story()

    young = parent_linked(SCHOOL_ID, PUPIL, date(2026, 9, 1), pupil_age_band="12-15")
    unstated = parent_linked(SCHOOL_ID, PUPIL, date(2026, 9, 1), pupil_age_band=None)
    assert PupilTooYoungError is refused(app, young)
    assert PupilTooYoungError is refused(app, unstated)
    assert PUPIL not in app.parents_of(CHILD)
    assert None is refused(app, parent_linked(SCHOOL_ID, PUPIL, date(2026, 9, 1)))
    assert PUPIL in app.parents_of(CHILD)
    # A parent's account needs no age band: it is no pupil's.
    assert None is refused(app, parent_linked(SCHOOL_ID, PARENT, date(2026, 9, 1)))

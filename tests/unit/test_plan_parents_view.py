"""The parents' view of a plan: only for a parent the school or the municipality linked, and
then who takes part, the kinds of information and the parent's own actions, never content."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ketenbus_contracts.plan import ParentUnlinked, ParentUnlinkedData, PlanQueryError
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.query import NotOnPlanError, PlanAccess
from tests.browser.site import KID, story
from tests.events import (
    CHILD,
    PARENT,
    PO,
    dossier_prepared,
    handover_started,
    parent_linked,
)

DOSSIER = {"leerling": "test:" + json.dumps({"naam": "Lotte"}), "verzuim": "eyJ.sealed"}


def story_with_dossier() -> IntegralPlanApplication:
    """The story, and the school's dossier prepared for the move to secondary school."""
    app = story()
    started = handover_started(date(2027, 8, 1), date(2027, 3, 1))
    app.apply(started)
    app.apply(dossier_prepared(started, date(2027, 3, 2), DOSSIER))
    return app


def test_a_linked_parent_sees_who_takes_part_the_kinds_and_their_own_action(
    tmp_path: Path,
) -> None:
    app = story()
    access = PlanAccess.load(tmp_path)

    view = access.visible_plan(app.plan_of(CHILD), PARENT, app.parents_of(CHILD))

    assert [] == view["signals"] and None is view["match"]
    assert {"plan": ""} == view["goals"][0]["sealed"]
    [mine] = [a for a in view["actions"] if a["action_id"] in view["for_parent"]]
    assert (PARENT, "2027-01-15") == (mine["actor"], mine["due_on"])
    text = json.dumps(view)
    assert "test:" not in text and "Slaapdagboek" not in text and "Lotte" not in text


def test_a_parent_not_linked_to_the_child_sees_nothing(tmp_path: Path) -> None:
    app = story()
    access = PlanAccess.load(tmp_path)

    with pytest.raises(NotOnPlanError):
        access.visible_plan(app.plan_of(KID), PARENT, app.parents_of(KID))
    with pytest.raises(PlanQueryError):  # an account the registry does not know
        access.visible_plan(app.plan_of(CHILD), "ouder-nergens", app.parents_of(CHILD))


def test_a_link_recorded_for_another_parent_opens_nothing_to_this_one(tmp_path: Path) -> None:
    app = story()
    app.apply(parent_linked(PO, parent="ouder-twee", consent_on=date(2026, 9, 1), child=KID))

    assert frozenset({"ouder-twee"}) == app.parents_of(KID)
    with pytest.raises(NotOnPlanError):
        PlanAccess.load(tmp_path).visible_plan(app.plan_of(KID), PARENT, app.parents_of(KID))


def test_a_linked_parent_gets_the_prepared_dossier_still_sealed(tmp_path: Path) -> None:
    app = story_with_dossier()

    view = PlanAccess.load(tmp_path).visible_plan(app.plan_of(CHILD), PARENT, app.parents_of(CHILD))

    [handover] = view["handovers"]
    assert list(DOSSIER.items()) == [(s["category"], s["sealed"]) for s in handover["dossier"]]


def test_no_organisation_gets_the_prepared_dossier_through_the_plan(tmp_path: Path) -> None:
    app = story_with_dossier()
    access = PlanAccess.load(tmp_path)

    seen = [access.visible_plan(app.plan_of(CHILD), p) for p in (PO, "wijkteam-lingewaard")]

    assert [[False], [False]] == [["dossier" in h for h in v["handovers"]] for v in seen]


def test_a_parent_is_listed_only_the_children_a_school_or_the_municipality_linked_them_to() -> None:
    app = story()
    app.apply(parent_linked(PO, parent="ouder-twee", consent_on=date(2026, 9, 1), child=KID))

    assert [{"child": CHILD, "recorded_by": PO, "linked_on": "2026-09-01"}] == app.children_of(
        PARENT
    )
    assert [KID] == [c["child"] for c in app.children_of("ouder-twee")]
    assert [] == app.children_of("ouder-nergens")


def test_a_parent_whose_link_ended_is_no_longer_listed_the_child() -> None:
    app = story()
    [link_id] = [i for i, link in app._plan(CHILD).parent_links.items() if link.parent == PARENT]
    app.apply(
        ParentUnlinked.create(
            source=PO,
            subject=CHILD,
            data=ParentUnlinkedData(
                link_id=link_id, parent=PARENT, recorded_by=PO, unlinked_on=date(2026, 12, 1)
            ),
        )
    )

    assert [] == app.children_of(PARENT)

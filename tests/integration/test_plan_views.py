"""The plan's views on the production stores: written in the batches' transactions, equal when
rebuilt from the same events into the same tables, dropped with an erased child; one test case
per store backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.domain import Plan
from services.integral_plan.rebuild import rebuild
from services.runtime.settings import Settings
from services.runtime.store import store_env
from tests.conftest import StoreBackend
from tests.events import JGZ, SCHOOL, action
from tests.unit.test_integral_plan_index import CHILDREN, NOW, PARTNERS, events

pytestmark = pytest.mark.integration

STRANGER = JGZ.model_copy(update={"partner": "leerplicht-lingewaard"})


def consumed() -> list[Any]:
    """Every kind of event on six children, and a command the plan refuses."""
    refused = action(SCHOOL, STRANGER, SCHOOL, NOW.date(), NOW.date(), child=CHILDREN[5])
    return [*events(), refused]


def seen(app: IntegralPlanApplication) -> tuple[dict[str, Any], dict[str, Any]]:
    plans = {child: app.plan_of(child) for child in CHILDREN}
    later = NOW + timedelta(days=5)
    return plans, {p: app.worklist(p, later)["items"] for p in PARTNERS}


class OneAtATime(IntegralPlanApplication):
    """Reads each plan and its views when a message asks for them, as before the read ahead."""

    def preloaded(self, message: Any) -> Iterable[uuid.UUID]:
        return ()


class PlanViewsCase(StoreBackend):
    def application(self, settings: Settings) -> IntegralPlanApplication:
        return IntegralPlanApplication(env=store_env(settings, "integral_plan"), clock=lambda: NOW)

    def test_a_live_plan_equals_one_rebuilt_from_its_events_into_the_same_tables(
        self, settings: Settings
    ) -> None:
        stream = list(enumerate(consumed(), start=1))
        live = self.application(settings)
        for first in range(0, len(stream), 7):  # batches, as the service consumes them
            live.process_batch("feeds", stream[first : first + 7])
        before = seen(self.application(settings))
        for child in CHILDREN:
            live.erase(child)
        emptied = [c for c in CHILDREN if c not in live.index.plans_of(SCHOOL.partner)]

        refused = rebuild(self.application(settings), [event for _, event in stream])

        assert 1 == refused
        assert CHILDREN == emptied
        assert before == seen(self.application(settings))

    def test_a_batch_read_ahead_leaves_what_reading_each_plan_when_asked_leaves(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        first = list(enumerate(consumed(), start=1))
        erased = ChildErased.create(
            source="kluis", subject=CHILDREN[0], data=ChildErasedData(erased_at=NOW)
        )
        # Erased in the middle of a batch that then starts the child's plan again, and plans
        # stored by earlier batches read again.
        again = list(enumerate([erased, *consumed()], start=len(first) + 1))
        apart = Settings(data_dir=tmp_path / "reference", store="sqlite", nats_auth="none")
        live = self.application(settings)
        reference = OneAtATime(env=store_env(apart, "integral_plan"), clock=lambda: NOW)
        refusals: dict[str, list[Any]] = {"live": [], "reference": []}
        for name, app in (("live", live), ("reference", reference)):
            for start in range(0, len(first), 7):
                refusals[name] += app.process_batch("feeds", first[start : start + 7])
            refusals[name] += app.process_batch("feeds", again)

        assert [(s, type(e)) for s, e in refusals["reference"]] == [
            (s, type(e)) for s, e in refusals["live"]
        ]
        assert seen(reference) == seen(self.application(settings))

    def test_an_erased_childs_views_go_and_the_others_stay(self, settings: Settings) -> None:
        app = self.application(settings)
        app.process_batch("feeds", list(enumerate(consumed(), start=1)))
        kept = app.plan_of(CHILDREN[1])
        erased = ChildErased.create(
            source="kluis", subject=CHILDREN[0], data=ChildErasedData(erased_at=NOW)
        )

        app.process_batch("privacy", [(1, erased)])

        reopened = self.application(settings)
        assert [] == reopened.index.view_rows(Plan.create_id(CHILDREN[0]))
        assert kept == reopened.plan_of(CHILDREN[1])


class TestPlanViewsOnSQLite(PlanViewsCase):
    store = "sqlite"


@pytest.mark.postgres
class TestPlanViewsOnPostgres(PlanViewsCase):
    store = "postgres"

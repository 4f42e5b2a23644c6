"""The worklist index on the production stores: written with the plans, read per partner,
left by an erased child; one test case per store backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from services.integral_plan.application import IntegralPlanApplication
from services.runtime.settings import Settings
from services.runtime.store import store_env
from tests.conftest import StoreBackend
from tests.unit.test_integral_plan_index import (
    CHILDREN,
    NOW,
    PARTNERS,
    applied,
    events,
    listed,
    read_every_plan,
)

pytestmark = pytest.mark.integration


class WorklistIndexCase(StoreBackend):
    def application(self, settings: Settings) -> IntegralPlanApplication:
        return IntegralPlanApplication(env=store_env(settings, "integral_plan"), clock=lambda: NOW)

    def test_a_worklist_from_the_index_says_what_reading_every_plan_says(
        self, settings: Settings
    ) -> None:
        app = self.application(settings)
        app.process_batch("feed", list(enumerate(events(), start=1)))

        for days in (0, 5, 100):
            now = NOW + timedelta(days=days)
            for partner in PARTNERS:
                items = app.worklist(partner, now)["items"]
                key = lambda i: (i["kind"], i["since"], i["child"], i["ref"])  # noqa: E731
                assert read_every_plan(app, partner, now) == sorted(items, key=key)

    def test_an_erased_child_leaves_the_index_and_a_reopened_store_keeps_it(
        self, settings: Settings
    ) -> None:
        live = listed(applied(self.application(settings)))
        reopened = self.application(settings)
        kept = listed(reopened)
        for child in CHILDREN:
            erased = ChildErasedData(erased_at=NOW)
            reopened.apply(ChildErased.create(source="kluis", subject=child, data=erased))

        assert any(live.values())
        assert live == kept
        assert {p: [] for p in PARTNERS} == listed(self.application(settings))

    def test_the_index_is_rewritten_from_the_plans(self, settings: Settings) -> None:
        app = applied(self.application(settings))
        live = listed(app)
        app.index.relist({plan.id: set() for plan in app.plans()})
        emptied = listed(app)

        assert len(CHILDREN) == app.reindex()
        assert {p: [] for p in PARTNERS} == emptied
        assert live == listed(app)


class TestWorklistIndexOnSQLite(WorklistIndexCase):
    store = "sqlite"


class TestWorklistIndexOnPostgres(WorklistIndexCase):
    store = "postgres"

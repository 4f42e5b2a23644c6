"""The per-child and per-region aggregates keep the ids and event topics stores hold already."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from services.arrangements.domain import ChildArrangements
from services.feed.domain import ChildFeed
from services.kluis.domain import ChildRelations
from services.monitor.domain import RegionMonitor
from services.signalling.domain import ChildSignals
from services.truancy.domain import ChildAttendance, RegionWatch

KEY = "c" * 32


@pytest.mark.parametrize(
    ("aggregate", "kind"),
    [
        (ChildSignals, "child-signals"),
        (ChildArrangements, "child-arrangements"),
        (ChildAttendance, "child-attendance"),
        (ChildFeed, "child-feed"),
        (ChildRelations, "child-relations"),
        (RegionMonitor, "region-monitor"),
        (RegionWatch, "region-watch"),
    ],
)
def test_a_keyed_aggregate_keeps_its_id_and_its_opened_topic(
    aggregate: type[Aggregate], kind: str
) -> None:
    module = aggregate.__module__
    namespace = vars(__import__(module, fromlist=["NAMESPACE"]))["NAMESPACE"]

    opened = aggregate(KEY)  # type: ignore[call-arg]

    [event] = opened.collect_events()
    assert (uuid.uuid5(namespace, f"{kind}/{KEY}"), f"{module}:{aggregate.__name__}.Opened") == (
        opened.id,
        get_topic(type(event)),
    )

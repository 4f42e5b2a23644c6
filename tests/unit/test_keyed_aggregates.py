"""The per-child and per-region aggregates keep the ids and event topics stores hold already."""

from __future__ import annotations

import uuid
from dataclasses import asdict, fields
from datetime import date
from typing import Any, cast

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from services.arrangements.domain import ChildArrangements
from services.feed.domain import ChildFeed
from services.kluis.domain import ChildRelations
from services.monitor.domain import RegionMonitor
from services.runtime.aggregate import Value
from services.signalling.domain import ChildSignals, Coordinator, Party
from services.truancy.domain import (
    Advice,
    ChildAttendance,
    Exemption,
    ReducedTime,
    RegionWatch,
    Thuiszitter,
)

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


@pytest.mark.parametrize(
    "value",
    [
        Party(partner="bs-de-regenboog", role="ib-er", contact="ib", vindplaats=None),
        Coordinator(partner="wijkteam-nijmegen", contact="regie"),
        Exemption(article="5a", valid_from=date(2026, 8, 1), valid_until=None),
        ReducedTime(
            start_on=date(2026, 9, 1),
            end_on=date(2026, 12, 1),
            hours_per_week=12.0,
            schedule=((date(2026, 10, 1), 16.0),),
        ),
        Advice(swv="swv-2507", article="5a", advice="positief", given_on=date(2026, 9, 1)),
        Thuiszitter(
            region="0268",
            category=1,
            since=date(2026, 9, 1),
            school=None,
            clock_from=date(2026, 9, 1),
        ),
    ],
)
def test_a_value_is_stored_as_dataclasses_asdict_would_store_it(value: Value) -> None:
    expected = asdict(cast(Any, value))

    actual = value.stored()

    assert expected == actual
    assert value == type(value).of(actual)
    for field in fields(cast(Any, value)):  # nothing asdict would have copied deeply
        assert not isinstance(getattr(value, field.name), list | dict | set)

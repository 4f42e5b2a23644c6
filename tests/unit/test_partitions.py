"""A partitioned service's split of the work: by child, evenly over its instances, only where
infra/partitions.yaml and the store allow it."""

from __future__ import annotations

import json

import pytest

from services.runtime.partitions import (
    NotPartitionedError,
    fair_share,
    load_partitions,
    partition_of,
    partition_of_key,
    running_partitions,
)
from services.runtime.streams import PLAN_SIGNALLING
from tests.integration.helpers import child


def test_every_message_about_one_child_is_in_that_childs_partition() -> None:
    kid = child(7)
    messages = [json.dumps({"subject": kid, "type": t}).encode() for t in ("a", "b", "c")]
    assert {partition_of_key(kid, 6)} == {partition_of(m, 6) for m in messages}


def test_a_message_without_a_child_is_partition_zeros_so_one_instance_refuses_it() -> None:
    assert [0, 0, 0, 0] == [
        partition_of(data, 6) for data in (b"not json", b"[1]", b'{"subject": 3}', b"{}")
    ]


def test_children_spread_over_every_partition() -> None:
    assert set(range(6)) == {partition_of_key(child(n), 6) for n in range(60)}


def test_a_partition_consumer_owns_only_its_childrens_messages() -> None:
    parts = PLAN_SIGNALLING.partitioned(6)
    data = json.dumps({"subject": child(3)}).encode()
    assert [partition_of_key(child(3), 6)] == [p.partition for p in parts if p.owns(data)]
    assert "integral-plan-p2" == parts[2].durable
    assert "SIGNALLING:integral-plan" == parts[2].whole_tracking_name
    assert PLAN_SIGNALLING.owns(data)


def test_partitions_are_shared_evenly_the_first_members_taking_the_rest() -> None:
    members = ["c", "a", "b", "d"]
    assert [2, 2, 1, 1] == [fair_share(members, m, 6) for m in ("a", "b", "c", "d")]
    assert 6 == fair_share(["a"], "a", 6)
    assert [1, 1, 0] == [fair_share(["a", "b"], m, 2) for m in ("a", "b", "z")]


def test_one_instance_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETENBUS_INTEGRAL_PLAN_INSTANCES", raising=False)
    assert 0 == running_partitions("integral-plan", "sqlite", 6)


def test_more_instances_of_a_listed_service_on_postgres_run_partitioned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KETENBUS_INTEGRAL_PLAN_INSTANCES", "3")
    listed = load_partitions().services["integral-plan"].partitions
    assert listed == running_partitions("integral-plan", "postgres", listed)


def test_more_instances_of_a_service_not_listed_or_on_sqlite_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KETENBUS_SIGNALLING_INSTANCES", "2")
    monkeypatch.setenv("KETENBUS_INTEGRAL_PLAN_INSTANCES", "2")
    with pytest.raises(NotPartitionedError, match="does not list it"):
        running_partitions("signalling", "postgres", 0)
    with pytest.raises(NotPartitionedError, match="KETENBUS_STORE=postgres"):
        running_partitions("integral-plan", "sqlite", 6)

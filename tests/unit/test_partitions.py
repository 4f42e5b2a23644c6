"""A partitioned service's split of the work: by child, evenly over its instances, only where
infra/partitions.yaml and the store allow it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.partitions import (
    NotPartitionedError,
    Partitioner,
    fair_share,
    load_partitions,
    partition_of,
    partition_of_key,
    running_partitions,
)
from services.runtime.streams import PLAN_SIGNALLING
from tests.events import SCHOOL, WIJKTEAM, handover_started, joined, match, signal
from tests.integration.helpers import child


def _envelope(subject: str) -> bytes:
    return json.dumps({"specversion": "1.0", "subject": subject, "data": {}}).encode()


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
    monkeypatch.setenv("KETENBUS_HANDOVER_INSTANCES", "2")
    monkeypatch.setenv("KETENBUS_INTEGRAL_PLAN_INSTANCES", "2")
    with pytest.raises(NotPartitionedError, match="does not list it"):
        running_partitions("handover", "postgres", 0)
    with pytest.raises(NotPartitionedError, match="KETENBUS_STORE=postgres"):
        running_partitions("integral-plan", "sqlite", 6)


def _corpus() -> list[bytes]:
    """Real envelopes (a signal, a plan's events, a match, a dossier's start) about several
    children, and bytes a partner could craft: no JSON, no subject, odd subjects, a subject
    twice, escapes in the key."""
    kids = [child(n) for n in range(8)]
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    real = [
        e.to_bytes()
        for kid in kids
        for e in (
            signal(SCHOOL, date(2026, 11, 2), kid),
            joined(WIJKTEAM, SCHOOL, date(2026, 11, 2), kid),
            match([SCHOOL, WIJKTEAM], at, kid),
            handover_started(date(2027, 8, 1), date(2026, 11, 2), kid),
        )
    ]
    crafted = [
        b"{",
        b"",
        b'{"subject": 12}',
        b'{"subject": "' + kids[0].encode() + b'", "subject": "' + kids[1].encode() + b'"}',
        b'{"\\u0073ubject": "' + kids[2].encode() + b'"}',
        b'{"data": {"subject": "' + kids[3].encode() + b'"}}',
        b'{"subject": "' + kids[4].encode() + b'"',
    ]
    return real + crafted


def test_an_instance_reads_every_message_in_the_partition_partition_of_gives_it() -> None:
    corpus = _corpus()
    partitioner = Partitioner(6, size=5)  # small: what it forgot is read again
    # Each message as the instance's partition consumers see it: several times, interleaved.
    seen = [partitioner(data) for _ in range(3) for data in corpus]
    assert [partition_of(data, 6) for _ in range(3) for data in corpus] == seen


@given(st.lists(st.binary(max_size=64) | st.builds(_envelope, st.text(max_size=40)), max_size=40))
def test_remembered_partitions_are_partition_ofs_for_any_bytes(messages: list[bytes]) -> None:
    partitioner = Partitioner(6, size=3, largest=32)
    assert [partition_of(m, 6) for m in messages * 2] == [partitioner(m) for m in messages * 2]

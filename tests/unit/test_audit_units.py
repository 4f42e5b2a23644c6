"""Audit pieces without I/O: LDV export shape, NATS permissions per role, row digests, and the
replay's projection fed one message at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pytest

from adapters.ldv.export import STATUS_ERROR, STATUS_OK, STATUS_UNSET, ldv_export, ldv_record
from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from ketenbus_contracts.purposes import Purpose
from services.audit import replay as replay_module
from services.audit.chain import GENESIS, chain_next, fields_digest, row_digest
from services.audit.direct_get import DirectGetError, header, time_stamp
from services.audit.replay import (
    EventLog,
    PlanViews,
    StoredMessage,
    consumed_by_plan,
    rebuild,
)
from services.integral_plan.application import IntegralPlanApplication
from services.kluis.domain import Decision, Operation, ProcessingRecord
from services.registry import service_specs
from services.runtime.nats_permissions import UnknownRoleError, load_permissions, permissions_of
from services.runtime.partners import PartnerEntry
from services.runtime.streams import stream_of_subject, subject_matches
from tests.events import JGZ, NOW, action, signal
from tests.integration.helpers import SCHOOL, child
from tests.unit.test_integral_plan_index import CHILDREN, D
from tests.unit.test_integral_plan_index import events as plan_events

AT = datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC)


def span(decision: str) -> dict[str, Any]:
    return {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "parent_span_id": None,
        "name": "kluis.release",
        "start_time": AT.isoformat(),
        "end_time": AT.isoformat(),
        "status_code": "OK" if decision == "released" else "UNSET",
        "resource": {"name": "kluis", "version": "2025.1"},
        "attributes": {
            "dpl.core.processing_activity_id": "signalering",
            "dpl.core.data_subject_id": "a" * 32,
            "dpl.core.data_subject_id_type": "ketenbus-child-pseudonym",
            "ketenbus.decision": decision,
            "ketenbus.refusal_code": None if decision == "released" else "no-relation",
        },
    }


def test_ldv_record_has_the_standards_fields_with_millisecond_times() -> None:
    record = ldv_record(span("released"))
    assert (STATUS_OK, int(AT.timestamp() * 1000), "kluis.release") == (
        record["status_code"],
        record["start_time"],
        record["name"],
    )
    assert (
        "urn:ketenbus:processing-activity:2025.1:signalering"
        == (record["attributes"]["dpl.core.processing_activity_id"])
    )
    assert "ketenbus.refusal_code" not in record["attributes"]  # no null attributes


def test_a_refusal_is_unset_not_a_server_error() -> None:
    assert STATUS_UNSET == ldv_record(span("refused"))["status_code"]


def test_kluis_marks_a_refusal_unset_at_the_source() -> None:
    refusal = ProcessingRecord(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        parent_span_id=None,
        operation=Operation.RELEASE,
        processing_activity_id="signalering",
        data_subject="a" * 32,
        requester="bs-a",
        purpose=Purpose.SIGNALLING,
        decision=Decision.REFUSED,
        refusal_code="no-relation",
        kid=None,
        at=AT,
        register_version="2025.1",
    )
    assert ("UNSET", STATUS_UNSET) == (
        refusal.as_ldv()["status_code"],
        ldv_record(refusal.as_ldv())["status_code"],
    )


def test_a_server_side_failure_stays_an_error_in_the_export() -> None:
    assert STATUS_ERROR == ldv_record({**span("refused"), "status_code": "ERROR"})["status_code"]


def test_ldv_export_uses_the_register_base_uri_when_given() -> None:
    export = ldv_export([span("released")], controller="x", register_base="https://r.example/a/")
    assert (1, "https://r.example/a/signalering") == (
        export["count"],
        export["records"][0]["attributes"]["dpl.core.processing_activity_id"],
    )


def entry(partner: str, role: str) -> PartnerEntry:
    return PartnerEntry(id=partner, name=partner, role=role)


def test_a_school_publishes_only_its_own_inbound_and_reads_only_its_feed() -> None:
    allowed = permissions_of(entry("bs-a", "school"), load_permissions(), {})
    assert "in.bs-a.>" in allowed["publish"]
    assert not [s for s in allowed["publish"] if s.startswith("in.") and s != "in.bs-a.>"]
    assert not [s for s in allowed["publish"] if ".INBOUND" in s or ".PRIVACY" in s]
    assert ["_INBOX.bs-a.>"] == allowed["subscribe"]


def test_a_service_reads_its_own_consumer_and_answers_on_its_own_inbox() -> None:
    allowed = permissions_of(
        entry("signalling", "signalling-service"), load_permissions(), service_specs()
    )
    assert {"$JS.API.CONSUMER.MSG.NEXT.INBOUND.signalling", "ketenbus.signalling.>"} <= set(
        allowed["publish"]
    )
    expected = [
        "_INBOX.signalling.>",
        "ketenbus.health.signalling",
        "ketenbus.instance.signalling.>",
    ]
    assert expected == allowed["subscribe"]


def test_a_role_without_permissions_is_refused() -> None:
    with pytest.raises(UnknownRoleError):
        permissions_of(entry("x-y", "astrologer"), load_permissions(), {})


@dataclass
class Row:
    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def test_row_digest_changes_with_one_byte_and_the_chain_depends_on_order() -> None:
    row = Row(1, "o", 1, "t", b"state")
    flipped = Row(1, "o", 1, "t", b"statf")
    assert row_digest(row) != row_digest(flipped)
    a, b = row_digest(row), row_digest(Row(2, "o", 2, "t", b"x"))
    assert chain_next(chain_next(GENESIS, a), b) != chain_next(chain_next(GENESIS, b), a)


def test_a_table_row_digest_tells_null_from_empty_and_one_changed_field() -> None:
    row = (1, "trace", None, "refused")
    assert 3 == len({fields_digest(row), fields_digest((1, "trace", "", "refused")),
                fields_digest((1, "trace", None, "released"))})  # fmt: skip


def stored(n: int, data: bytes) -> StoredMessage:
    return StoredMessage("SIGNALLING", n, "ketenbus.signalling.x", AT, data)


def test_replay_projects_messages_as_they_come_from_a_generator(tmp_path: Path) -> None:
    taken: list[int] = []

    def messages() -> Iterator[StoredMessage]:
        for n in range(1, 4):
            taken.append(n)
            yield stored(n, signal(SCHOOL, child=child(n)).to_bytes())

    result = rebuild(
        messages(), until=None, child=None, public_keys=lambda _: None, workdir=tmp_path
    )
    assert ([1, 2, 3], 3, ["SIGNALLING"] * 3, 3) == (
        taken,
        result.counted,
        [e["stream"] for e in result.events],
        len(result.plans),
    )
    assert [] == list(tmp_path.iterdir())  # the temporary plan store is gone


def test_replay_projects_what_the_plan_consumes_and_on_inbound_only_the_plan_events() -> None:
    consumed = [
        consumed_by_plan(stream, subject)
        for stream, subject in (
            ("SIGNALLING", "ketenbus.signalling.signal-registered.v1"),
            ("HANDOVER", "ketenbus.handover.handover-started.v1"),
            ("ARRANGEMENTS", "ketenbus.arrangements.tlv-issued.v1"),
            ("TRUANCY", "ketenbus.truancy.thuiszitter-registered.v1"),
            ("PRIVACY", "ketenbus.privacy.child-erased.v1"),
            ("INBOUND", "in.wijkteam-lingewaard.plan.goal-set"),
            ("INBOUND", "in.bs-de-regenboog.signalling.signal-registered"),
            ("DEADLETTER", "ketenbus.deadletter.signalling"),
        )
    ]
    assert [True, True, True, True, True, True, False, False] == consumed


def test_nats_subject_matching_takes_one_token_for_a_star_and_the_rest_for_a_tail() -> None:
    cases = [("in.*.plan.>", "in.p.plan.goal-set"), ("in.*.plan.>", "in.p.plan"),
             ("a.*", "a.b.c"), ("a.b", "a.b")]  # fmt: skip
    assert [True, False, False, True] == [subject_matches(p, s) for p, s in cases]


def test_the_event_log_spools_entries_and_reads_them_back_in_order() -> None:
    log = EventLog()
    for n in range(3):
        log.append({"seq": n})
    assert ([{"seq": 0}, {"seq": 1}, {"seq": 2}], 3) == (list(log), len(log))
    log.append({"seq": 3})
    assert [0, 1, 2, 3] == [e["seq"] for e in log]


def test_plan_views_keep_the_latest_view_per_child_and_read_back_in_pseudonym_order() -> None:
    views = PlanViews()
    views.put("b", {"signals": [1]})
    views.put("a", {"signals": []})
    views.put("b", {"signals": [1, 2]})
    views.commit()
    assert (["a", "b"], {"signals": [1, 2]}, 2) == (list(views), views["b"], len(views))
    assert [("a", {"signals": []}), ("b", {"signals": [1, 2]})] == list(views.rows())


def plan_messages(events: list[Any]) -> Iterator[StoredMessage]:
    """The events as stored: a domain's on its stream, a party's plan event on INBOUND."""
    for n, event in enumerate(events, start=1):
        subject = event.outbound_subject()
        stream = stream_of_subject(subject).name
        if not consumed_by_plan(stream, subject):
            subject, stream = event.inbound_subject(event.source), "INBOUND"
        yield StoredMessage(stream, n, subject, AT, event.to_bytes())


def a_history() -> list[Any]:
    """Plan events of six children taken in turn (so plans leave memory and come back), a
    refused action, erasures and a signal for an erased child."""
    a, d = CHILDREN[0], CHILDREN[3]
    erasure = [
        ChildErased.create(source="kluis", subject=c, data=ChildErasedData(erased_at=NOW))
        for c in (d, a)
    ]
    stranger = JGZ.model_copy(update={"partner": "leerplicht-lingewaard"})
    refused = action(SCHOOL, stranger, SCHOOL, D, D, child=CHILDREN[5])
    # The children's events taken in turn, so plans leave memory and come back.
    per_child: dict[str, list[Any]] = {}
    for event in plan_events():
        per_child.setdefault(event.subject, []).append(event)
    taking = [iter(events) for events in per_child.values()]
    in_turn = [e for turn in zip_longest(*taking) for e in turn if e is not None]
    return [*in_turn, refused, erasure[0], signal(SCHOOL, D, d), erasure[1]]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_replay_holding_two_plans_in_memory_rebuilds_the_plans_the_service_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(replay_module, "PLAN_CACHE", 2)  # the other plans go to the spill file
    monkeypatch.setattr(replay_module, "REBUILD_BATCH", 3)
    stream = a_history()
    refused, a = stream[-4], CHILDREN[0]
    service = IntegralPlanApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    )
    numbered = list(enumerate(stream, start=1))
    refusals = [
        refusal
        for first in range(0, len(numbered), 3)
        for refusal in service.process_batch("feeds", numbered[first : first + 3])
    ]
    recorded = {c: json.loads(json.dumps(service.plan_of(c), default=str)) for c in CHILDREN[1:]}

    result = rebuild(
        plan_messages(stream), until=None, child=None, public_keys=lambda _: None,
        workdir=tmp_path / "replay", workers=workers,
    )  # fmt: skip

    assert {a: {"child": a, "erased": True}} | recorded == dict(result.plans.rows())
    assert [stream.index(refused) + 1] == [n for n, _ in refusals]
    assert [n for n, _ in refusals] == [r["seq"] for r in result.plan_refusals]


def test_a_direct_gets_header_is_the_servers_last_value_not_a_publishers_earlier_one() -> None:
    block = (
        b"NATS/1.0\r\nNats-Sequence: 999\r\nNats-Msg-Id: m1\r\nNats-Stream: SIGNALLING\r\n"
        b"Nats-Subject: ketenbus.signalling.x.v1\r\nNats-Sequence: 2\r\nNats-Num-Pending: 0\r\n\r\n"
    )
    assert (b"2", b"ketenbus.signalling.x.v1") == (
        header(block, b"\r\nNats-Sequence: "),
        header(block, b"\r\nNats-Subject: "),
    )
    with pytest.raises(DirectGetError):
        header(b"NATS/1.0\r\nNats-Stream: SIGNALLING\r\n\r\n", b"\r\nNats-Sequence: ")


def test_a_storage_time_is_read_to_the_microsecond_in_utc() -> None:
    stamps = [b"2026-12-04T22:56:59.845946033Z", b"2026-12-04T22:56:59.8Z", b"2026-12-04T22:56:59Z"]
    assert [
        datetime(2026, 12, 4, 22, 56, 59, 845946, tzinfo=UTC),
        datetime(2026, 12, 4, 22, 56, 59, 800000, tzinfo=UTC),
        datetime(2026, 12, 4, 22, 56, 59, tzinfo=UTC),
    ] == [time_stamp(stamp) for stamp in stamps]


def test_a_replay_shared_among_workers_reports_what_one_process_reports(tmp_path: Path) -> None:
    # Each child's events go to one worker; the findings, the event list and the views are
    # merged back in storage order, unreadable messages and signatures included.
    messages = list(plan_messages(a_history()))
    messages.insert(7, StoredMessage("SIGNALLING", 900, "ketenbus.signalling.x", AT, b"{not"))
    until = AT.replace(hour=11)
    later = [StoredMessage("SIGNALLING", 901, "ketenbus.signalling.x", until, b"{}")]
    later.append(StoredMessage("SIGNALLING", 902, "x", until.replace(minute=1), b"{}"))

    reports = [
        rebuild(
            [*messages, *later], until=until, child=None, public_keys=lambda _: None,
            workdir=tmp_path / str(workers), workers=workers,
        ).as_json()
        for workers in (1, 2, 3)
    ]  # fmt: skip

    assert [reports[0]] * 3 == reports
    assert (len(messages) + 2, 2) == (reports[0]["messages_read"], len(reports[0]["unreadable"]))
    assert [] == [path.name for w in (1, 2, 3) for path in (tmp_path / str(w)).iterdir()]

"""A batch's recording collects its aggregates' events itself (without eventsourcing's runtime
Protocol checks per aggregate) and records what `ProcessingEvent.collect_events` recorded: the
same events in the same order, the same due rows, the same tracking position."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Tracking

from services.runtime.store import TrackedApplication
from services.signalling.application import SignallingApplication
from services.signalling.translation import apply_inbound
from tests.events import JGZ, NOW, SCHOOL, signal

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
OTHER = "b" * 32


def record_before(
    app: TrackedApplication, tracking: Tracking, *aggregates: Any, **kwargs: Any
) -> None:
    """`TrackedApplication.record` as it was until 2026-12-04."""
    processing = ProcessingEvent[uuid.UUID](tracking=tracking)
    processing.collect_events(*aggregates, **app._due_kwargs(aggregates, kwargs))
    app._record(processing)
    app._take_snapshots(processing)


def recorded(app: SignallingApplication) -> tuple[list[Any], list[uuid.UUID], int]:
    signals = [signal(SCHOOL), signal(JGZ), signal(SCHOOL, child=OTHER), signal(JGZ, child=OTHER)]
    app.process_batch("inbound", list(enumerate(signals, 1)))
    rows = app.recorder.select_notifications(1, 1000)
    events = [(n.originator_id, n.originator_version, n.topic) for n in rows]
    return events, app.due_by(NOW + timedelta(days=400)), app.position("inbound")


def test_a_batch_records_what_collect_events_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = recorded(SignallingApplication(env=POPO, clock=lambda: NOW, inbound=apply_inbound))
    monkeypatch.setattr(TrackedApplication, "record", record_before)
    before = recorded(SignallingApplication(env=POPO, clock=lambda: NOW, inbound=apply_inbound))

    assert before == now
    assert (True, True, 4) == (len(now[0]) > 4, len(now[1]) > 0, now[2])

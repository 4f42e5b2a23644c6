"""The outbound mapping, made cheaper (its lookups done once per class and data type, no
random id or clock drawn for a relayed event), makes the bytes it made before for every event
signalling and the integral plan relay here: in memory as the relay takes them from the
hand-off, and as the store gives them back. The bytes are what partners read and verify."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from ketenbus_contracts.envelope import CloudEvent, EventData
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.translation import to_contract as plan_contract
from services.runtime.handoff import Handoff
from services.runtime.outbound import ENVELOPE, Outbound, data_type
from services.runtime.outbox import outbound_event_id
from services.runtime.store import TrackedApplication
from services.signalling.application import SignallingApplication
from services.signalling.translation import apply_inbound
from services.signalling.translation import to_contract as signalling_contract
from tests.events import (
    CHILD,
    JGZ,
    NOW,
    SCHOOL,
    WIJKTEAM,
    action,
    agreement,
    done,
    goal,
    joined,
    match,
    regie,
    signal,
)

D = date(2026, 11, 1)
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def before(outbound: Outbound, domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """`Outbound.__call__` as it was until 2026-12-04 (each step per event)."""
    kind = next((k for k in type(domain_event).__mro__ if k in outbound.contracts), None)
    if kind is None:
        return None
    contract, extra = outbound.contracts[kind]
    more = dict(extra(domain_event)) if extra else {}
    envelope = {key: more.pop(key) for key in ENVELOPE & more.keys()}
    data = data_before(data_type(contract), domain_event, more)
    return contract.create(
        id=envelope.get("id", getattr(domain_event, "event_id", None)) or event_id,
        source=envelope.get("source") or getattr(domain_event, "source", None) or outbound.source,
        subject=domain_event.child,
        time=domain_event.timestamp,
        data=data,
        purposes=envelope.get("purposes", sorted(data.sealed)),
    )


def data_before(data: type[EventData], domain_event: Any, extra: Mapping[str, Any]) -> EventData:
    values = {
        name: value
        for name, field in data.model_fields.items()
        if (value := getattr(domain_event, name, None)) is not None or field.is_required()
    }
    return data.model_validate(values | dict(extra))


def recorded(app: TrackedApplication, work: Callable[[], object]) -> list[Any]:
    """The domain events `work` records, in memory (the relay's hand-off) and as the store
    gives them back."""
    handoff = app.handoff = Handoff()
    work()
    in_memory = [event for _, event in handoff.take(0, 1000) or ()]
    stored = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 1000)]
    assert len(in_memory) == len(stored)
    return in_memory + stored


def signalling_events() -> list[Any]:
    app = SignallingApplication(env=POPO, clock=lambda: NOW, inbound=apply_inbound)
    other = "b" * 32

    def work() -> None:
        signals = [signal(SCHOOL), signal(JGZ), signal(SCHOOL, child=other)]
        app.process_batch("inbound", list(enumerate(signals, 1)))
        app.tick(NOW + timedelta(days=30))

    return recorded(app, work)


def plan_events() -> list[Any]:
    app = IntegralPlanApplication(env=POPO, clock=lambda: NOW)

    def work() -> None:
        app.apply(signal(SCHOOL, D))
        app.apply(signal(JGZ, D + timedelta(days=2)))
        app.apply(match([SCHOOL, JGZ], datetime(2026, 11, 20, 9, tzinfo=NOW.tzinfo)))
        app.apply(joined(SCHOOL, WIJKTEAM, D + timedelta(days=20)))
        app.apply(regie(SCHOOL, WIJKTEAM, D + timedelta(days=20)))
        app.apply(goal(WIJKTEAM, D + timedelta(days=21)))
        app.apply(agreement(WIJKTEAM, [SCHOOL, JGZ, WIJKTEAM], D + timedelta(days=21)))
        agreed = action(WIJKTEAM, JGZ, WIJKTEAM, D + timedelta(days=21), D + timedelta(days=35))
        app.apply(agreed)
        app.apply(done(JGZ, agreed, D + timedelta(days=30)))

    return recorded(app, work)


def test_every_relayed_event_has_the_bytes_it_had() -> None:
    made: dict[str, int] = {}
    for name, outbound, events in (
        ("signalling", signalling_contract, signalling_events()),
        ("integral_plan", plan_contract, plan_events()),
    ):
        for event in events:
            event_id = outbound_event_id(name, event)
            old = before(outbound, event, event_id)
            new = outbound(event, event_id)
            lazy = outbound.lazily(event, partial(outbound_event_id, name, event))
            expected = None if old is None else old.to_bytes()
            assert [expected, expected] == [c and c.to_bytes() for c in (new, lazy)]
            if old is not None:
                made[type(old).__name__] = made.get(type(old).__name__, 0) + 1

    assert CHILD and len(made) >= 8, made  # the slice's and the plan's events, not a few

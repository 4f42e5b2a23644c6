"""The signalling application on an in-memory store: batches, tracking, outbound contracts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ketenbus_contracts.signalling import (
    CoordinatorAssigned,
    InformingDue,
    MatchFound,
    ParentsInformed,
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
    SignalWithdrawnData,
)
from services.runtime.outbox import outbound_event_id
from services.signalling.application import SignallerMismatchError, SignallingApplication
from services.signalling.domain import UnknownSignalError
from services.signalling.translation import apply_inbound, to_contract
from tests.events import signal

CHILD = "b" * 32
SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TRACKING = "INBOUND:signalling"


def application() -> SignallingApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    return SignallingApplication(env=env, clock=lambda: NOW, inbound=apply_inbound)


def registered(signaller: Signaller, source: str | None = None) -> SignalRegistered:
    return signal(signaller, date(2026, 11, 1), CHILD, source=source)


def withdrawn(signal: SignalRegistered) -> SignalWithdrawn:
    return SignalWithdrawn.create(
        source=signal.source,
        subject=CHILD,
        data=SignalWithdrawnData(signal_id=signal.data.signal_id, withdrawn_on=date(2026, 11, 2)),
    )


def published(app: SignallingApplication) -> list[object]:
    notifications = app.recorder.select_notifications(1, 100)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    return [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]


def test_a_redelivered_batch_has_its_effect_once() -> None:
    app = application()
    batch = [(1, registered(SCHOOL)), (3, registered(JGZ))]

    app.process_batch(TRACKING, batch)
    app.process_batch(TRACKING, batch)

    assert 2 == len(app.signals_of(CHILD).signals)
    assert 3 == app.position(TRACKING)


def test_a_batch_sees_its_own_earlier_commands() -> None:
    app = application()
    signal = registered(SCHOOL)

    refused = app.process_batch(TRACKING, [(1, signal), (2, withdrawn(signal))])

    assert [] == refused
    assert frozenset() == app.signals_of(CHILD).active_partners


def test_a_refused_message_is_named_and_the_rest_of_the_batch_takes_effect() -> None:
    app = application()
    impostor = registered(JGZ, source="kdv-het-speelhuis")
    unknown = withdrawn(registered(SCHOOL))

    refused = app.process_batch(TRACKING, [(1, registered(SCHOOL)), (2, impostor), (3, unknown)])

    assert [(2, SignallerMismatchError), (3, UnknownSignalError)] == [
        (seq, type(exc)) for seq, exc in refused
    ]
    assert frozenset({"bs-de-regenboog"}) == app.signals_of(CHILD).active_partners
    assert 3 == app.position(TRACKING)


def test_a_match_is_published_as_match_found_with_both_signallers() -> None:
    app = application()
    app.process_batch(TRACKING, [(1, registered(SCHOOL)), (2, registered(JGZ))])

    contracts = published(app)
    # Each signal also tells the parent view (parents-informed) and its signaller's informing
    # task (informing-due); the match gets a coordinator.
    assert [
        SignalRegistered,
        ParentsInformed,
        InformingDue,
        SignalRegistered,
        ParentsInformed,
        InformingDue,
        MatchFound,
        CoordinatorAssigned,
    ] == [type(c) for c in contracts]
    match = contracts[-2]
    assert isinstance(match, MatchFound)
    assert CHILD == match.subject
    assert ["bs-de-regenboog", "jgz-gelderland-zuid"] == [s.partner for s in match.data.signallers]


def test_outbound_event_ids_are_stable_across_republishing() -> None:
    app = application()
    app.process_batch(TRACKING, [(1, registered(SCHOOL))])

    assert [c.id for c in published(app)] == [c.id for c in published(app)]

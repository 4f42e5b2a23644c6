"""The webhook bridge against a local HTTP receiver on 127.0.0.1: shape, filters, retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.notificaties.bridge import Bridge
from adapters.notificaties.models import Abonnement, load_config
from adapters.notificaties.store import NotificatieStore
from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from tests.events import (
    CHILD,
    JGZ,
    LEERPLICHT,
    NOW,
    PO,
    SCHOOL,
    WIJKTEAM,
    action,
    handover_started,
    joined,
    match,
    signal,
    three_month_rule,
    thuiszitter_registered,
    tlv_issued,
)

D = date(2026, 11, 1)
TOKEN = "Bearer gemeente-zaaksysteem-token"


class Receiver:
    """A municipal case system's callback: records what arrives; fails while told to."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.received.append((json.loads(body), self.headers["Authorization"]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bridge(tmp_path: Path, clock: Clock) -> Iterator[Bridge]:
    store = NotificatieStore(tmp_path / "notificaties.db")
    yield Bridge(store, "https://ketenbus.example", load_config(), clock)
    store.close()


def subscribe(bridge: Bridge, receiver: Receiver, partner: str, **filters: str) -> str:
    abonnement = Abonnement.model_validate(
        {
            "callbackUrl": receiver.url,
            "auth": TOKEN,
            "kanalen": [{"naam": "plan", "filters": filters}, {"naam": "privacy"}],
            "partner": partner,
        }
    )
    return bridge.store.subscribe(abonnement, bridge.clock())


async def deliver(bridge: Bridge) -> int:
    async with httpx.AsyncClient() as client:
        return await bridge.deliver_due(client)


async def test_an_involved_partners_subscription_gets_a_thin_zgw_notification(
    bridge: Bridge, receiver: Receiver
) -> None:
    subscribe(bridge, receiver, WIJKTEAM.partner)
    subscribe(bridge, receiver, "leerplicht-lingewaard")  # not involved: told nothing
    bridge.take(signal(SCHOOL, D))
    event = joined(SCHOOL, WIJKTEAM, D)
    bridge.take(event)

    assert 1 == await deliver(bridge)

    expected = {
        "kanaal": "plan",
        "hoofdObject": f"https://ketenbus.example/api/plan/{CHILD}",
        "resource": "partij",
        "resourceUrl": f"https://ketenbus.example/api/plan/{CHILD}?resource=partij&event={event.id}",
        "actie": "create",
        "aanmaakdatum": event.time.isoformat().replace("+00:00", "Z"),
        "kenmerken": {"organisatie": "wijkteam-lingewaard"},
    }
    assert [(expected, TOKEN)] == receiver.received


async def test_filters_per_channel_select_what_a_subscription_gets(
    bridge: Bridge, receiver: Receiver
) -> None:
    subscribe(bridge, receiver, WIJKTEAM.partner, actor=JGZ.partner)
    for event in (
        signal(SCHOOL, D),
        joined(SCHOOL, WIJKTEAM, D),
        joined(SCHOOL, JGZ, D),
        action(WIJKTEAM, JGZ, WIJKTEAM, D, D),
        action(WIJKTEAM, SCHOOL, WIJKTEAM, D, D),
    ):
        bridge.take(event)

    await deliver(bridge)

    assert [{"actor": JGZ.partner, "terugkoppelingAan": WIJKTEAM.partner}] == [
        body["kenmerken"] for body, _ in receiver.received
    ]


async def test_a_failing_callback_is_retried_with_backoff_then_shown_failed_and_retryable(
    bridge: Bridge, receiver: Receiver, clock: Clock
) -> None:
    subscribe(bridge, receiver, WIJKTEAM.partner)
    bridge.take(joined(WIJKTEAM, WIJKTEAM, D))
    receiver.fail_next = 100
    attempts = 0
    while not bridge.store.deliveries("failed"):
        assert 0 == await deliver(bridge)
        attempts += 1
        assert [] == bridge.store.due(clock.now)  # waits per the backoff before trying again
        clock.now += 600
    failed = bridge.store.deliveries("failed")[0]

    assert (load_config().delivery.max_attempts, "HTTP 503") == (attempts, failed.last_error)
    receiver.fail_next = 0
    assert 1 == bridge.store.retry(clock.now, failed.id)
    assert 1 == await deliver(bridge)
    assert ["delivered"] == [d.status for d in bridge.store.deliveries()]


async def test_a_redelivered_event_is_notified_once(bridge: Bridge, receiver: Receiver) -> None:
    subscribe(bridge, receiver, WIJKTEAM.partner)
    event = joined(WIJKTEAM, WIJKTEAM, D)

    assert 1 == bridge.take(event)
    assert 0 == bridge.take(event)
    await deliver(bridge)

    assert 1 == len(receiver.received)


async def test_an_erased_child_is_forgotten_but_its_erasure_is_told(
    bridge: Bridge, receiver: Receiver
) -> None:
    subscribe(bridge, receiver, WIJKTEAM.partner)
    receiver.fail_next = 1
    bridge.take(joined(WIJKTEAM, WIJKTEAM, D))
    await deliver(bridge)  # fails: a notification about the child still queued
    erased = ChildErased.create(source="kluis", subject=CHILD, data=ChildErasedData(erased_at=NOW))

    bridge.take(erased)
    await deliver(bridge)
    bridge.take(joined(SCHOOL, SCHOOL, D))  # later events: the partner is no longer involved

    assert [("privacy", "destroy")] == [(b["kanaal"], b["actie"]) for b, _ in receiver.received]
    assert [str(erased.id)] == [d.event_id for d in bridge.store.deliveries()]


async def test_handovers_arrangements_and_attendance_are_told_thinly_to_whom_they_involve(
    bridge: Bridge, receiver: Receiver
) -> None:
    kanalen = [{"naam": "overdracht"}, {"naam": "ondersteuning"}, {"naam": "leerplicht"}]
    for partner in (PO, LEERPLICHT, WIJKTEAM.partner):
        abonnement = {"callbackUrl": receiver.url, "auth": TOKEN, "kanalen": kanalen}
        bridge.store.subscribe(
            Abonnement.model_validate(abonnement | {"partner": partner}), bridge.clock()
        )
    started = handover_started(D, D)
    since = D - timedelta(days=80)
    tlv = tlv_issued(D)
    for event in (
        started,
        tlv,
        thuiszitter_registered(since),
        three_month_rule(since, D),
    ):
        bridge.take(event)

    await deliver(bridge)

    told = sorted(
        (body["kanaal"], body["resource"], tuple(sorted(body["kenmerken"].items())))
        for body, _ in receiver.received
    )
    assert [
        ("leerplicht", "aanwezigheid", ()),  # the school (involved) of the thuiszitter
        ("leerplicht", "aanwezigheid", (("fase", "escalated"),)),  # to leerplicht, it notifies
        ("leerplicht", "aanwezigheid", (("fase", "escalated"),)),  # and to the school
        ("ondersteuning", "tlv", ()),
        ("overdracht", "overdracht", (("organisatie", PO), ("overgang", "po-vo"))),
    ] == told
    (care_words,) = tlv.data.sealed.values()
    assert all(care_words not in json.dumps(body) for body, _ in receiver.received)


def subscribe_signalling(bridge: Bridge, receiver: Receiver, partner: str) -> str:
    abonnement = Abonnement.model_validate(
        {
            "callbackUrl": receiver.url,
            "auth": f"Bearer {partner}",
            "kanalen": [{"naam": "signalering"}],
            "partner": partner,
        }
    )
    return bridge.store.subscribe(abonnement, bridge.clock())


async def test_a_lone_signal_is_told_to_no_other_partner_and_a_match_to_whom_it_notifies(
    bridge: Bridge, receiver: Receiver
) -> None:
    for partner in (SCHOOL.partner, JGZ.partner, WIJKTEAM.partner):
        subscribe_signalling(bridge, receiver, partner)
    bridge.take(joined(SCHOOL, SCHOOL, D))  # the school is involved with the child
    bridge.take(joined(SCHOOL, WIJKTEAM, D))  # and the wijkteam
    bridge.take(signal(JGZ, D))
    await deliver(bridge)
    lone = sorted(auth or "" for body, auth in receiver.received if body["resource"] == "signaal")

    bridge.take(signal(SCHOOL, D))
    bridge.take(match_notifying([SCHOOL, JGZ], [WIJKTEAM.partner]))
    await deliver(bridge)
    told = sorted(auth or "" for body, auth in receiver.received if body["resource"] == "match")

    assert [f"Bearer {JGZ.partner}"] == lone
    assert [f"Bearer {p.partner}" for p in (SCHOOL, JGZ, WIJKTEAM)] == told


def match_notifying(parties: list[Any], more: list[str]) -> Any:
    found = match(parties, NOW)
    notify = sorted({p.partner for p in parties} | set(more))
    return found.model_copy(update={"data": found.data.model_copy(update={"notify": notify})})

"""Signalling on many instances (issue 20 item 2), on PostgreSQL and a nats-server with the
registry's authorization.

Signalling runs partitioned (infra/partitions.yaml): it starts on one instance, two more join
while the school and the JGZ signal and one of them is killed with SIGKILL mid-stream. Every
signal is then recorded once and in order (the school's withdrawal after its signal: out of
order it would be refused), every match made once, every inbound message answered by exactly
one receipt, every relayed event on SIGNALLING once, and the only dead letters are those of
the partner's crafted messages: bytes without a subject (partition 0's), a number as subject,
a subject that is no pseudonym, and a signed signal with its subject taken out, each refused
once by whichever instance holds the partition it falls in. A signed signal with a second
`subject` key in front of its own lands in its own child's partition (the last key counts, as
everywhere it is read) and is accepted once.

On the store: a child's history purged by the tick on one instance while another instance
records on that child is never written over, nor continued without its start.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.signalling import SignalWithdrawn, SignalWithdrawnData
from services.runtime import nats_auth
from services.runtime.due import PurgedMeanwhileError
from services.runtime.outbox import outbound_event_id
from services.runtime.partitions import load_partitions
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import DEADLETTER, FEED, SIGNALLING, deadletter_subject
from services.signalling.application import SignallingApplication
from services.signalling.domain import ChildSignals
from services.signalling.translation import apply_inbound, to_contract
from tests.conftest import StoreBackend
from tests.events import signal
from tests.integration.helpers import JGZ, SCHOOL, child, eventually, signed_items
from tests.integration.test_instances import Instances, PartitionedCase, holders

pytestmark = pytest.mark.integration

SERVICE = "signalling"
PARTITIONS = load_partitions().services[SERVICE].partitions
CHILDREN = 30
ON = date(2026, 11, 2)


def events_of(n: int) -> list[CloudEvent[Any]]:
    """Child n's signals: the school's, the JGZ's (a match), then the school withdrawing its
    own (which must come after it)."""
    kid = child(n)
    school = signal(SCHOOL, ON, kid)
    jgz = signal(JGZ, ON, kid)
    withdrawn = SignalWithdrawn.create(
        source=SCHOOL.partner,
        subject=kid,
        data=SignalWithdrawnData(signal_id=school.data.signal_id, withdrawn_on=ON),
    )
    return [school, jgz, withdrawn]


def crafted(settings: Settings) -> tuple[list[bytes], bytes]:
    """The school's crafted messages, each refused: not JSON, a number as subject, a subject
    that is no pseudonym, a signed signal without its subject; and a signed signal with a
    second subject (another child's) in front of its own, which is valid."""
    subject_of = child(CHILDREN + 1)
    _, payload, _ = signed_items(settings.data_dir, [signal(SCHOOL, ON, subject_of)])[0]
    envelope = json.loads(payload)
    numbered = {**envelope, "subject": 12345}
    odd = {**envelope, "subject": "../" + subject_of}
    without = {k: v for k, v in envelope.items() if k != "subject"}
    refused = [b"{", *(json.dumps(e).encode() for e in (numbered, odd, without))]
    _, valid, _ = signed_items(settings.data_dir, [signal(SCHOOL, ON, child(CHILDREN + 2))])[0]
    twice = b'{"subject":"' + child(0).encode() + b'",' + valid[1:]
    return refused, twice


class TestPartitionedSignalling(PartitionedCase):
    service = SERVICE

    def test_three_instances_one_killed_record_every_signal_match_and_receipt_once(
        self, registry_settings: Settings, instances: Instances
    ) -> None:
        settings, backbone = registry_settings, instances.backbone
        per_child = {n: events_of(n) for n in range(CHILDREN)}
        waves = [list(range(w, CHILDREN, 4)) for w in range(4)]
        refused, twice = crafted(settings)

        async def scenario() -> None:
            school = await nats_auth.connect(settings, SCHOOL.partner, backbone.url)
            jgz = await nats_auth.connect(settings, JGZ.partner, backbone.url)
            watcher = await nats_auth.connect(settings, "backbone", backbone.url)
            by_partner = {SCHOOL.partner: school, JGZ.partner: jgz}

            async def send(events: list[CloudEvent[Any]]) -> None:
                for event in events:
                    for subject, payload, msg_id in signed_items(settings.data_dir, [event]):
                        await (
                            by_partner[event.source]
                            .jetstream()
                            .publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
                        )

            def held_by(names: set[str]) -> Callable[[], Any]:
                async def check() -> bool | None:
                    held = await holders(watcher, SERVICE)
                    counts = Counter(held.values())
                    spread = len(held) == PARTITIONS and set(counts) == names
                    return (
                        True
                        if spread and max(counts.values()) - min(counts.values()) <= 1
                        else None
                    )

                return check

            try:
                instances.start("s1")
                await eventually(held_by({"s1"}), "s1 to hold every partition")
                await send([e for n in waves[0] for e in per_child[n]])
                instances.start("s2")
                instances.start("s3")
                await send([e for n in waves[1] for e in per_child[n]])
                await eventually(held_by({"s1", "s2", "s3"}), "the partitions over three")
                instances.alive()
                wave = [e for n in waves[2] for e in per_child[n]]
                await send(wave[: len(wave) // 2])
                instances.kill("s2")
                await send(wave[len(wave) // 2 :])
                await eventually(held_by({"s1", "s3"}), "s2's partitions taken over")
                await send([e for n in waves[3] for e in per_child[n]])
                subject = f"in.{SCHOOL.partner}.signalling.signal-registered"
                for payload in [*refused, twice]:
                    await school.jetstream().publish(subject, payload)
                published = 3 * CHILDREN + len(refused) + 1
                await eventually(lambda: _all_recorded(settings), "every child's signals")
                instances.alive()
                receipts = await eventually(
                    lambda: _receipts(watcher, published), "a receipt for every message"
                )
                await eventually(
                    lambda: _deadletters(watcher, len(refused)), "the crafted messages refused"
                )
                await eventually(lambda: _relayed(settings, watcher), "every event relayed")
            finally:
                for nc in (school, jgz, watcher):
                    await nc.close()
            # One receipt per inbound message: the crafted ones refused, the rest accepted.
            statuses = Counter(r["status"] for r in receipts)
            assert {"accepted": 3 * CHILDREN + 1, "refused": len(refused)} == statuses
            assert published == len({r["stream_seq"] for r in receipts})

        asyncio.run(scenario())
        _check_once(settings)


def _store(settings: Settings) -> SignallingApplication:
    # Read beside the running services: creating the tables (IF NOT EXISTS, theirs) could
    # deadlock with their writes, and PostgreSQL would end this side.
    return SignallingApplication(env={**store_env(settings, SERVICE), "CREATE_TABLE": "no"})


async def _all_recorded(settings: Settings) -> bool | None:
    def read() -> bool:
        app = _store(settings)
        try:
            for n in range(CHILDREN):
                signals = app.signals_of(child(n)).signals.values()
                partners = {s.signaller.partner: s.active for s in signals}
                if {SCHOOL.partner: False, JGZ.partner: True} != partners:
                    return False
            return len(app.signals_of(child(CHILDREN + 2)).signals) == 1
        finally:
            app.close()

    return True if await asyncio.to_thread(read) else None


def _check_once(settings: Settings) -> None:
    """Each child's two signals, one match and one withdrawal recorded once; the signal with a
    second subject on its own child only."""
    app = _store(settings)
    try:
        for n in range(CHILDREN):
            recorded = Counter(
                type(e).__name__
                for e in app.repository.event_store.get(ChildSignals.create_id(child(n)))
            )
            assert (2, 1, 1) == (
                recorded["SignalRegistered"],
                recorded["MatchFound"],
                recorded["SignalWithdrawn"],
            )
        assert 1 == len(app.signals_of(child(CHILDREN + 2)).signals)
    finally:
        app.close()


async def _stream_messages(nc: NatsClient, stream: str, subject: str) -> list[bytes]:
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq, direct=True)
        if msg.subject is not None and _matches(subject, msg.subject):
            out.append(msg.data or b"")
    return out


def _matches(pattern: str, subject: str) -> bool:
    """NATS's subject match (`*` one token, `>` the rest)."""
    parts, want = subject.split("."), pattern.split(".")
    if want[-1] == ">":
        fits = len(parts) >= len(want)
        want, parts = want[:-1], parts[: len(want) - 1]
    else:
        fits = len(parts) == len(want)
    return fits and all(w in ("*", p) for w, p in zip(want, parts, strict=True))


async def _receipts(nc: NatsClient, expected: int) -> list[dict[str, Any]] | None:
    """The partners' receipts: `expected` of them (more fails at once)."""
    receipts = [json.loads(m) for m in await _stream_messages(nc, FEED.name, "feed.*.receipt")]
    assert len(receipts) <= expected, "a message answered twice"
    return receipts if len(receipts) == expected else None


async def _deadletters(nc: NatsClient, expected: int) -> bool | None:
    info = await nc.jetstream().stream_info(
        DEADLETTER.name, subjects_filter=deadletter_subject(SERVICE)
    )
    count = (info.state.subjects or {}).get(deadletter_subject(SERVICE), 0)
    assert count <= expected, "a message refused twice, or a valid one refused"
    return True if count == expected else None


async def _relayed(settings: Settings, nc: NatsClient) -> bool | None:
    """Every recorded event the relay publishes is on SIGNALLING once."""

    def recorded() -> int:
        app = _store(settings)
        try:
            events = [
                app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100_000)
            ]
            return sum(1 for e in events if to_contract(e, outbound_event_id(SERVICE, e)))
        finally:
            app.close()

    ids = [json.loads(m)["id"] for m in await _stream_messages(nc, SIGNALLING.name, ">")]
    assert len(ids) == len(set(ids)), "an event relayed twice"
    return True if len(ids) == await asyncio.to_thread(recorded) else None


@pytest.mark.postgres
class TestPurgeBesideAnotherInstance(StoreBackend):
    """The tick on one instance purges a child's history; a partition's instance records on
    the same child."""

    store = "postgres"

    def apps(self, settings: Settings) -> tuple[SignallingApplication, SignallingApplication]:
        env = store_env(settings, SERVICE)
        return (
            SignallingApplication(env=env, inbound=apply_inbound),
            SignallingApplication(env=env, inbound=apply_inbound),
        )

    def test_a_recording_on_a_child_purged_since_it_was_loaded_is_refused(
        self, settings: Settings
    ) -> None:
        ticking, consuming = self.apps(settings)
        ticking.process_batch("inbound-p1", [(1, signal(SCHOOL, ON))])
        kid = ChildSignals.create_id(signal(SCHOOL, ON).subject)
        batch = consuming.new_batch()
        apply_inbound(consuming, signal(JGZ, ON), batch)  # loaded before the purge

        assert ticking.purge(kid, ticking.repository.get(kid).version)
        with pytest.raises(PurgedMeanwhileError):
            consuming.record(Tracking("inbound-p1", 2), *batch.aggregates)

        assert 1 == consuming.position("inbound-p1")
        consuming.process_batch("inbound-p1", [(2, signal(JGZ, ON))])
        partners = [s.signaller.partner for s in consuming.repository.get(kid).signals.values()]
        assert [JGZ.partner] == partners

    def test_a_purge_of_a_child_recorded_on_since_is_not_made(self, settings: Settings) -> None:
        ticking, consuming = self.apps(settings)
        ticking.process_batch("inbound-p1", [(1, signal(SCHOOL, ON))])
        kid = ChildSignals.create_id(signal(SCHOOL, ON).subject)
        seen = ticking.repository.get(kid).version

        consuming.process_batch("inbound-p1", [(2, signal(JGZ, ON))])

        assert not ticking.purge(kid, seen)
        assert 2 == len(ticking.repository.get(kid).signals)

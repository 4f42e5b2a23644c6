"""One service on many instances (issue 20 item 2), on PostgreSQL and a nats-server with the
registry's authorization.

The integral plan runs partitioned (infra/partitions.yaml: 6 partitions, each consumed by one
instance, leases in the JetStream KV bucket `ketenbus-leases`): it starts on one instance, two
more join while signals flow and one of them is killed with SIGKILL mid-stream. Every signal is
then on its child's plan once and in order (a withdrawal after the signal it withdraws), every
plan equals its rebuild from the streams, every plan event the outbox relayed is on the PLAN
stream once, and the killed instance's partitions are held by the two left.

A service on one instance (signalling, unless asked for more) refuses a second instance with a
clear error and keeps running; a stopped one hands over at once. A partner, and another
service, cannot take or read a service's leases.
"""

from __future__ import annotations

import asyncio
import json
import signal as signals
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig, SubjectTransform

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.signalling import SignalWithdrawn, SignalWithdrawnData
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.domain import Plan
from services.integral_plan.rebuild import rebuild, replay_events
from services.registry import SERVICES
from services.runtime import nats_auth
from services.runtime.host import health_subject, run_service
from services.runtime.leases import AnotherInstanceError, Keeper, Leases, partition_lease
from services.runtime.partitions import env_prefix, load_partitions, partition_of_key
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import DEADLETTER, LEASES, PLAN, deadletter_subject, ensure_streams
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import SCHOOL as SCHOOL_PARTY
from tests.events import WIJKTEAM, joined, regie, signal
from tests.integration.helpers import JGZ, SCHOOL, child, eventually, signed_items

pytestmark = pytest.mark.integration

# What a denied request or publish ends in: no answer (the server drops it) or an error.
DENIED = (nats.errors.Error, nats.js.errors.Error, TimeoutError)

SERVICE = "integral-plan"
PARTITIONS = load_partitions().services[SERVICE].partitions
CHILDREN = 24  # signals from the SIGNALLING stream
PLANS = 12  # more children, their plans made by a party on INBOUND
ON = date(2026, 11, 2)


def events_of(n: int) -> list[CloudEvent[Any]]:
    """Child n's signals as signalling relays them: the school's, the JGZ's, then the school
    withdrawing its own (which must come after it)."""
    kid = child(n)
    if n >= CHILDREN:
        return plan_events_of(n)
    school = signal(SCHOOL, ON, kid, source="signalling")
    jgz = signal(JGZ, ON, kid, source="signalling")
    withdrawn = SignalWithdrawn.create(
        source="signalling",
        subject=kid,
        data=SignalWithdrawnData(signal_id=school.data.signal_id, withdrawn_on=ON),
    )
    return [school, jgz, withdrawn]


def plan_events_of(n: int) -> list[CloudEvent[Any]]:
    """Child n's plan, made by the wijkteam on INBOUND (signed): it starts the plan by joining,
    adds the school, then takes regie (each refused if it came before the one it needs)."""
    kid = child(n)
    return [
        joined(WIJKTEAM, WIJKTEAM, ON, kid),
        joined(WIJKTEAM, SCHOOL_PARTY, ON, kid),
        regie(WIJKTEAM, WIJKTEAM, ON, kid),
    ]


class Instances:
    """Instances of a service (the integral plan) as `ketenbus service <service>` processes."""

    def __init__(
        self, backbone: Backbone, monkeypatch: pytest.MonkeyPatch, service: str = SERVICE
    ) -> None:
        self.backbone, self.monkeypatch, self.service = backbone, monkeypatch, service
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        self.monkeypatch.setenv(f"{env_prefix(self.service)}INSTANCE_ID", name)
        log = self.backbone.settings.log_dir / f"{name}.log"
        with log.open("ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "service", self.service],
                env=self.backbone.service_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signals.SIGKILL)
        process.wait()

    def alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited: see its log"

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def holders(nc: NatsClient, service: str = SERVICE) -> dict[int, str]:
    """Which instance holds each held partition of a service (the integral plan)."""
    kv = await nc.jetstream().key_value(LEASES.name)
    held = {}
    for n in range(load_partitions().services[service].partitions):
        try:
            entry = await kv.get(f"{service}.{partition_lease(n)}")
        except nats.js.errors.KeyNotFoundError:
            continue
        held[n] = json.loads(entry.value or b"{}")["instance"]
    return held


def spread(held: dict[int, str], instances: set[str]) -> bool:
    """Every partition held, by exactly these instances, evenly."""
    counts = Counter(held.values())
    return (
        len(held) == PARTITIONS
        and set(counts) == instances
        and max(counts.values()) - min(counts.values()) <= 1
    )


async def publish(
    nc: NatsClient, party: NatsClient, data_dir: Path, events: list[CloudEvent[Any]]
) -> None:
    """Signals as signalling relays them (its user), plan events as the wijkteam signs them
    (its user, on INBOUND)."""
    js, signed = nc.jetstream(), party.jetstream()
    for event in events:
        if event.source == WIJKTEAM.partner:
            for subject, payload, msg_id in signed_items(data_dir, [event]):
                await signed.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
            continue
        await js.publish(
            event.outbound_subject(), event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)}
        )


class PartitionedCase(StoreBackend):
    """A partitioned service's instances (up to 3) on PostgreSQL and a nats-server of the
    test's own under the registry's authorization, with short leases; stopped after the
    test."""

    store = "postgres"
    service = SERVICE

    @pytest.fixture
    def registry_settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"nats_auth": "registry", "lease_ttl": 3.0, "audit_witness_interval": 0}
        )

    @pytest.fixture
    def instances(
        self,
        registry_settings: Settings,
        start_backbone: StartBackbone,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[Instances]:
        monkeypatch.setenv(f"{env_prefix(self.service)}INSTANCES", "3")
        backbone = start_backbone(registry_settings, [], processes=True)
        instances = Instances(backbone, monkeypatch, self.service)
        try:
            yield instances
        finally:
            instances.stop()


class TestPartitionedIntegralPlan(PartitionedCase):
    def test_three_instances_one_killed_mid_stream_record_every_event_once_in_order(
        self, registry_settings: Settings, instances: Instances
    ) -> None:
        settings, backbone = registry_settings, instances.backbone
        per_child = {n: events_of(n) for n in range(CHILDREN + PLANS)}
        # Four waves of children: each child's three events within one wave, in order.
        waves = [list(range(w, CHILDREN + PLANS, 4)) for w in range(4)]

        async def scenario() -> None:
            # The signalling service's own user publishes what signalling would relay.
            nc = await nats_auth.connect(settings, "signalling", backbone.url)
            party = await nats_auth.connect(settings, WIJKTEAM.partner, backbone.url)
            watcher = await nats_auth.connect(settings, "backbone", backbone.url)

            async def send(events: list[CloudEvent[Any]]) -> None:
                await publish(nc, party, settings.data_dir, events)

            try:
                instances.start("i1")
                await eventually(
                    lambda: _when(spread, watcher, {"i1"}), "i1 to hold every partition"
                )
                await send([e for n in waves[0] for e in per_child[n]])
                instances.start("i2")
                instances.start("i3")
                await send([e for n in waves[1] for e in per_child[n]])
                await eventually(
                    lambda: _when(spread, watcher, {"i1", "i2", "i3"}),
                    "the partitions spread over three instances",
                )
                instances.alive()
                # Killed mid-stream: half a wave before, half after.
                wave = [e for n in waves[2] for e in per_child[n]]
                await send(wave[: len(wave) // 2])
                instances.kill("i2")
                await send(wave[len(wave) // 2 :])
                await eventually(
                    lambda: _when(spread, watcher, {"i1", "i3"}),
                    "i2's partitions taken over by i1 and i3",
                )
                await send([e for n in waves[3] for e in per_child[n]])
                # Two refusals: bytes that are no event (partition 0's) and regie from a
                # partner not on that child's plan. Each is dead-lettered once, by one instance.
                await party.jetstream().publish(f"in.{WIJKTEAM.partner}.plan.regie-assigned", b"{")
                await send([regie(WIJKTEAM, WIJKTEAM, ON, child(CHILDREN + PLANS))])
                await eventually(
                    lambda: _all_recorded(settings), "every child's three events on its plan"
                )
                instances.alive()
                await _check(settings, nc, watcher)
                await eventually(lambda: _deadletters(watcher, 2), "the two dead letters")
            finally:
                await nc.close()
                await party.close()
                await watcher.close()

        asyncio.run(scenario())


async def _when(check: Any, nc: NatsClient, instances: set[str]) -> bool | None:
    return True if check(await holders(nc), instances) else None


def _store(settings: Settings) -> IntegralPlanApplication:
    # Read beside the running services: creating the tables (IF NOT EXISTS, theirs) could
    # deadlock with their writes, and PostgreSQL would end this side.
    return IntegralPlanApplication(
        env={**store_env(settings, IntegralPlanApplication.name), "CREATE_TABLE": "no"}
    )


async def _all_recorded(settings: Settings) -> bool | None:
    def read() -> bool:
        app = _store(settings)
        try:
            for n in range(CHILDREN, CHILDREN + PLANS):
                try:
                    if not app.plan_of(child(n)).get("regie"):
                        return False
                except LookupError:
                    return False
            for n in range(CHILDREN):
                try:
                    signals_on = app.plan_of(child(n)).get("signals", [])
                except LookupError:
                    return False
                if len(signals_on) < 2 or not any(s["status"] == "withdrawn" for s in signals_on):
                    return False
            return True
        finally:
            app.close()

    return True if await asyncio.to_thread(read) else None


async def _deadletters(nc: NatsClient, expected: int) -> bool | None:
    """The integral plan's dead letters: `expected` of them (more fails at once)."""
    info = await nc.jetstream().stream_info(
        DEADLETTER.name, subjects_filter=deadletter_subject(SERVICE)
    )
    count = (info.state.subjects or {}).get(deadletter_subject(SERVICE), 0)
    assert count <= expected
    return True if count == expected else None


async def _check(settings: Settings, nc: NatsClient, watcher: NatsClient) -> None:
    """Every plan equals its rebuild from the streams; each signal once, the withdrawal
    after it; every recorded plan event relayed once."""
    fresh = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    rebuild(fresh, await replay_events(watcher))
    live = _store(settings)
    try:
        for n in range(CHILDREN):
            plan = live.plan_of(child(n))
            assert fresh.plan_of(child(n)) == plan
            assert 2 == len(plan["signals"])
            assert 2 == len({s["signal_id"] for s in plan["signals"]})
            statuses = {s["partner"]: s["status"] for s in plan["signals"]}
            assert {SCHOOL.partner: "withdrawn", JGZ.partner: "active"} == statuses
        for n in range(CHILDREN, CHILDREN + PLANS):
            plan = live.plan_of(child(n))
            assert fresh.plan_of(child(n)) == plan
            assert {WIJKTEAM.partner, SCHOOL_PARTY.partner} == {
                p["partner"] for p in plan["parties"]
            }
        # Each party's plan event recorded once: two joined and regie per plan, nothing refused.
        recorded = [
            type(e).__name__
            for n in range(CHILDREN, CHILDREN + PLANS)
            for e in live.repository.event_store.get(Plan.create_id(child(n)))
        ]
        assert {"PartyJoined": 2 * PLANS, "RegieAssigned": PLANS} == {
            k: v for k, v in Counter(recorded).items() if k in ("PartyJoined", "RegieAssigned")
        }
    finally:
        live.close()
    # The relay published each once (ids unique), after the takeovers. It relays what the
    # instances recorded on its own clock (it polls the shared store), so the last wave may
    # still be on its way when every plan is recorded: wait for it, never past the count.
    ids = await eventually(
        lambda: _relayed(watcher, 3 * PLANS), "the relay to publish every plan event"
    )
    assert 3 * PLANS == len(ids) == len(set(ids))


async def _relayed(nc: NatsClient, expected: int) -> list[str] | None:
    ids = await _plan_ids(nc)
    assert len(ids) <= expected, "more plan events on the stream than were recorded"
    return ids if len(ids) == expected else None


async def _plan_ids(nc: NatsClient) -> list[str]:
    js = nc.jetstream()
    info = await js.stream_info(PLAN.name)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(PLAN.name, seq, direct=True)
        ids.append(json.loads(msg.data)["id"])
    return ids


def test_a_childs_partition_is_the_one_nats_subject_mapping_gives_its_pseudonym(
    nats_url: str,
) -> None:
    """FNV-1a 32 of the pseudonym modulo the count: what the server's `{{partition(n,1)}}`
    makes of the token (a stream with that subject transform, here only, never in production:
    the subjects do not carry the child)."""
    kids = [child(n) for n in range(40)]

    async def mapped() -> list[int]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            transform = SubjectTransform(
                src="mapping.*",
                dest=f"mapped.{{{{partition({PARTITIONS},1)}}}}.{{{{wildcard(1)}}}}",
            )
            await js.add_stream(
                StreamConfig(name="MAPPING", subjects=["mapping.*"], subject_transform=transform)
            )
            for kid in kids:
                await js.publish(f"mapping.{kid}", b"")
            out = []
            for seq in range(1, len(kids) + 1):
                out.append(int((await js.get_msg("MAPPING", seq)).subject.split(".")[1]))
            return out
        finally:
            await nc.close()

    assert asyncio.run(mapped()) == [partition_of_key(kid, PARTITIONS) for kid in kids]


def test_a_second_instance_of_a_service_on_one_instance_refuses_to_start_and_the_first_runs_on(
    settings: Settings, nats_url: str
) -> None:
    """Signalling on one instance (KETENBUS_SIGNALLING_INSTANCES unset): a second instance would
    re-create its durable consumer under the first and the two would restart each other. It
    refuses, naming the first; the first keeps answering; once the first stopped, the next
    starts at once."""
    settings = settings.model_copy(update={"nats_url": nats_url, "audit_witness_interval": 0})

    async def scenario() -> str:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream())
        stop_first, stop_third = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(run_service(SERVICES["signalling"](), settings, stop_first))
        try:
            await eventually(lambda: _answers(nc, first), "the first instance")
            with pytest.raises(AnotherInstanceError) as refused:
                await run_service(SERVICES["signalling"](), settings, asyncio.Event())
            assert not first.done()
            assert await _answers(nc, first)
            stop_first.set()
            await first
            third = asyncio.create_task(run_service(SERVICES["signalling"](), settings, stop_third))
            await eventually(lambda: _answers(nc, third), "the next instance")
            stop_third.set()
            await third
        finally:
            stop_first.set()
            stop_third.set()
            await nc.close()
        return str(refused.value)

    message = asyncio.run(scenario())
    assert message.startswith("another instance of signalling is running")


async def _answers(nc: NatsClient, service: asyncio.Task[None]) -> bool:
    assert not service.done(), "the service stopped"
    await nc.request(health_subject("signalling"), b"", timeout=0.5)
    return True


class TestLeasesUnderAuthorization(StoreBackend):
    """A partner cannot read or take a service's leases; a service only its own."""

    def test_only_a_service_itself_reads_and_takes_its_leases(
        self, settings: Settings, start_backbone: StartBackbone
    ) -> None:
        # Long leases: each denied request below waits out its timeout.
        settings = settings.model_copy(update={"nats_auth": "registry", "lease_ttl": 300.0})
        backbone = start_backbone(settings, [], processes=True)

        async def scenario() -> None:
            school = await nats_auth.connect(settings, SCHOOL.partner, backbone.url)
            signalling = await nats_auth.connect(settings, "signalling", backbone.url)
            plan = await nats_auth.connect(settings, SERVICE, backbone.url)
            try:
                own = await Leases.open(plan, settings, SERVICE, "mine")
                assert await own.claim(partition_lease(0))
                # A partner sees no bucket and cannot write a lease's subject.
                with pytest.raises(DENIED):
                    await school.jetstream().key_value(LEASES.name)
                with pytest.raises(DENIED):
                    await school.jetstream().publish(
                        f"$KV.{LEASES.name}.{SERVICE}.{partition_lease(0)}", b"{}", timeout=2
                    )
                # Another service holds its own leases, never this one's.
                other = await Leases.open(signalling, settings, "signalling", "other")
                assert await other.claim("instance")
                thief = Leases(signalling, other.kv, SERVICE, "thief")
                with pytest.raises(DENIED):
                    await thief.kv.put(f"{SERVICE}.{partition_lease(0)}", thief.value)
                with pytest.raises(DENIED):
                    await thief.kv.get(f"{SERVICE}.{partition_lease(0)}")
                held = await own.holder(partition_lease(0))
                assert held is not None
                assert "mine" == held[0]["instance"]
                await own.close()
                await other.close()
            finally:
                for nc in (school, signalling, plan):
                    await nc.close()

        asyncio.run(scenario())


KETENBUS = Path(__file__).parents[2] / ".venv" / "bin" / "ketenbus"


def test_ketenbus_service_beside_a_running_instance_exits_with_the_reason(
    settings: Settings, start_backbone: StartBackbone
) -> None:
    """As an operator runs it: `ketenbus service signalling` beside `up`'s signalling exits 1
    with one line saying why; asked for two instances of a service that cannot have them (the
    handover, not in infra/partitions.yaml), it says so too."""
    backbone = start_backbone(settings, ["signalling"], processes=True)
    env = backbone.service_env()
    second = subprocess.run(
        [str(KETENBUS), "service", "signalling"], env=env, capture_output=True, timeout=300
    )
    more = subprocess.run(
        [str(KETENBUS), "service", "handover"],
        env={**env, "KETENBUS_HANDOVER_INSTANCES": "2"},
        capture_output=True,
        timeout=300,
    )
    assert backbone.processes["signalling"].poll() is None
    assert (1, 1) == (second.returncode, more.returncode)
    assert "error: another instance of signalling is running" in second.stderr.decode()
    assert "handover cannot run on more than one instance" in more.stderr.decode()


def test_time_driven_work_runs_on_one_instance_and_moves_when_it_stops(
    settings: Settings, nats_url: str
) -> None:
    """Two instances of a partitioned service: one holds the ticks' lease and runs them, the
    other does not; the partitions are split between them. When the first stops, the second
    takes the ticks and every partition at its next round."""
    settings = settings.model_copy(update={"nats_url": nats_url, "lease_ttl": 3.0})
    runs: list[str] = []

    async def scenario() -> None:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream(), lease_ttl=3.0)
        keepers = []
        for name in ("a", "b"):
            leases = await Leases.open(nc, settings, "ticking", name)
            keepers.append(Keeper(leases, 4, 0.1, ("ticks",)))
        first, second = keepers
        await first.start()
        await second.start()
        for keeper in (first, second, first, second):
            await keeper.round()
            await keeper.settle()

        def ticking(name: str) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                while True:
                    runs.append(name)
                    await asyncio.sleep(0.05)

            return run

        duties = [asyncio.create_task(k.duty("ticks", ticking(k.leases.instance))) for k in keepers]
        await asyncio.sleep(0.5)
        assert {"a"} == set(runs)
        assert [2, 2] == [len(k.consuming) for k in keepers]
        await first.leases.close()
        duties[0].cancel()
        runs.clear()
        await second.round()
        await second.settle()
        await asyncio.sleep(0.5)
        assert {"b"} == set(runs)
        assert {0, 1, 2, 3} == set(second.consuming)
        duties[1].cancel()
        await second.leases.close()
        await nc.close()

    asyncio.run(scenario())


def test_an_unpartitioned_and_a_partitioned_instance_never_run_side_by_side(
    settings: Settings, nats_url: str
) -> None:
    """Each would handle every child of its own consumers' positions: the one that comes
    second refuses, whichever kind it is."""
    settings = settings.model_copy(update={"nats_url": nats_url})

    async def scenario() -> list[str]:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream())
        refusals = []
        try:
            for first_parts, second_parts in ((0, 4), (4, 0)):
                first = Keeper(await Leases.open(nc, settings, "mixed", "first"), first_parts, 1)
                second = Keeper(await Leases.open(nc, settings, "mixed", "second"), second_parts, 1)
                await first.start()
                with pytest.raises(AnotherInstanceError) as refused:
                    await second.start()
                refusals.append(str(refused.value))
                await first.leases.close()
                await second.leases.close()
        finally:
            await nc.close()
        return refusals

    assert [
        "an instance of mixed runs on one instance (first): stop it first",
        "instances of mixed run partitioned (first): stop them first, or run this one "
        "partitioned too (KETENBUS_<SERVICE>_INSTANCES)",
    ] == asyncio.run(scenario())

"""What the chaos tests share (tests/integration/test_chaos.py): a TCP proxy that cuts the
services off PostgreSQL, the services' processes under a supervisor that starts a dead one
again, and signed signals flowing from a school at a steady rate.

The proxy stands between the services and the machine's shared PostgreSQL: cutting it closes
every connection through it and refuses new ones, as a database host that went away does,
while the PostgreSQL server itself (which other tests use) keeps running.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import structlog
from eventsourcing.persistence import PersistenceError
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.envelope import CloudEvent, parse_event
from ketenbus_contracts.signalling import SignalRegistered
from ketenbus_partner.publish import DataDirKeys
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.rebuild import rebuild, replay_events
from services.runtime.nats_server import die_with_parent
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import SIGNALLING
from services.runtime.watch import retrying
from tests.cluster import free_port
from tests.events import signal
from tests.integration.helpers import SCHOOL, child, eventually

log = structlog.get_logger(__name__)


class PostgresProxy:
    """A TCP proxy on loopback to PostgreSQL, run on an event loop of its own thread."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.cut_off = False
        self.pipes: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pg-proxy", daemon=True)
        self.server: asyncio.Server | None = None

    def start(self) -> int:
        self.thread.start()
        self._call(self._listen())
        return self.port

    def _call(self, coro: Awaitable[Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(30)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.pipes |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self.pipes.discard(writer)
            writer.close()

    async def _cut(self) -> None:
        self.cut_off = True
        for writer in list(self.pipes):
            writer.close()
        self.pipes.clear()

    def cut(self) -> None:
        """Every connection through the proxy closed, every new one refused."""
        self._call(self._cut())

    def restore(self) -> None:
        self.cut_off = False

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def http_port_variable(service: str) -> str:
    """The variable giving `service` its HTTP port (`services.runtime.observe.http_port`)."""
    return "KETENBUS_" + service.upper().replace("-", "_") + "_HTTP_PORT"


class Supervised:
    """Service processes (`ketenbus service NAME`), each with its own HTTP port and instance
    name, started again when one exits, as systemd's `Restart=on-failure` or a Kubernetes pod
    would be: a thread checks them twice a second."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.launch: dict[str, tuple[str, dict[str, str]]] = {}
        self.ports: dict[str, int] = {}
        self.restarts: list[tuple[str, int]] = []  # (process name, its exit code)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._watch, name="supervised", daemon=True)
        self.thread.start()

    def start(self, name: str, service: str, partitioned: bool = False) -> None:
        """Start `service` as process `name` (an instance of it when `partitioned`)."""
        self.ports[name] = free_port()
        env = {http_port_variable(service): str(self.ports[name])}
        if partitioned:
            env[http_port_variable(service).replace("_HTTP_PORT", "_INSTANCE_ID")] = name
        with self.lock:
            self.launch[name] = (service, env)
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        service, env = self.launch[name]
        with (self.log_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "service", service],
                env={**self.env, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=die_with_parent,
            )

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                for name, process in list(self.processes.items()):
                    code = process.poll()
                    if code is not None and not self.stopping.is_set():
                        log.warning("chaos_process_restarted", process=name, code=code)
                        self.restarts.append((name, code))
                        self._spawn(name)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash or an OOM kill does; the watcher starts it again."""
        with self.lock:
            process = self.processes[name]
            process.kill()
        process.wait()

    async def ready(self) -> bool:
        return await all_ready(self.ports.values())

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def all_ready(ports: Iterable[int]) -> bool:
    """Every process answers `/readyz` with 200 on its port (NATS, its store, its relay and
    ticks)."""
    async with httpx.AsyncClient(timeout=5) as http:
        for port in ports:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
    return True


async def publish_stored(
    js: Any, subject: str, payload: bytes, msg_id: str, timeout: float = 600.0
) -> None:
    """Publish until the stream confirms it, as a partner does through an outage: the same
    `Nats-Msg-Id` each time, so a publish stored before its acknowledgement was lost is not
    stored twice (JetStream's duplicate window)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=5)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def flow(
    nc: NatsClient,
    data_dir: Path,
    events: list[CloudEvent[Any]],
    rate: float,
    fault: Callable[[], Awaitable[None]],
) -> float:
    """Publish `events` signed by their source at `rate` a second, running `fault` once a
    third of them is out (the flow goes on meanwhile); when the fault began (monotonic)."""
    signer = DataDirKeys(data_dir)
    messages = [signer.message(e) for e in events]
    js = nc.jetstream()
    began = 0.0

    async def inject() -> None:
        nonlocal began
        began = time.monotonic()
        await fault()

    faulting: asyncio.Task[None] | None = None
    start = time.monotonic()
    for n, message in enumerate(messages):
        if n == len(messages) // 3:
            faulting = asyncio.create_task(inject())
        await publish_stored(js, message.subject, message.payload, message.headers["Nats-Msg-Id"])
        await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))
    if faulting is not None:
        await faulting
    return began


async def stream_bodies(nc: NatsClient, stream: str) -> list[bytes]:
    """Every message on `stream` (a direct get of each sequence)."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    return [
        (await js.get_msg(stream, seq, direct=True)).data
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


def plans_store(settings: Settings) -> IntegralPlanApplication:
    return IntegralPlanApplication(env=store_env(settings, IntegralPlanApplication.name))


@dataclass
class Outcome:
    recovered: float  # seconds from the fault to every signal recorded and every process ready
    found: dict[str, list[str]]  # each child's signal ids on its plan
    relayed: Counter[str]  # how often each signal is on SIGNALLING
    differing: list[str]  # the children whose plan differs from its rebuild


@dataclass
class Run:
    """One chaos run: `signals` signals from the school for children `first`…, one each, at
    `rate` a second; the integral plan's store read with `store`'s settings; `ready` says
    whether every process is ready; `bound` ends a hang (not a timing check)."""

    store: Settings
    data_dir: Path
    ready: Callable[[], Awaitable[bool]]
    first: int
    signals: int
    rate: float
    bound: float
    on: date = date(2026, 11, 2)

    def __post_init__(self) -> None:
        self.kids = [child(self.first + n) for n in range(self.signals)]
        self.events = [signal(SCHOOL, self.on, kid) for kid in self.kids]
        self.expected = {
            kid: [str(e.data.signal_id)] for kid, e in zip(self.kids, self.events, strict=True)
        }

    def signals_on_plans(self) -> dict[str, list[str]] | None:
        """Each child's signal ids on its plan, once every child has a signal on its plan."""
        app = plans_store(self.store)
        try:
            found = {}
            for kid in self.kids:
                try:
                    signals = app.plan_of(kid).get("signals", [])
                except LookupError:
                    return None
                if not signals:
                    return None
                found[kid] = [str(s["signal_id"]) for s in signals]
            return found
        finally:
            app.close()

    async def recorded_and_ready(self) -> dict[str, list[str]] | None:
        try:
            found = await asyncio.to_thread(self.signals_on_plans)
        except PersistenceError:
            # Opening the store beside the running services (its CREATE … IF NOT EXISTS) can
            # deadlock with their writes: PostgreSQL ends one side, here the test's; again.
            return None
        if found is None or not await self.ready():
            return None
        return found

    async def differing(self, watcher: NatsClient) -> list[str]:
        """The children whose live plan differs from its rebuild from the streams."""
        fresh = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        rebuild(fresh, await replay_events(watcher))
        live = plans_store(self.store)
        try:
            return [kid for kid in self.kids if fresh.plan_of(kid) != live.plan_of(kid)]
        finally:
            live.close()

    async def scenario(
        self,
        partner: Callable[[], Awaitable[NatsClient]],
        watcher: Callable[[], Awaitable[NatsClient]],
        fault: Callable[[NatsClient], Awaitable[None]],
    ) -> Outcome:
        school, watching = await partner(), await watcher()
        try:
            began = await flow(
                school, self.data_dir, self.events, self.rate, lambda: fault(watching)
            )
            found = await eventually(
                self.recorded_and_ready,
                "every signal on its plan and every process ready",
                self.bound,
            )
            recovered = time.monotonic() - began
            # The test's own reads retried through an election, as the services' are.
            bodies = await retrying("read", partial(stream_bodies, watching, SIGNALLING.name))
            relayed = Counter(
                str(event.data.signal_id)
                for event in map(parse_event, bodies)
                if isinstance(event, SignalRegistered) and event.subject in self.expected
            )
            differing = await retrying("rebuild", partial(self.differing, watching))
            return Outcome(recovered, found, relayed, differing)
        finally:
            await school.close()
            await watching.close()

    def check(self, outcome: Outcome, record_property: Callable[[str, object], None]) -> None:
        record_property("recovery_seconds", round(outcome.recovered, 1))
        print(f"recovered {outcome.recovered:.1f} s after the fault")  # the figure, with -s
        assert self.expected == outcome.found  # each signal on its child's plan, once
        assert {ids[0]: 1 for ids in self.expected.values()} == dict(outcome.relayed)
        assert [] == outcome.differing  # every plan equals its rebuild

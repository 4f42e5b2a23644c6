"""Chaos on a 3-node JetStream cluster with PostgreSQL stores (issue 20 item 4).

The nodes run the committed `infra/nats/cluster-node.conf` on loopback (tests/cluster.py: TLS
on clients and routes, NKEY users), the streams with three replicas. The signalling service
and two instances of the integral plan (partitioned, infra/partitions.yaml) run as
`ketenbus service` processes under a supervisor that starts an exited one again, as systemd
or Kubernetes would (tests/chaos.py), each answering /readyz on its own port. Their stores are
on PostgreSQL through a TCP proxy the test controls, so the database can be cut off without
stopping the machine's shared PostgreSQL server.

In each test a school publishes signed signals through the partner kit at a steady rate (one
per child) and a fault is injected a third of the way in, while the flow goes on:

1. the SIGNALLING stream's leader node is killed (SIGKILL);
2. one instance of the integral plan is killed (SIGKILL; its supervisor starts it again);
3. PostgreSQL is unreachable for 30 s (the proxy closes every connection and refuses new
   ones; the PostgreSQL server itself keeps running).

Each ends with every signal relayed onto SIGNALLING once and on its child's plan once, every
plan equal to its rebuild from the streams, and every process ready again (/readyz 200)
without a hand, waited for within RECOVERY_BOUND: a deadline that ends a hang, not a timing
check. The measured recovery (from the fault to all recorded and ready) is printed and
recorded as the test's property `recovery_seconds`; bench/README.md keeps the figures.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from ketenbus_partner.connect import Credentials, TlsFiles, connect_partner
from services.runtime import nats_auth
from services.runtime.nats_auth import SUPERVISOR_USER
from services.runtime.settings import Settings
from services.runtime.streams import SIGNALLING
from services.runtime.supervisor import declare
from tests.chaos import PostgresProxy, Run, Supervised
from tests.cluster import Authority, TlsCluster, new_user_nkey
from tests.conftest import PG_HOST, PG_PORT, fresh_schema, postgres_settings, postgres_turn
from tests.integration.helpers import SCHOOL, eventually

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.postgres]

PLAN = "integral-plan"
SIGNALS = 120  # per test, one per child
RATE = 20.0  # signals a second
RECOVERY_BOUND = 300.0  # a deadline for a loaded machine, not a timing check
OUTAGE = 30.0  # seconds PostgreSQL is unreachable


@dataclass
class ChaosCluster:
    """The running cluster, the services' processes, the proxy and the school's credentials."""

    root: Path
    cluster: TlsCluster
    proxy: PostgresProxy
    settings: Settings
    processes: Supervised
    school: Credentials
    school_tls: TlsFiles

    @property
    def url(self) -> str:
        return self.cluster.url

    async def watcher(self) -> NatsClient:
        return await nats_auth.connect(
            self.settings, SUPERVISOR_USER, self.url, max_reconnect_attempts=-1
        )

    async def partner(self) -> NatsClient:
        return await connect_partner(
            self.url,
            SCHOOL.partner,
            credentials=self.school,
            tls=self.school_tls,
            max_reconnect_attempts=-1,
        )


async def _declared(settings: Settings, url: str) -> bool:
    """The meta leader is elected a moment after the routes: declare until it answers."""
    try:
        await declare(settings, url)
        return True
    except nats.errors.Error:
        return False


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosCluster]:
    root = tmp_path_factory.mktemp("chaos")
    with postgres_turn(tmp_path_factory), fresh_schema() as schema:
        authority = Authority(root / "pki")
        nkeys_dir = root / "nkeys"
        users = (SUPERVISOR_USER, "signalling", PLAN, SCHOOL.partner)
        keys = {user: new_user_nkey(nkeys_dir / f"{user}.nk") for user in users}
        cluster = TlsCluster(root / "cluster", authority, keys)
        proxy = PostgresProxy(PG_HOST, PG_PORT)
        cert, key = authority.issue("ketenbus-services")
        school_cert, school_key = authority.issue(SCHOOL.partner)
        settings = postgres_settings(
            root / "data",
            schema,
            postgres_port=proxy.start(),
            nats_auth="none",
            nats_replicas=3,
            nats_tls_ca=authority.ca,
            nats_tls_cert=cert,
            nats_tls_key=key,
            nats_nkey_seed_file=str(nkeys_dir / "{user}.nk"),
            lease_ttl=3.0,
            audit_witness_interval=0,
            up_ready_timeout=RECOVERY_BOUND,
        )
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        processes: Supervised | None = None
        try:
            url = cluster.start()
            cluster.wait_for_routes()
            settings = settings.model_copy(update={"nats_url": url})
            asyncio.run(eventually(lambda: _declared(settings, url), "the streams declared"))
            env = {
                **os.environ,
                **settings.to_env(),
                "KETENBUS_LOG_FORMAT": "json",
                "KETENBUS_INTEGRAL_PLAN_INSTANCES": "2",
            }
            processes = Supervised(env, settings.log_dir)
            processes.start("signalling", "signalling")
            for name in ("plan-a", "plan-b"):
                processes.start(name, PLAN, partitioned=True)
            school = Credentials(
                user=SCHOOL.partner, nkeys_seed=str(nkeys_dir / f"{SCHOOL.partner}.nk")
            )
            school_tls = TlsFiles(authority.ca, school_cert, school_key)
            running = ChaosCluster(root, cluster, proxy, settings, processes, school, school_tls)
            asyncio.run(eventually(processes.ready, "every process ready", RECOVERY_BOUND))
            yield running
        finally:
            if processes is not None:
                processes.stop()
            cluster.stop()
            proxy.stop()


def run_chaos(
    chaos: ChaosCluster,
    first: int,
    fault: Callable[[NatsClient], Awaitable[None]],
    record_property: Callable[[str, object], None],
) -> None:
    """Signals for children `first`… flowing while `fault` strikes; then every check (the
    test's own reads of the plans straight from PostgreSQL, not through the proxy)."""
    run = Run(
        store=chaos.settings.model_copy(update={"postgres_port": PG_PORT}),
        data_dir=chaos.settings.data_dir,
        ready=chaos.processes.ready,
        first=first,
        signals=SIGNALS,
        rate=RATE,
        bound=RECOVERY_BOUND,
    )
    run.check(asyncio.run(run.scenario(chaos.partner, chaos.watcher, fault)), record_property)


def test_the_signalling_streams_leader_killed_mid_flow(
    chaos: ChaosCluster, record_property: Callable[[str, object], None]
) -> None:
    killed: list[int] = []

    async def kill_leader(watcher: NatsClient) -> None:
        info = await watcher.jetstream().stream_info(SIGNALLING.name)
        assert info.cluster is not None and info.cluster.leader is not None
        n = int(info.cluster.leader.rsplit("-", 1)[1]) - 1
        node = chaos.cluster.nodes[n].process
        assert node is not None
        node.kill()
        await asyncio.to_thread(node.wait)
        killed.append(n)

    try:
        run_chaos(chaos, 10_000, kill_leader, record_property)
    finally:
        # The node comes back for the next test (its host's supervisor would start it).
        for n in killed:
            chaos.cluster.nodes[n].start(timeout=60.0)
        chaos.cluster.wait_for_routes()


def test_an_instance_of_the_integral_plan_killed_mid_flow(
    chaos: ChaosCluster, record_property: Callable[[str, object], None]
) -> None:
    async def kill_instance(_: NatsClient) -> None:
        await asyncio.to_thread(chaos.processes.kill, "plan-b")

    run_chaos(chaos, 20_000, kill_instance, record_property)
    assert "plan-b" in {name for name, _ in chaos.processes.restarts}


def test_postgresql_unreachable_for_thirty_seconds_mid_flow(
    chaos: ChaosCluster, record_property: Callable[[str, object], None]
) -> None:
    """The proxy between the services and PostgreSQL is cut for 30 s (never the machine's
    shared PostgreSQL server, which other tests use)."""

    async def outage(_: NatsClient) -> None:
        await asyncio.to_thread(chaos.proxy.cut)
        await asyncio.sleep(OUTAGE)
        chaos.proxy.restore()

    run_chaos(chaos, 30_000, outage, record_property)

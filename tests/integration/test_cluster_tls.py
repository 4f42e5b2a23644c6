"""A service on a 3-node JetStream cluster with TLS on clients and routes and NKEY users.

The nodes run the committed `infra/nats/cluster-node.conf` on loopback (tests/cluster.py), the
streams with three replicas. The signalling service connects with the CA, a client certificate
and its NKEY seed from its settings (`KETENBUS_NATS_TLS_*`, `KETENBUS_NATS_NKEY_SEED_FILE`), a
school through the partner kit with its own certificate and NKEY: its signed signal is
consumed, recorded, relayed onto SIGNALLING and receipted on the school's feed. The attacks: a
client without a certificate, an unregistered NKEY, and the school subscribing or reading
outside its permissions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest

from ketenbus_partner.connect import Credentials, TlsFiles, connect_partner
from ketenbus_partner.feed import read_feed
from ketenbus_partner.publish import DataDirKeys
from services.runtime.nats_auth import connect as connect_as
from services.runtime.nats_server import EmbeddedNats
from services.runtime.settings import Settings
from services.runtime.streams import ensure_streams
from services.runtime.supervisor import Backbone, partner_consumers
from tests.backbone import InProcessBackbone
from tests.cluster import Authority, TlsCluster, free_port, new_user_nkey
from tests.events import signal
from tests.integration.helpers import SCHOOL, child, eventually, wait_until

pytestmark = pytest.mark.integration

SERVICE = "signalling"
NO_CERTIFICATE = "TLS handshake error: tls: client didn't provide a certificate"
ROUTE_REFUSED = "TLS route handshake error"


class Cluster:
    """What the tests share: the running cluster, the service's settings, the files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.authority = Authority(root / "pki")
        self.nkeys_dir = root / "nkeys"
        users = ("backbone", SERVICE, SCHOOL.partner)
        self.nkeys = {user: new_user_nkey(self.nkeys_dir / f"{user}.nk") for user in users}
        self.cluster = TlsCluster(root / "cluster", self.authority, self.nkeys)
        cert, key = self.authority.issue("ketenbus-services")
        self.settings = Settings(
            data_dir=root / "data",
            store="sqlite",
            nats_auth="none",
            nats_replicas=3,
            nats_tls_ca=self.authority.ca,
            nats_tls_cert=cert,
            nats_tls_key=key,
            nats_nkey_seed_file=str(self.nkeys_dir / "{user}.nk"),
            up_ready_timeout=300.0,  # a deadline for a loaded machine, not a timing check
        )
        school_cert, school_key = self.authority.issue(SCHOOL.partner)
        self.school_tls = TlsFiles(self.authority.ca, school_cert, school_key)
        self.school = Credentials(
            user=SCHOOL.partner, nkeys_seed=str(self.nkeys_dir / f"{SCHOOL.partner}.nk")
        )
        self.backbone: Backbone | None = None

    def start(self) -> None:
        url = self.cluster.start()
        self.cluster.wait_for_routes()
        self.settings = self.settings.model_copy(update={"nats_url": url})
        # The meta leader is elected a moment after the routes: declare until it answers.
        asyncio.run(eventually(self._declared, "the streams declared with three replicas"))
        self.backbone = InProcessBackbone(self.settings, [SERVICE])
        self.backbone.start()

    async def _declared(self) -> bool:
        nc = await connect_as(self.settings, "backbone", self.url)
        try:
            await ensure_streams(nc.jetstream(), 3, partner_consumers())
            return True
        except nats.errors.Error:
            return False
        finally:
            await nc.close()

    def stop(self) -> None:
        if self.backbone is not None:
            self.backbone.stop()
        self.cluster.stop()

    @property
    def url(self) -> str:
        return self.cluster.url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("tls-cluster"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def collect_errors() -> tuple[list[str], Any]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return errors, on_error


def test_every_node_demands_tls_of_clients_and_of_routes(cluster: Cluster) -> None:
    varz = cluster.cluster.varz()
    assert (True, True) == (varz["tls_required"], varz["tls_verify"])
    routes: dict[str, Any] = varz["cluster"]  # type: ignore[assignment]
    assert (True, True) == (routes["tls_required"], routes["tls_verify"])


async def test_a_school_signal_is_consumed_relayed_and_receipted_through_the_cluster(
    cluster: Cluster,
) -> None:
    school = await connect_partner(
        cluster.url, SCHOOL.partner, credentials=cluster.school, tls=cluster.school_tls
    )
    backbone = await connect_as(cluster.settings, "backbone", cluster.url)
    try:
        event = signal(SCHOOL, child=child(4201))
        await DataDirKeys(cluster.settings.data_dir).publish(school.jetstream(), event)

        async def relayed() -> bool:
            info = await backbone.jetstream().stream_info("SIGNALLING")
            return info.state.messages >= 1

        await eventually(relayed, "the signal relayed onto SIGNALLING")
        info = await backbone.jetstream().stream_info("SIGNALLING")
        assert info.cluster is not None
        assert 2 == len(info.cluster.replicas or [])

        async def receipt() -> dict[str, Any] | None:
            async for item in read_feed(school, SCHOOL.partner, wait=0.5):
                if item.is_receipt:
                    return item.body
            return None

        body = await eventually(receipt, "the school's receipt on its feed")
        assert str(event.id) in json.dumps(body)
    finally:
        await school.close()
        await backbone.close()


async def refused_errors(cluster: Cluster, credentials: Credentials, tls: TlsFiles) -> list[str]:
    """What the client's error callback heard while its connection was refused."""
    errors, on_error = collect_errors()
    with pytest.raises((nats.errors.NoServersError, OSError, nats.errors.Error)):
        nc = await connect_partner(
            cluster.url,
            SCHOOL.partner,
            credentials=credentials,
            tls=tls,
            allow_reconnect=False,
            connect_timeout=5,
            error_cb=on_error,
        )
        await nc.close()
    return [e.lower() for e in errors]


async def test_a_client_without_a_certificate_is_refused(cluster: Cluster) -> None:
    before = cluster.cluster.logged(NO_CERTIFICATE)
    await refused_errors(cluster, cluster.school, TlsFiles(ca=cluster.authority.ca))

    async def logged() -> bool:
        return cluster.cluster.logged(NO_CERTIFICATE) > before

    await eventually(logged, "the node's log of the handshake refused")


async def test_a_client_speaking_plain_text_is_refused(cluster: Cluster) -> None:
    port = cluster.cluster.nodes[0].port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        info = json.loads((await reader.readline()).decode().removeprefix("INFO "))
        writer.write(b'CONNECT {"verbose":false}\r\nPUB in.x 2\r\nhi\r\n')
        await writer.drain()
        answer = (await reader.readline()).decode().lower()
    finally:
        writer.close()
    # The node expects a TLS handshake after its INFO and closes on anything else.
    assert (True, True, "") == (info["tls_required"], info["tls_verify"], answer)


def test_a_node_with_another_cas_certificate_joins_no_route(cluster: Cluster) -> None:
    rogue_dir = cluster.root / "rogue"
    foreign = Authority(rogue_dir / "pki")
    cert, key = foreign.issue("rogue", ("127.0.0.1",))
    (rogue_dir / "rogue.conf").write_text(
        "server_name: rogue\n"
        "cluster {\n  name: ketenbus\n"
        f"  listen: 127.0.0.1:{free_port()}\n"
        f"  routes: [nats-route://127.0.0.1:{cluster.cluster.route_ports[0]}]\n"
        f"  tls {{ cert_file: {cert}, key_file: {key}, ca_file: {foreign.ca}, verify: true }}\n"
        "}\n"
    )
    before = cluster.cluster.logged(ROUTE_REFUSED)
    rogue = EmbeddedNats(rogue_dir / "server", config_file=rogue_dir / "rogue.conf")
    rogue.start()
    try:
        wait_until(
            lambda: cluster.cluster.logged(ROUTE_REFUSED) > before, what="the rogue route refused"
        )
        assert {"nats-2", "nats-3"} == cluster.cluster.route_names(0)
    finally:
        rogue.stop()


async def test_an_unregistered_nkey_is_refused(cluster: Cluster) -> None:
    stranger = cluster.root / "stranger.nk"
    new_user_nkey(stranger)
    credentials = Credentials(user=SCHOOL.partner, nkeys_seed=str(stranger))
    errors = await refused_errors(cluster, credentials, cluster.school_tls)
    assert any("authorization violation" in e for e in errors)


async def test_the_school_cannot_subscribe_or_read_outside_its_permissions(
    cluster: Cluster,
) -> None:
    errors, on_error = collect_errors()
    school = await connect_partner(
        cluster.url,
        SCHOOL.partner,
        credentials=cluster.school,
        tls=cluster.school_tls,
        error_cb=on_error,
    )
    try:
        await school.subscribe("ketenbus.signalling.>")
        await school.flush()

        async def refused() -> bool:
            return any('subscription to "ketenbus.signalling.>"' in e.lower() for e in errors)

        await eventually(refused, "the subscription refused")
        with pytest.raises(nats.errors.Error):
            sub = await school.jetstream().pull_subscribe(
                "ketenbus.signalling.>", stream="SIGNALLING", durable=None
            )
            await sub.fetch(1, timeout=2)
    finally:
        await school.close()

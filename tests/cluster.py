"""A 3-node NATS JetStream cluster on loopback, configured as production's nodes are.

Each node runs the committed `infra/nats/cluster-node.conf` (TLS on clients and routes, both
mutual) with only what differs on one machine put in: the certificate paths, loopback ports,
the store directory, and the authorization `ketenbus audit nats-config --nkeys` renders,
included as step 5 of that file says. The certificates (a CA, one server certificate for every
node, client certificates) are made here with `cryptography`, the users' NKEYs with `nkeys`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.infra import INFRA_DIR
from services.registry import service_specs
from services.runtime.nats_permissions import password_variables, render_auth_config
from services.runtime.nats_server import EmbeddedNats

CLUSTER_NODE_CONF = INFRA_DIR / "nats" / "cluster-node.conf"
ROUTE_HOSTS = ("nats-1.ketenbus.internal", "nats-2.ketenbus.internal", "nats-3.ketenbus.internal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


@dataclass
class Authority:
    """A certificate authority of the test's own, issuing server and client certificates."""

    directory: Path
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: new_key())

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ketenbus test CA")])
        self.cert = (
            self._builder(name, self.key.public_key(), name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca = self.directory / "ca.pem"
        self.ca.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _builder(
        subject: x509.Name, public: ec.EllipticCurvePublicKey, issuer: x509.Name
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    def issue(self, name: str, hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A certificate and key for `name`, valid for `hosts` (DNS names or IP addresses)."""
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, key.public_key(), self.cert.subject)
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return cert_path, key_path


def new_user_nkey(seed_file: Path) -> str:
    """A user NKEY pair: the seed written to `seed_file` (0600), the public key returned."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    seed_file.parent.mkdir(parents=True, exist_ok=True)
    seed_file.write_bytes(seed + b"\n")
    seed_file.chmod(0o600)
    return str(nkeys.from_seed(seed).public_key.decode())


def node_config(
    template: str, *, tls_dir: Path, routes: list[int], route_port: int, http_port: int
) -> str:
    """`cluster-node.conf` for one node on loopback: certificates under `tls_dir`, the routes
    and monitoring on the given ports, the store where the embedded server puts it, the
    generated authorization included."""
    text = template.replace("/etc/nats/tls/", f"{tls_dir}/")
    # The embedded server names its store directory on its command line (a second is an error).
    text = re.sub(r"^\s*store_dir: .*$\n", "", text, flags=re.M)
    text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route_port}")
    text = re.sub(r"^http: 0\.0\.0\.0:8222", f"http: 127.0.0.1:{http_port}", text, flags=re.M)
    for host, port in zip(ROUTE_HOSTS, routes, strict=True):
        text = text.replace(f"nats-route://{host}:6222", f"nats-route://127.0.0.1:{port}")
    return text.replace("# include ./auth.conf", "include ./auth.conf")


class TlsCluster:
    """Three nodes of `cluster-node.conf` on loopback with NKEY users (`nkeys`: user → public
    key; every other user of the generated config gets a password in the nodes' environment)."""

    def __init__(self, directory: Path, authority: Authority, nkeys_by_user: Mapping[str, str]):
        self.directory = directory
        self.authority = authority
        tls_dir = directory / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        cert, key = authority.issue("server", ("localhost", "127.0.0.1", *ROUTE_HOSTS))
        for source, target in ((cert, "server.pem"), (key, "server-key.pem")):
            (tls_dir / target).write_bytes(source.read_bytes())
        (tls_dir / "ca.pem").write_bytes(authority.ca.read_bytes())
        auth = render_auth_config(service_specs(), nkeys=nkeys_by_user)
        environment = {
            variable: "pw-" + os.urandom(8).hex()
            for variable in password_variables(service_specs(), nkeys=nkeys_by_user)
        }
        self.route_ports = [free_port() for _ in ROUTE_HOSTS]
        self.http_ports = [free_port() for _ in ROUTE_HOSTS]
        template = CLUSTER_NODE_CONF.read_text(encoding="utf-8")
        self.nodes: list[EmbeddedNats] = []
        for n, (route_port, http_port) in enumerate(
            zip(self.route_ports, self.http_ports, strict=True), start=1
        ):
            node_dir = directory / f"nats-{n}"
            node_dir.mkdir(parents=True, exist_ok=True)
            (node_dir / "auth.conf").write_text(auth, encoding="utf-8")
            config = node_dir / "cluster-node.conf"
            config.write_text(
                node_config(
                    template,
                    tls_dir=tls_dir,
                    routes=self.route_ports,
                    route_port=route_port,
                    http_port=http_port,
                ),
                encoding="utf-8",
            )
            node = EmbeddedNats(
                node_dir, config_file=config, environment={**environment, "NODE_NAME": f"nats-{n}"}
            )
            node.port = free_port()
            self.nodes.append(node)
        self.url = ",".join(f"nats://127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> str:
        for node in self.nodes:
            node.start(timeout=60.0)  # a deadline for a loaded machine
        return self.url

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def varz(self, n: int = 0) -> dict[str, object]:
        """A node's /varz from its monitoring port (the operator's, not the partners')."""
        response = httpx.get(f"http://127.0.0.1:{self.http_ports[n]}/varz", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def logged(self, text: str) -> int:
        """How many lines of the nodes' logs say `text`."""
        return sum(
            line.count(text)
            for node in self.nodes
            for line in (node.directory / "nats-server.log").read_text().splitlines()
        )

    def route_names(self, n: int) -> set[str]:
        """The servers node `n` has routes to (its /routez)."""
        routes = httpx.get(f"http://127.0.0.1:{self.http_ports[n]}/routez", timeout=10)
        return {r["remote_name"] for r in routes.json().get("routes") or [] if r.get("remote_name")}

    def wait_for_routes(self, timeout: float = 180.0) -> None:
        """Until every node routes to both others (over TLS, as the config demands)."""
        deadline = time.monotonic() + timeout
        for n in range(len(self.nodes)):
            while True:
                peers = self.route_names(n)
                if len(peers) >= len(self.nodes) - 1:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"nats-{n + 1} has routes to {peers} only")
                time.sleep(0.2)

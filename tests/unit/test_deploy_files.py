"""infra/systemd and infra/kubernetes hold what the service table generates: a unit and a
Deployment (a StatefulSet of instances where the service is partitioned) for every service,
probes on the endpoints a service answers, the NATS chart's values for a 3-node JetStream with
TLS; `systemd-analyze verify` accepts the units."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.deploy import (
    HTTP_PORTS,
    KUBERNETES_DIR,
    MANIFESTS,
    SYSTEMD_DIR,
    VENV,
    port_variable,
    stale_files,
)
from services.registry import SERVICES
from services.runtime.observe import Metrics, serve_http
from services.runtime.partitions import listed_partitions


def objects(kind: str) -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all(MANIFESTS.read_text(encoding="utf-8")))
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    return {**objects("Deployment"), **objects("StatefulSet")}


def container(service: str) -> dict[str, Any]:
    workload = workloads()[f"ketenbus-{service}"]
    return dict(workload["spec"]["template"]["spec"]["containers"][0])


def test_the_committed_deployment_files_are_what_the_service_table_generates() -> None:
    assert [] == stale_files()


def test_every_service_has_a_unit_and_a_deployment_and_the_target_wants_them() -> None:
    units = {p.name for p in SYSTEMD_DIR.glob("ketenbus-*.service")}
    target = (SYSTEMD_DIR / "ketenbus.target").read_text()
    assert {f"ketenbus-{s}.service" for s in SERVICES} | {"ketenbus-declare.service"} == units
    assert all(f"ketenbus-{s}.service" in target for s in SERVICES)
    assert {f"ketenbus-{s}" for s in SERVICES} == set(workloads())


def test_a_partitioned_service_runs_several_instances_named_after_their_pods() -> None:
    partitioned = {s for s in SERVICES if listed_partitions(s)}
    sets = objects("StatefulSet")
    env = {e["name"]: e for e in container("integral-plan")["env"]}
    assert {f"ketenbus-{s}" for s in partitioned} == set(sets)
    assert "integral-plan" in partitioned
    assert 2 == sets["ketenbus-integral-plan"]["spec"]["replicas"]
    assert "2" == env["KETENBUS_INTEGRAL_PLAN_INSTANCES"]["value"]
    assert (
        "metadata.name"
        == (env["KETENBUS_INTEGRAL_PLAN_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"])
    )
    assert all(
        objects("Deployment")[f"ketenbus-{s}"]["spec"]["replicas"] == 1
        for s in set(SERVICES) - partitioned
    )


def test_each_unit_runs_its_service_with_its_http_port() -> None:
    for service in SERVICES:
        unit = (SYSTEMD_DIR / f"ketenbus-{service}.service").read_text()
        assert f"ExecStart={VENV}/bin/ketenbus service {service}\n" in unit
        assert f"Environment={port_variable(service)}={HTTP_PORTS[service]}\n" in unit


def test_each_deployments_probes_name_its_port_and_the_endpoints_of_its_service() -> None:
    for service in SERVICES:
        spec = container(service)
        env = {e["name"]: e.get("value") for e in spec["env"]}
        ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
        probes = {
            kind: (spec[kind]["httpGet"]["path"], ports[spec[kind]["httpGet"]["port"]])
            for kind in ("livenessProbe", "readinessProbe")
        }
        port = HTTP_PORTS[service]
        assert ["service", service] == spec["args"]
        assert str(port) == env[port_variable(service)]
        assert {"livenessProbe": ("/healthz", port), "readinessProbe": ("/readyz", port)} == probes


def test_postgresql_and_the_hsms_pin_come_from_secrets_and_nats_over_tls_with_an_nkey() -> None:
    settings = objects("ConfigMap")["ketenbus-settings"]["data"]
    spec = container("kluis")
    secret = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in spec["env"] if "valueFrom" in e
    }
    assert "ketenbus-postgres" == secret["KETENBUS_POSTGRES_PASSWORD"]
    assert "postgres" == settings["KETENBUS_STORE"]
    assert "3" == settings["KETENBUS_NATS_REPLICAS"]
    assert 3 == len(settings["KETENBUS_NATS_URL"].split(","))
    assert settings["KETENBUS_NATS_TLS_CERT"].startswith("/etc/ketenbus/nats-tls/")
    env = {e["name"]: e.get("value") for e in spec["env"]}
    pseudonym = {e["name"]: e.get("value") for e in container("pseudonym")["env"]}
    assert ("pkcs11", "pkcs11") == (
        env["KETENBUS_KLUIS_MASTER_KEY"],
        pseudonym["KETENBUS_PSEUDONYM_KEY_STORE"],
    )
    assert "ketenbus-hsm" == secret["KETENBUS_PKCS11_PIN"]
    assert "KETENBUS_PKCS11_PIN" not in {e["name"] for e in container("feed")["env"]}
    mounts = {m["mountPath"] for m in spec["volumeMounts"]}
    assert {"/etc/ketenbus/nats-tls", "/etc/ketenbus/nkeys"} <= mounts


def test_the_nats_chart_values_ask_three_jetstream_nodes_with_tls_on_clients_and_routes() -> None:
    values = yaml.safe_load((KUBERNETES_DIR / "nats-values.yaml").read_text(encoding="utf-8"))
    config = values["config"]
    assert (True, 3) == (config["cluster"]["enabled"], config["cluster"]["replicas"])
    assert config["jetstream"]["enabled"] and config["jetstream"]["fileStore"]["enabled"]
    for tls in (config["cluster"]["tls"], config["nats"]["tls"]):
        assert (True, True) == (tls["enabled"], tls["merge"]["verify"])
    assert values["tlsCA"]["enabled"]


async def test_the_probed_paths_are_answered_by_a_service() -> None:
    async def report() -> dict[str, Any]:
        return {"ready": True}

    server = await serve_http("127.0.0.1", 0, report, Metrics({}))
    port = server.sockets[0].getsockname()[1]
    try:
        statuses = {}
        for path in ("/healthz", "/readyz"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            statuses[path] = (await reader.readline()).decode().split()[1]
            writer.close()
    finally:
        server.close()
    assert {"/healthz": "200", "/readyz": "200"} == statuses


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    # Verified with this environment's executables where the units name the installed ones.
    here = Path(sys.executable).parent
    for unit in SYSTEMD_DIR.iterdir():
        text = unit.read_text().replace(f"{VENV}/bin/", f"{here}/")
        (tmp_path / unit.name).write_text(text)
    names = sorted(p.name for p in tmp_path.iterdir())
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (verified.returncode, verified.stderr)


def test_the_documented_check_passes_as_a_user_runs_it() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "services.deploy", "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (0, "") == (checked.returncode, checked.stderr)

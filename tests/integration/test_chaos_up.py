"""Chaos under `ketenbus up` on one node (issue 20 item 4): its embedded nats-server killed.

`ketenbus up` runs as a user runs it (the installed entry point) with the services' stores on
PostgreSQL and the registry's authorization, each service answering /readyz on a port of its
own. A school publishes signed signals through the partner kit at a steady rate (one per
child), reconnecting and publishing again (the same `Nats-Msg-Id`) while the server is away;
a third of the way in the embedded nats-server is killed with SIGKILL. `up` starts it again on
the same port with its streams; the services reconnect. Every signal ends relayed onto
SIGNALLING once and on its child's plan once, every plan equals its rebuild from the streams,
and every service is ready again (/readyz 200) without a hand, waited for within
RECOVERY_BOUND (a deadline that ends a hang, not a timing check); the measured recovery is
printed and recorded as `recovery_seconds` (bench/README.md keeps the figures).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from services.registry import SERVICES
from services.runtime import nats_auth
from services.runtime.nats_auth import SUPERVISOR_USER
from tests.chaos import Run, all_ready
from tests.cluster import free_port
from tests.conftest import postgres_settings
from tests.integration.helpers import SCHOOL, wait_until
from tests.integration.test_up_heals import KETENBUS, NATS, children, replaced
from tests.userenv import user_env

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.postgres]

SIGNALS = 120
RATE = 20.0
RECOVERY_BOUND = 300.0  # a deadline for a loaded machine, not a timing check


def test_the_embedded_nats_server_killed_under_up_mid_flow(
    tmp_path: Path, postgres_schema: str, record_property: Callable[[str, object], None]
) -> None:
    data_dir = tmp_path / "data"
    settings = postgres_settings(data_dir, postgres_schema)
    postgres = {k: v for k, v in settings.to_env().items() if k.startswith("KETENBUS_POSTGRES_")}
    postgres["KETENBUS_STORE"] = "postgres"
    ports = {name: free_port() for name in SERVICES}
    env = user_env() | postgres | {"KETENBUS_AUDIT_WITNESS_INTERVAL": "0"}
    env |= {
        f"KETENBUS_{name.upper().replace('-', '_')}_HTTP_PORT": str(ports[name])
        for name in SERVICES
    }
    up = subprocess.Popen(
        [str(KETENBUS), "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert up.stdout is not None
        started = up.stdout.readline()  # until up is up (or has failed)
        assert started.startswith("ketenbus is up"), started + up.stdout.read()
        url = (data_dir / "nats" / "url").read_text()

        async def ready() -> bool:
            return await all_ready(ports.values())

        async def kill_nats(_: NatsClient) -> None:
            server = children(up.pid)[NATS]
            os.kill(server, signal.SIGKILL)
            await asyncio.to_thread(wait_until, lambda: replaced(up, NATS, server))

        async def partner() -> NatsClient:
            return await nats_auth.partner_connect(
                settings, SCHOOL.partner, url, max_reconnect_attempts=-1
            )

        async def watcher() -> NatsClient:
            return await nats_auth.connect(
                settings, SUPERVISOR_USER, url, max_reconnect_attempts=-1
            )

        run = Run(settings, data_dir, ready, 40_000, SIGNALS, RATE, RECOVERY_BOUND)
        outcome = asyncio.run(run.scenario(partner, watcher, kill_nats))
        assert up.poll() is None, "ketenbus up exited"
        assert url == (data_dir / "nats" / "url").read_text()  # the same port
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(120)  # a bound, not a timing assertion
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    run.check(outcome, record_property)

"""The Notificaties webhook bridge's tasks are watched as a service's are (issue 20): its
consumers and its delivery loop each start again after a failure, its health report shows both
and is not ready while one fails, and one that keeps failing makes the bridge give up
(`ServiceGaveUpError`: `ketenbus notificaties run` exits non-zero, `ketenbus up` starts it
again) instead of running on with a dead delivery loop and answering healthy. `up` starts a
killed bridge again as it does a service, and `ketenbus status` shows its health beside the
services'."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest

from adapters.notificaties.bridge import Bridge
from adapters.notificaties.store import NotificatieStore
from services.runtime.host import health_subject
from services.runtime.settings import Settings
from services.runtime.status import collect_status, format_service
from services.runtime.streams import ensure_streams
from services.runtime.supervisor import BRIDGE
from services.runtime.watch import ServiceGaveUpError
from tests.conftest import StartBackbone
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


def test_a_delivery_loop_that_keeps_failing_makes_the_bridge_give_up_and_says_so_meanwhile(
    tmp_path: Path, nats_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_url, nats_auth="none",
        task_max_failures=4, task_restart_backoff=0.2, task_max_backoff=0.5,
    )  # fmt: skip
    store = NotificatieStore(tmp_path / "notificaties.db")
    bridge = Bridge(store, "https://ketenbus.example")

    async def store_away(client: Any) -> int:
        raise OSError("the bridge's store is away")

    bridge.deliver_due = store_away  # type: ignore[method-assign]

    async def main() -> tuple[dict[str, Any], str]:
        nc = await nats.connect(nats_url)
        await ensure_streams(nc.jetstream())
        running = asyncio.create_task(bridge.run(nc, asyncio.Event(), settings))

        async def failing() -> dict[str, Any] | None:
            assert not running.done(), "the bridge stopped"
            answer = await nc.request(health_subject(BRIDGE), b"", timeout=2)
            report: dict[str, Any] = json.loads(answer.data)
            return report if report["tasks"]["deliveries"]["failures"] else None

        try:
            report = await eventually(failing, "the bridge reports its failing deliveries")
            with pytest.raises(ServiceGaveUpError) as gave_up:
                await asyncio.wait_for(running, 60)  # a bound, not a timing assertion
            return report, str(gave_up.value)
        finally:
            running.cancel()
            await nc.close()

    try:
        report, reason = asyncio.run(main())
    finally:
        store.close()

    assert (False, "OSError", 0) == (
        report["ready"],
        report["tasks"]["deliveries"]["error"],
        report["tasks"]["consumers"]["failures"],
    )
    assert "deliveries failed 4 times in a row (OSError)" == reason


def test_up_starts_a_killed_bridge_again_and_status_shows_it(
    tmp_path: Path, start_backbone: StartBackbone
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", nats_auth="none", notificaties="on", up_max_restarts=1
    )
    backbone = start_backbone(settings, [], processes=True)
    first = backbone.processes[BRIDGE]

    first.kill()
    first.wait()
    backbone.check_once()
    asyncio.run(backbone.wait_until_ready(120))
    report = asyncio.run(collect_status(backbone.url, settings, [BRIDGE]))

    assert (True, "exited", True) == (
        backbone.processes[BRIDGE].pid != first.pid,
        "exited" if first.poll() is not None else "running",
        report["services"][0]["ready"],
    )
    assert format_service(report["services"][0]).split()[:2] == [BRIDGE, "ready"]

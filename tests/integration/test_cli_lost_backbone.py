"""A command whose backbone dies while it waits: one line, exit 1, and no two minutes of
reconnects (a command's connection gives up after a few attempts and fails what still waits).

The test's own nats-server stops the moment the command's request or publish reaches it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import nats
import pytest

from services.runtime.nats_server import EmbeddedNats
from tests.userenv import user_env

pytestmark = pytest.mark.integration

KETENBUS = Path(sys.executable).parent / "ketenbus"
EXAMPLE = Path(__file__).parents[2] / "examples" / "signal-registered.json"
CHILD = "a" * 32


async def _run_while_the_server_dies(tmp_path: Path, *args: str) -> tuple[int, list[str], str]:
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    try:
        watcher = await nats.connect(url, max_reconnect_attempts=1, error_cb=_quiet)

        async def die(_: object) -> None:
            server.stop()

        for subject in ("ketenbus.query.plan", "in.>"):
            await watcher.subscribe(subject, cb=die)
        await watcher.flush()
        env = user_env()
        env |= {"KETENBUS_NATS_URL": url, "KETENBUS_DATA_DIR": str(tmp_path / "data")}
        process = await asyncio.create_subprocess_exec(
            str(KETENBUS),
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # A guard for a hung command, not a measurement.
        out, err = await asyncio.wait_for(process.communicate(), 90)
        await watcher.close()
        return process.returncode or 0, err.decode().strip().splitlines(), out.decode()
    finally:
        server.stop()


async def _quiet(_: Exception) -> None:
    pass


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "show", CHILD, "--as", "bs-de-regenboog"),
        ("publish", "--as", "bs-de-regenboog", str(EXAMPLE)),
    ],
    ids=["plan-show", "publish"],
)
def test_a_command_whose_backbone_dies_mid_command_says_so_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, lines, _ = asyncio.run(_run_while_the_server_dies(tmp_path, *args))

    assert (
        1,
        ["error: no running backbone (or it stopped): start `ketenbus up` and try again"],
    ) == (code, lines)

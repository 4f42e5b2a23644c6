"""The embedded nats-server: JetStream in the data directory, a free port, no orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import nats
import pytest

from services.runtime.nats_server import EmbeddedNats, nats_server_binary
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state in /proc says it is gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_the_binary_comes_from_this_environment_not_the_system() -> None:
    assert Path(sys.executable).parent == nats_server_binary().parent


def test_two_servers_get_different_free_ports_and_keep_jetstream_in_their_directory(
    tmp_path: Path,
) -> None:
    with EmbeddedNats(tmp_path / "a") as one, EmbeddedNats(tmp_path / "b") as two:
        assert one.url != two.url

        async def account_has_jetstream(url: str) -> bool:
            nc = await nats.connect(url)
            try:
                info = await nc.jetstream().account_info()
                return info is not None
            finally:
                await nc.close()

        assert asyncio.run(account_has_jetstream(one.url))
    assert (tmp_path / "a" / "jetstream").is_dir()


def test_stop_ends_the_server(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    server.start()
    assert server.process is not None
    pid = server.process.pid

    server.stop()

    assert not alive(pid)


def test_the_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from services.runtime.nats_server import EmbeddedNats
        server = EmbeddedNats(Path({str(tmp_path)!r}))
        server.start()
        print("PID", server.process.pid, flush=True)
        time.sleep(600)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    assert process.stdout is not None
    line = b""
    while not line.startswith(b"PID "):
        line = process.stdout.readline()
    server_pid = int(line.split()[1])
    assert alive(server_pid)

    process.send_signal(signal.SIGKILL)
    process.wait()

    wait_until(lambda: not alive(server_pid), timeout=15, what="the orphaned nats-server to exit")

"""`ketenbus up` keeps the backbone running: a killed service and a killed nats-server come back.

Issue 20: a SIGKILL of one service made `up` stop everything and exit 0, restarting nothing;
after a SIGKILL of its embedded nats-server the services reconnected for ever to a dead port.
Here `up` runs as a user runs it (the installed entry point), allowed one restart per process
(`KETENBUS_UP_MAX_RESTARTS=1`): the signalling service is killed and comes back (a new process,
answering its health subject), then the nats-server, which comes back on the same port with
its streams, every service answering again and a published signal relayed (`ketenbus status`
shows every service, signalling ready with no outbox lag); signalling killed
a second time makes `up` give up: it names the process and how it ended, stops everything and
exits non-zero.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from services.registry import SERVICES
from services.runtime import nats_auth
from services.runtime.host import health_subject
from services.runtime.nats_auth import SUPERVISOR_USER
from services.runtime.settings import Settings
from services.runtime.streams import SIGNALLING
from tests.events import SCHOOL
from tests.events import signal as signal_event
from tests.integration.helpers import child, eventually, wait_until
from tests.userenv import user_env

pytestmark = pytest.mark.integration

KETENBUS = Path(__file__).parents[2] / ".venv" / "bin" / "ketenbus"
NATS = "nats-server"


def children(pid: int) -> dict[str, int]:
    """The processes `up` (process `pid`) runs, by name: each service's and `nats-server`."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, pids):
            try:
                argv = Path(f"/proc/{kid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if Path(argv[0]).name == NATS:
                found[NATS] = kid
            elif "service" in argv:
                found[argv[argv.index("service") + 1]] = kid
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def replaced(up: subprocess.Popen[str], name: str, old: int) -> int | None:
    """The pid of `name`'s new process, once `up` started it again."""
    assert up.poll() is None, "ketenbus up exited"
    pid = children(up.pid).get(name)
    return pid if pid is not None and pid != old else None


async def every_service_answers(settings: Settings, url: str) -> int:
    """Every service answers its health subject at `url`; the SIGNALLING stream's count."""
    nc = await nats_auth.connect(settings, SUPERVISOR_USER, url)
    try:
        for name in SERVICES:

            async def answers(name: str = name) -> bool:
                await nc.request(health_subject(name), b"", timeout=1)
                return True

            await eventually(answers, f"{name} answers")
        return (await nc.jetstream().stream_info(SIGNALLING.name)).state.messages
    finally:
        await nc.close()


async def relayed(settings: Settings, url: str, count: int) -> None:
    nc = await nats_auth.connect(settings, SUPERVISOR_USER, url)

    async def reached() -> bool:
        return (await nc.jetstream().stream_info(SIGNALLING.name)).state.messages >= count

    try:
        await eventually(reached, f"{count} signals relayed")
    finally:
        await nc.close()


def relayed_in_status(data_dir: Path, env: dict[str, str]) -> list[str] | None:
    """`ketenbus status`'s lines of the services, once signalling's shows it ready with
    nothing left to relay."""
    shown = subprocess.run(
        [str(KETENBUS), "status", "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = shown.split("Services:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    signalling = [line.split() for line in lines if line.split()[0] == "signalling"]
    return lines if signalling[0][1:5] == ["ready", "outbox", "lag", "0"] else None


def test_up_starts_a_killed_service_and_nats_server_again_then_gives_up_past_its_limit(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = user_env()
    env |= {"KETENBUS_UP_MAX_RESTARTS": "1", "KETENBUS_UP_RESTART_WINDOW": "3600"}
    env["KETENBUS_UP_READY_TIMEOUT"] = "600"  # a shared machine: a bound, not a timing check
    event = tmp_path / "signal.json"
    event.write_bytes(signal_event(SCHOOL, child=child(1)).to_bytes())
    settings = Settings(data_dir=data_dir)
    up = subprocess.Popen(
        [str(KETENBUS), "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert up.stdout is not None
        ready = up.stdout.readline()  # until up is up (or has failed)
        assert ready.startswith("ketenbus is up"), ready + up.stdout.read()
        url = (data_dir / "nats" / "url").read_text()
        first = children(up.pid)
        assert {*SERVICES, NATS} == set(first)

        os.kill(first["signalling"], signal.SIGKILL)
        second = wait_until(lambda: replaced(up, "signalling", first["signalling"]))
        asyncio.run(every_service_answers(settings, url))

        os.kill(first[NATS], signal.SIGKILL)
        wait_until(lambda: replaced(up, NATS, first[NATS]))
        before = asyncio.run(every_service_answers(settings, url))  # the same URL: same port
        published = subprocess.run(
            [str(KETENBUS), "publish", "--as", SCHOOL.partner, str(event), "--data-dir",
             str(data_dir)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert 0 == published.returncode, published.stderr
        asyncio.run(relayed(settings, url, before + 1))
        status = wait_until(lambda: relayed_in_status(data_dir, env), what="status: lag 0")
        running = children(up.pid)

        os.kill(second, signal.SIGKILL)
        code = up.wait(120)  # a bound, not a timing assertion
        rest = up.stdout.read()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()

    assert {*SERVICES} == {line.split()[0] for line in status}
    assert 1 == code, rest
    assert "signalling was killed by SIGKILL again after 1 restarts" in rest
    assert [] == [name for name, pid in running.items() if alive(pid)]
    assert (data_dir / "nats" / "url").exists() is False
    assert url == f"nats://127.0.0.1:{url.rsplit(':', 1)[1]}"

"""`ketenbus up` starts every time on a used data dir (issue 15's start-up race).

Every service used to declare every missing durable consumer while each re-created its own
(delete, then add from its stored position): another service's add between the two made the
second fail with err_code 10012 "deliver policy can not be updated", and `up` with it. Now the
supervisor declares the streams and each service only its own consumers (proven without a race
in test_consumers_declared.py).

The race failed `up` in 2 of 4 starts after `ketenbus demo` (issue 15). With it back at that
rate, the six starts here (the first, then five more) all pass once in 64 runs; the fifteen more
starts this test used to make (nine service processes each) bought little more than that.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.events import signal as signal_event
from tests.integration.helpers import SCHOOL, child
from tests.userenv import user_env

pytestmark = pytest.mark.integration

KETENBUS = Path(__file__).parents[2] / ".venv" / "bin" / "ketenbus"
STARTS = 5
READY = b"ketenbus is up"


def start(data_dir: Path) -> subprocess.Popen[bytes]:
    """`ketenbus up`, once it said it is up; fails the test when it exited first."""
    process = subprocess.Popen(
        [str(KETENBUS), "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=user_env(),
    )
    assert process.stdout is not None
    seen: list[bytes] = []
    # `up` waits for every service's health answer (bounded: 60 s) or exits when one failed.
    for line in process.stdout:
        seen.append(line)
        if READY in line:
            return process
    process.wait()
    raise AssertionError(b"".join(seen[-20:]).decode(errors="replace"))


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(120)  # a generous deadline: nine processes stop on a loaded machine
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def publish(data_dir: Path, event: Path) -> int:
    env = user_env()
    return subprocess.run(
        [str(KETENBUS), "publish", "--as", SCHOOL.partner, str(event), "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        check=False,
    ).returncode


def test_up_starts_again_and_again_on_a_used_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    event = tmp_path / "signal.json"
    event.write_bytes(signal_event(SCHOOL, child=child(1)).to_bytes())
    first = start(data_dir)
    published = publish(data_dir, event)  # the consumers now deliver from a stored position
    stop(first)

    started = 0
    for _ in range(STARTS):
        stop(start(data_dir))
        started += 1

    assert (0, STARTS) == (published, started)

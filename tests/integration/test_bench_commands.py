"""`make bench`'s commands, each run as the Makefile runs it (the venv's python, `-m bench.<name>`
from the checkout), at a small size: every one ends with exit code 0 and prints what it is for.

The figures are not checked (speed is measured, not asserted: bench/README.md keeps them); what
is checked is that a user who types `make bench` gets a run, not a traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.userenv import user_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Each bench of `make bench` at a size that runs in seconds, and a line its output must have.
SMALL: dict[str, tuple[list[str], str]] = {
    "slice": (
        ["--events", "200", "--paced-events", "20", "--warmup", "20", "--rate", "50"],
        "throughput slice/raw",
    ),
    "batches": (["--events", "100", "--rounds", "1"], "process_batch CPU per event"),
    "path": (["--signals", "100"], "CPU per signal"),
    "feed": (["--events", "200", "--warmup", "20"], "feed events/s ÷ raw publish_async"),
    "replay": (["--events", "500"], "replay total / raw read"),
    "worklist": (["--plans", "50"], "through the index"),
    "plan_batch": (["--plans", "20"], "per event"),
    "edexml": (["--pupils", "50"], "EDEXML 50 pupils"),
    "pseudonym": (["--requests", "100", "--batch", "50"], "pseudonym: one BSN"),
    "guards": (["--events", "100", "--rounds", "1"], "inbound guards"),
    "kluis": (["--requests", "100", "--decisions", "100"], "decision, relation rules"),
}


def make_bench() -> list[str]:
    """The bench modules the Makefile's `bench` target runs, in its order."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^bench:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert target is not None, "the Makefile has a bench target"
    return re.findall(r"-m bench\.(\w+)", target.group(1))


def test_every_bench_of_make_bench_has_a_small_run_here() -> None:
    assert sorted(SMALL) == sorted(make_bench())


@pytest.mark.parametrize("name", list(SMALL))
def test_a_bench_of_make_bench_runs_and_says_what_it_measured(name: str) -> None:
    args, expected = SMALL[name]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]

"""`ketenbus demo --web` as a newcomer runs it (the installed entry point, a subprocess): the
story, then a local OpenID provider it starts and the web app of the demo's organisations and a
parent, logged in at that provider, until Ctrl-C ends it with exit code 0. Plain `ketenbus demo`
ends (the README's case) and says how to run this.

It listens on the ports the demo's organisations are registered with (the provider on 9400, the
web apps on 8080 to 8083): the only test that does.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.cli.demo_web import SITES, web_instructions
from tests.oidc import available, log_in
from tests.userenv import user_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]

ROOT = Path(__file__).resolve().parents[2]
KETENBUS = Path(sys.executable).parent / "ketenbus"


def test_plain_demo_says_how_to_click_through_the_story(tmp_path: Path) -> None:
    said = web_instructions(tmp_path / "data")

    assert f".venv/bin/ketenbus demo --web --data-dir {tmp_path / 'data'}-web" in said


def test_demo_web_serves_the_story_at_a_local_provider_until_ctrl_c(tmp_path: Path) -> None:
    env = user_env()
    command = [str(KETENBUS), "demo", "--web", "--data-dir", str(tmp_path / "data")]
    demo = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert demo.stdout is not None
        said = []
        for line in demo.stdout:  # until everything listens (or the demo failed)
            said.append(line)
            if line.startswith("Stop with Ctrl-C"):
                break
        out = "".join(said)
        child = re.search(r"Matched pupil: ([a-z2-7]{32})", out)
        assert child is not None and "Stop with Ctrl-C" in out, (out, _rest(demo))
        wijkteam, school = SITES["wijkteam-lingewaard"][0], SITES["bs-de-regenboog"][0]
        assert f"http://127.0.0.1:{wijkteam}/plan/{child[1]}" in out

        with httpx.Client(timeout=60) as http:
            plan = log_in(
                http, f"http://127.0.0.1:{wijkteam}/plan/{child[1]}", "consulent-wijkteam"
            )
        with httpx.Client(timeout=60) as http:
            parents = log_in(http, f"http://127.0.0.1:{school}/ouders", "ouder-demo-0001")
            shared = http.get(f"http://127.0.0.1:{school}/ouders/{child[1]}")

        assert (200, "Ingelogd als Wim Jansen") == (plan.status_code, _who(plan.text))
        assert "Huisbezoek" in plan.text  # the demo's action, opened with the wijkteam's keys
        assert 200 == parents.status_code and f"/ouders/{child[1]}" in parents.text
        assert 200 == shared.status_code and "Sociaal Team Lingewaard" in shared.text
        demo.send_signal(signal.SIGINT)
        assert 0 == demo.wait(180)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(30)
    assert "Traceback" not in (demo.stderr.read() if demo.stderr else "")


def _who(html: str) -> str:
    found = re.search(r"Ingelogd als [^(<]*", html)
    return found[0].strip() if found else ""


def _rest(demo: subprocess.Popen[str]) -> str:
    """What a demo that ended early said on stderr (for the failure's message)."""
    demo.wait(60)
    return demo.stderr.read()[-3000:] if demo.stderr else ""

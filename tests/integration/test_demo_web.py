"""`ketenbus demo --web` as a newcomer runs it (the installed entry point, a subprocess): the
story, then a local OpenID provider it starts and the web app of the demo's organisations, a
parent and the pupil (16 or older: their own account), logged in at that provider, until
Ctrl-C ends it with exit code 0. Plain `ketenbus demo` ends (the README's case) and says how to
run this.

It listens where KETENBUS_DEMO_PROVIDER_PORT and KETENBUS_DEMO_WEB_PORT say (free ports here,
so it runs beside anything on 9400 and 8080 to 8083, the defaults the registry's issuer names).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.cli.demo_web import SITES, DemoWebSettings, web_instructions
from tests.oidc import available, free_port, log_in
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


def test_the_demo_listens_on_the_registered_ports_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = DemoWebSettings()
    monkeypatch.setenv("KETENBUS_DEMO_PROVIDER_PORT", "9500")
    monkeypatch.setenv("KETENBUS_DEMO_WEB_PORT", "8180")
    moved = DemoWebSettings()

    assert (9400, [8080, 8081, 8082, 8083]) == (
        default.provider_port,
        list(default.site_ports().values()),
    )
    assert (9500, 8181, range(8180, 8190)) == (
        moved.provider_port,
        moved.site_ports()["bs-de-regenboog"],
        moved.web_ports(),
    )


def free_run(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1."""
    while True:
        first = free_port()
        if first + count <= 65535 and all(_free(first + i) for i in range(1, count)):
            return first


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_demo_web_serves_the_story_at_a_local_provider_until_ctrl_c(tmp_path: Path) -> None:
    env = user_env()
    where = DemoWebSettings(provider_port=free_port(), web_port=free_run(len(SITES)))
    env["KETENBUS_DEMO_PROVIDER_PORT"] = str(where.provider_port)
    env["KETENBUS_DEMO_WEB_PORT"] = str(where.web_port)
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
        ports = where.site_ports()
        wijkteam, school = ports["wijkteam-lingewaard"], ports["bs-de-regenboog"]
        assert f"http://127.0.0.1:{wijkteam}/plan/{child[1]}" in out

        with httpx.Client(timeout=60) as http:
            plan = log_in(
                http, f"http://127.0.0.1:{wijkteam}/plan/{child[1]}", "consulent-wijkteam"
            )
        with httpx.Client(timeout=60) as http:
            parents = log_in(http, f"http://127.0.0.1:{school}/ouders", "ouder-demo-0001")
            shared = http.get(f"http://127.0.0.1:{school}/ouders/{child[1]}")
        with httpx.Client(timeout=60) as http:
            pupil = log_in(http, f"http://127.0.0.1:{school}/ouders", "leerling-demo-0001")
            own = http.get(f"http://127.0.0.1:{school}/ouders/{child[1]}")

        assert (200, "Ingelogd als Wim Jansen") == (plan.status_code, _who(plan.text))
        assert "Huisbezoek" in plan.text  # the demo's action, opened with the wijkteam's keys
        assert 200 == parents.status_code and f"/ouders/{child[1]}" in parents.text
        assert 200 == shared.status_code and "Sociaal Team Lingewaard" in shared.text
        # The demo's pupil is 16 or older: their own account is linked too, and told "u".
        assert "log in as leerling-demo-0001" in out
        assert 200 == pupil.status_code and f"/ouders/{child[1]}" in pupil.text
        assert 200 == own.status_code and "Wat er over u gedeeld is" in own.text
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

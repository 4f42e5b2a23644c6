"""`ketenbus demo --web`: the demo's story to click through in a browser.

After the story, with the backbone still running: a local OpenID provider (demo/oidc_provider,
npm `oidc-provider` under node, in a checkout after `npm ci`) on 127.0.0.1:9400, the issuer the
demo's organisations have in the partner registry; the school links the demo's parent account
to the child (with consent); and the web app of each demo organisation on a port of its own
(`SITES`), until Ctrl-C or SIGTERM. Plain `ketenbus demo` ends, and says how to run this
(`web_instructions`). The provider's accounts share one password: never for anything real.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from services.runtime.settings import Settings

PROVIDER_PORT = 9400
WEB_PORTS = range(8080, 8090)  # the web app's redirect URIs at the local provider
# Each demo organisation's web app: its port and the account to log in with.
SITES: dict[str, tuple[int, str]] = {
    "wijkteam-lingewaard": (8080, "consulent-wijkteam"),
    "bs-de-regenboog": (8081, "ib-regenboog"),
    "jgz-gelderland-zuid": (8082, "jeugdarts-jgz"),
    "leerplicht-lingewaard": (8083, "lpa-lingewaard"),
}
PARENTS_SITE = "bs-de-regenboog"
READY_SECONDS = 60.0


def clients() -> dict[str, list[str]]:
    """Each registered organisation's client, and the parents', with the web app's callbacks."""
    from services.integral_plan.web_auth import load_functions
    from services.runtime.partners import PartnerRegistry

    found = {
        entry.identity_provider.client_id: [
            f"http://127.0.0.1:{port}/inloggen/terug" for port in WEB_PORTS
        ]
        for entry in PartnerRegistry.load().entries
        if entry.identity_provider is not None
    }
    parents = load_functions().parents.client_id
    found[parents] = [f"http://127.0.0.1:{port}/ouders/inloggen/terug" for port in WEB_PORTS]
    return found


def web_instructions(data_dir: Path) -> str:
    """How to click through the story (plain `ketenbus demo`'s last lines)."""
    return "\n".join(
        [
            "To click through this story in a browser (a checkout after `npm ci`):",
            f"  .venv/bin/ketenbus demo --web --data-dir {data_dir}-web",
            "runs it again, then a local OpenID provider and the web app of the school, the JGZ,",
            "the wijkteam and leerplicht, and a parent's page, until Ctrl-C.",
        ]
    )


def opened(child: str, password: str) -> str:
    """What `demo --web` prints once everything listens: where to log in, as whom."""
    lines = [f"The web app is up (password for every account: {password!r}); open:"]
    for partner, (port, user) in SITES.items():
        lines.append(f"  http://127.0.0.1:{port}/plan/{child}   {partner}, log in as {user}")
    port = SITES[PARENTS_SITE][0]
    lines.append(f"  http://127.0.0.1:{port}/ouders   a parent, log in as ouder-demo-0001")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


def serve(settings: Settings, url: str, child: str) -> None:
    """Link the parent, start the provider and the web apps; until a signal stops them."""
    import uvicorn

    from demo.oidc_provider import PASSWORD, OidcProvider, available
    from demo.story import link_parent
    from services.cli.integral_plan import site_for
    from services.cli.kit import fail
    from services.runtime.nats_auth import credential_source

    if not available():
        fail("the web demo needs node and `npm ci` in the checkout (npm oidc-provider)", code=1)
    credentials = credential_source(settings)
    asyncio.run(link_parent(url, settings.data_dir, child, date.today(), credentials))
    with tempfile.TemporaryDirectory() as tmp:
        provider = OidcProvider.start(Path(tmp), clients(), PROVIDER_PORT)
        servers: list[tuple[Any, threading.Thread]] = []
        try:
            for partner, (port, _) in SITES.items():
                site = site_for(settings, url, partner)
                config = uvicorn.Config(site, host="127.0.0.1", port=port, log_level="warning")
                server = uvicorn.Server(config)
                thread = threading.Thread(target=server.run, daemon=True)
                thread.start()
                servers.append((server, thread))
            _wait_started(servers)
            typer.echo(opened(child, PASSWORD))
            provider.process.wait()  # until Ctrl-C or SIGTERM (or the provider dies)
        finally:
            for server, _ in servers:
                server.should_exit = True
            for _, thread in servers:
                thread.join(10)
            provider.stop()


def _wait_started(servers: list[tuple[Any, threading.Thread]]) -> None:
    """Until every web app listens; a server that stopped (its port taken) stops the demo."""
    deadline = time.monotonic() + READY_SECONDS
    while not all(server.started for server, _ in servers):
        if time.monotonic() > deadline or any(not t.is_alive() for _, t in servers):
            ports = ", ".join(str(port) for port, _ in SITES.values())
            raise RuntimeError(f"the web apps did not start on ports {ports} (in use?)")
        time.sleep(0.1)

"""`ketenbus demo --web`: the demo's story to click through in a browser.

After the story, with the backbone still running: a local OpenID provider (demo/oidc_provider,
npm `oidc-provider` under node, in a checkout after `npm ci`) on 127.0.0.1:9400, the issuer the
demo's organisations have in the partner registry; the school links the demo's parent account
to the child (with consent); and the web app of each demo organisation on a port of its own
(`SITES`, from 8080), until Ctrl-C or SIGTERM. Both ports are settings (`DemoWebSettings`:
KETENBUS_DEMO_PROVIDER_PORT, KETENBUS_DEMO_WEB_PORT). Plain `ketenbus demo` ends, and says how
to run this (`web_instructions`). The provider's accounts share one password: never for
anything real.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from services.integral_plan.web_auth import WebSettings
    from services.runtime.settings import Settings

WEB_PORTS = 10  # redirect URIs at the local provider for this many ports from the first
# Each demo organisation with a web app, in port order, and the account to log in with.
SITES: dict[str, str] = {
    "wijkteam-lingewaard": "consulent-wijkteam",
    "bs-de-regenboog": "ib-regenboog",
    "jgz-gelderland-zuid": "jeugdarts-jgz",
    "leerplicht-lingewaard": "lpa-lingewaard",
}
PARENTS_SITE = "bs-de-regenboog"


class DemoWebSettings(BaseSettings):
    """Where `demo --web` listens (`KETENBUS_DEMO_…`). The defaults are the ports the demo's
    organisations are registered with (issuer http://127.0.0.1:9400); on another provider port
    the web apps take that provider as their issuer instead of the registry's."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_DEMO_", extra="ignore")

    provider_port: int = Field(
        default=9400, ge=1, le=65535, description="The local OpenID provider's port"
    )
    web_port: int = Field(
        default=8080,
        ge=1,
        le=65535 - WEB_PORTS,
        description="The first web app's port: the wijkteam's; the school, the JGZ and "
        "leerplicht take the next three",
    )

    def site_ports(self) -> dict[str, int]:
        """Each demo organisation's web app port, in `SITES` order from `web_port`."""
        return {partner: self.web_port + i for i, partner in enumerate(SITES)}

    def web_ports(self) -> range:
        """The ports the provider registers the web apps' redirect URIs for."""
        return range(self.web_port, self.web_port + WEB_PORTS)


READY_SECONDS = 60.0


def clients(ports: range | None = None) -> dict[str, list[str]]:
    """Each registered organisation's client, and the parents', with the web app's callbacks."""
    from services.integral_plan.web_auth import load_functions
    from services.runtime.partners import PartnerRegistry

    ports = ports if ports is not None else DemoWebSettings().web_ports()
    found = {
        entry.identity_provider.client_id: [
            f"http://127.0.0.1:{port}/inloggen/terug" for port in ports
        ]
        for entry in PartnerRegistry.load().entries
        if entry.identity_provider is not None
    }
    parents = load_functions().parents.client_id
    found[parents] = [f"http://127.0.0.1:{port}/ouders/inloggen/terug" for port in ports]
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


def opened(child: str, password: str, ports: dict[str, int], pupil: bool = False) -> str:
    """What `demo --web` prints once everything listens: where to log in, as whom (`pupil`:
    the pupil's own account was linked, the pupil being 16 or older)."""
    lines = [f"The web app is up (password for every account: {password!r}); open:"]
    for partner, user in SITES.items():
        port = ports[partner]
        lines.append(f"  http://127.0.0.1:{port}/plan/{child}   {partner}, log in as {user}")
    port = ports[PARENTS_SITE]
    lines.append(f"  http://127.0.0.1:{port}/ouders   a parent, log in as ouder-demo-0001")
    if pupil:
        lines.append(
            f"  http://127.0.0.1:{port}/ouders   the pupil (16 or older), log in as "
            "leerling-demo-0001"
        )
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


def serve(settings: Settings, url: str, child: str, born: date | None = None) -> None:
    """Link the parent (and the pupil from 16: `born`), start the provider and the web apps;
    until a signal stops them."""
    from demo.oidc_provider import PASSWORD, OidcProvider, available
    from demo.story import link_parent
    from services.cli.kit import fail
    from services.integral_plan.web_auth import WebSettings
    from services.runtime.nats_auth import credential_source

    if not available():
        fail("the web demo needs node and `npm ci` in the checkout (npm oidc-provider)", code=1)
    credentials = credential_source(settings)
    today = date.today()
    pupil = asyncio.run(link_parent(url, settings.data_dir, child, today, credentials, born))
    where = DemoWebSettings()
    ports = where.site_ports()
    with tempfile.TemporaryDirectory() as tmp:
        provider = OidcProvider.start(Path(tmp), clients(where.web_ports()), where.provider_port)
        # The provider is the issuer (the registry's on the default port, else this one).
        issuer = {"oidc_issuer": provider.issuer, "parents_issuer": provider.issuer}
        web = WebSettings().model_copy(update=issuer)
        try:
            with serving(settings, url, ports, web):
                typer.echo(opened(child, PASSWORD, ports, pupil))
                provider.process.wait()  # until Ctrl-C or SIGTERM (or the provider dies)
        finally:
            provider.stop()


@contextmanager
def serving(
    settings: Settings,
    url: str,
    ports: dict[str, int],
    web: WebSettings,
    stop_seconds: float = 10.0,
) -> Iterator[dict[str, str]]:
    """Each organisation's web app (partner -> port) as `ketenbus web` builds it, on uvicorn
    in a thread, until the block ends; in the block their addresses. Stopping waits at most
    `stop_seconds` for each server."""
    import uvicorn

    from services.cli.integral_plan import site_for

    servers: list[tuple[Any, threading.Thread]] = []
    try:
        for partner, port in ports.items():
            site = site_for(settings, url, partner, web)
            config = uvicorn.Config(site, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            servers.append((server, thread))
        _wait_started(servers, ports)
        yield {partner: f"http://127.0.0.1:{port}" for partner, port in ports.items()}
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, thread in servers:
            thread.join(stop_seconds)


def _wait_started(servers: list[tuple[Any, threading.Thread]], ports: dict[str, int]) -> None:
    """Until every web app listens; one that stopped (its port taken) or is late raises."""
    deadline = time.monotonic() + READY_SECONDS
    while not all(server.started for server, _ in servers):
        if time.monotonic() > deadline or any(not t.is_alive() for _, t in servers):
            taken = ", ".join(str(port) for port in ports.values())
            raise RuntimeError(
                f"the web apps did not start on ports {taken} (in use? KETENBUS_DEMO_WEB_PORT "
                "moves them)"
            )
        time.sleep(0.1)

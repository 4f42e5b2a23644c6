"""A local OpenID provider for trying the web app after `ketenbus demo` (a checkout, after
`npm ci`): npm `oidc-provider` on 127.0.0.1:9400 (KETENBUS_DEMO_PROVIDER_PORT), the issuer the
demo's organisations have in infra/partners.yaml, with a client for each of them and for
parents, and the test accounts.

    .venv/bin/python -m tools.oidc_provider      # until Ctrl-C; prints who can log in

The web app's redirect URIs are registered for ports 8080 to 8089 (`ketenbus web --port`; from
KETENBUS_DEMO_WEB_PORT).
The accounts are the demo's and the tests' (demo/oidc_provider.py): never use this provider for
anything real. `ketenbus demo --web` starts the same provider itself, with the web apps.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

from demo.oidc_provider import ACCOUNTS, PASSWORD, OidcProvider, available
from services.cli.demo_web import DemoWebSettings, clients


def main() -> int:
    if not available():
        print("the local provider needs node and `npm ci` (npm oidc-provider)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        where = DemoWebSettings()
        provider = OidcProvider.start(Path(tmp), clients(where.web_ports()), where.provider_port)
        lines = [f"OpenID provider at {provider.issuer}; log in with password {PASSWORD!r} as:"]
        for user, account in ACCOUNTS.items():
            function = account["claims"].get("functie") or account.get("acr", "")
            lines.append(f"  {user:<22} {function}")
        print("\n".join(lines), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            provider.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            provider.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

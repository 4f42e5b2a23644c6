"""A local OpenID provider for trying the web app after `ketenbus demo` (a checkout, after
`npm ci`): npm `oidc-provider` on 127.0.0.1:9400, the issuer the demo's organisations have in
infra/partners.yaml, with a client for each of them and for parents, and the test accounts.

    .venv/bin/python -m tools.oidc_provider      # until Ctrl-C; prints who can log in

The web app's redirect URIs are registered for ports 8080 to 8089 (`ketenbus web --port`).
The accounts are the tests' (tests/oidc): never use this provider for anything real.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

from services.integral_plan.web_auth import load_functions
from services.runtime.partners import PartnerRegistry
from tests.oidc import ACCOUNTS, PASSWORD, OidcProvider, available

PORT = 9400
WEB_PORTS = range(8080, 8090)


def clients() -> dict[str, list[str]]:
    """Each registered organisation's client, and the parents', with the web app's callbacks."""
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


def main() -> int:
    if not available():
        print("the local provider needs node and `npm ci` (npm oidc-provider)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        provider = OidcProvider.start(Path(tmp), clients(), PORT)
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

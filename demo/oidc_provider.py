"""A local OpenID provider for the demo and the tests: npm `oidc-provider` run by node
(demo/oidc_provider.mjs), in a checkout after `npm ci`. Never for anything real: its accounts
share one password.

`OidcProvider.start` writes its configuration (a fresh RSA signing key, the web apps' clients
with their redirect URIs and where they come back after logout, the accounts) and waits for it
to listen on 127.0.0.1 (a free port, or the one given: the demo's organisations have
http://127.0.0.1:9400 as issuer in the registry). The tests hold the provider's private key, so
they can make a token the provider would sign but that is expired, beside one signed with a key
of their own (forged).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
# node finds the package from the script up: a checkout's node_modules (`npm ci`).
NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules" / "oidc-provider"
SUBSTANTIAL = "urn:nl:digid:substantieel"
BASIC = "urn:nl:digid:basis"
PASSWORD = "correct paard batterij niet"  # noqa: S105 (the demo's and the tests' accounts)

# The accounts: professionals with their function (a claim), and parents with their `acr`.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ib-regenboog": {"claims": {"name": "Ilse Bakker", "functie": "intern-begeleider"}},
    "consulent-wijkteam": {"claims": {"name": "Wim Jansen", "functie": "consulent"}},
    "lpa-lingewaard": {"claims": {"name": "Lotte Peters", "functie": "leerplichtambtenaar"}},
    "admin-wijkteam": {"claims": {"name": "Anna de Vries", "functie": "administratie"}},
    "mentor-wijkteam": {"claims": {"name": "Mo Mentor", "functie": "mentor"}},
    "directeur-swv": {"claims": {"name": "Dirk Directeur", "functie": "directeur"}},
    "jeugdarts-jgz": {"claims": {"name": "Jet de Jong", "functie": "jeugdarts"}},
    # The municipality's policy officer: a holder of doorzettingsmacht in a funding dispute.
    "beleid-gemeente": {"claims": {"name": "Bram Beleid", "functie": "beleidsmedewerker"}},
    "stagiair-wijkteam": {"claims": {"name": "Sam Stagiair", "functie": "stagiair"}},
    "ouder-demo-0001": {"claims": {"name": "Ouder"}, "acr": SUBSTANTIAL},
    "ouder-basis": {"claims": {"name": "Ouder Basis"}, "acr": BASIC},
    # A pupil of 16 or older: their own account (registry role pupil), as a parent logs in.
    "leerling-demo-0001": {"claims": {"name": "Leerling"}, "acr": SUBSTANTIAL},
}


def logged_out(redirect_uris: list[str]) -> list[str]:
    """Where the web apps come back after logging out at the provider: `/uitgelogd` of each
    site a client's redirect URIs name."""
    sites = dict.fromkeys(uri.split("/", 3)[2] for uri in redirect_uris)
    return [f"http://{site}/uitgelogd" for site in sites]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> bool:
    return shutil.which("node") is not None and NODE_MODULES.is_dir()


@dataclass
class OidcProvider:
    issuer: str
    key: RSAKey
    process: subprocess.Popen[str]
    clients: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def start(
        cls, tmp: Path, clients: dict[str, list[str]], port: int | None = None
    ) -> OidcProvider:
        """A provider with `clients` (client id -> redirect URIs) and the test accounts, on
        `port` (a free one by default)."""
        key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig"}, private=True)
        port = port or free_port()
        config = {
            "port": port,
            "jwks": {"keys": [key.as_dict(private=True) | {"alg": "RS256"}]},
            "clients": [
                {
                    "client_id": c,
                    "redirect_uris": uris,
                    "post_logout_redirect_uris": logged_out(uris),
                }
                for c, uris in clients.items()
            ],
            "accounts": {sub: {"password": PASSWORD, **a} for sub, a in ACCOUNTS.items()},
            "acr_values": [SUBSTANTIAL, BASIC],
            "cookie_key": secrets.token_hex(16),
        }
        path = tmp / "oidc-provider.json"
        path.write_text(json.dumps(config))
        process = subprocess.Popen(
            ["node", str(SCRIPT), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        said = []
        for line in process.stdout:  # its warnings (an in-memory store), then `ready`
            if line.startswith("ready "):
                return cls(line.split()[1], key, process, clients)
            said.append(line)
        process.wait(30)
        raise RuntimeError(f"the OpenID provider did not start: {''.join(said)[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def token(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        """An ID token with `claims`, signed with the provider's key (or `key`)."""
        signing = key or self.key
        header = {"alg": "RS256", "kid": signing.kid or "test-1"}
        return jwt.encode(header, claims, signing)

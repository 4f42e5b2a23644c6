"""The OpenID provider for the tests (demo/oidc_provider.py, npm `oidc-provider` under node),
and logging in at it as a browser would."""

from __future__ import annotations

import re
import time

import httpx

from demo.oidc_provider import (
    ACCOUNTS,
    BASIC,
    PASSWORD,
    SUBSTANTIAL,
    OidcProvider,
    available,
    free_port,
)

__all__ = [
    "ACCOUNTS",
    "BASIC",
    "PASSWORD",
    "SUBSTANTIAL",
    "OidcProvider",
    "available",
    "form_value",
    "free_port",
    "log_in",
    "now",
]


def log_in(http: httpx.Client, url: str, user: str, password: str = PASSWORD) -> httpx.Response:
    """Open `url` on the web app as a browser would, log in at the provider's form as `user`;
    the response at the end of the redirects."""
    form = http.get(url, follow_redirects=True)
    if "/interaction/" not in str(form.url):
        return form
    return http.post(
        str(form.url), data={"login": user, "password": password}, follow_redirects=True
    )


def form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the form"
    return match.group(1)


def now() -> int:
    return int(time.time())

"""The web app's headers on every response, its API docs, and where it may listen.

The attacks closed here: framing a page (clickjacking), a script injected into a page, a
browser sniffing a type, a plan's URL leaking in a Referer, a page kept in a shared cache,
Swagger UI loading script from a CDN, and the site served in the clear beyond loopback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.integral_plan.query import PlanAccess
from services.integral_plan.web import create_web_app
from services.integral_plan.web_security import (
    HEADERS,
    HSTS,
    InsecureBindingError,
    check_binding,
)

KETENBUS = Path(sys.executable).parent / "ketenbus"
CHILD = "c" * 32


class EmptyPortal:
    partner = "wijkteam-lingewaard"

    async def plan(self, child: str) -> dict[str, Any] | None:
        return None

    async def worklist(self) -> dict[str, Any]:
        return {"partner": self.partner, "on": "2026-11-24", "items": []}

    async def shared(self, child: str) -> dict[str, Any] | None:
        return None

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        return {"refusal": "invalid-signature"}


async def get_all(tmp_path: Path, paths: list[str], **options: Any) -> list[httpx.Response]:
    site = create_web_app(EmptyPortal(), PlanAccess.load(tmp_path), **options)
    transport = httpx.ASGITransport(app=site)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
        return [await http.get(path) for path in paths]


PATHS = [
    "/",
    "/werklijst",
    f"/plan/{CHILD}",
    f"/ouders/{CHILD}",
    "/plan/not-a-pseudonym",
    "/static/site.css",
    f"/api/plan/{CHILD}",
    "/api/worklist",
    "/no-such-page",
]


async def test_every_response_forbids_framing_sniffing_caching_referrers_and_script(
    tmp_path: Path,
) -> None:
    responses = await get_all(tmp_path, PATHS)

    for response in responses:
        assert HEADERS == {name: response.headers.get(name) for name in HEADERS}, response.url
        assert "Strict-Transport-Security" not in response.headers
    policy = HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy


async def test_behind_tls_the_browser_is_told_to_keep_to_https(tmp_path: Path) -> None:
    responses = await get_all(tmp_path, ["/werklijst", "/static/site.css"], tls=True)

    assert [HSTS, HSTS] == [r.headers.get("Strict-Transport-Security") for r in responses]


async def test_the_api_docs_are_off_unless_asked_and_never_load_swagger_from_elsewhere(
    tmp_path: Path,
) -> None:
    off = await get_all(tmp_path, ["/api/docs", "/docs", "/redoc", "/api/openapi.json"])
    on = await get_all(tmp_path, ["/api/docs", "/api/openapi.json"], api_docs=True)

    assert [404, 404, 404, 404] == [r.status_code for r in off]
    assert [404, 200] == [r.status_code for r in on]
    assert "/api/plan/{child}" in on[1].json()["paths"]


async def test_the_stylesheet_is_served_by_the_app_itself(tmp_path: Path) -> None:
    [css] = await get_all(tmp_path, ["/static/site.css"])

    assert (200, "text/css") == (css.status_code, css.headers["content-type"].split(";")[0])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_is_served_without_tls(host: str) -> None:
    assert None is check_binding(host, tls=False, insecure_http=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "web.example"])
def test_beyond_loopback_plain_http_is_refused(host: str) -> None:
    with pytest.raises(InsecureBindingError):
        check_binding(host, tls=False, insecure_http=False)


def test_beyond_loopback_tls_is_fine_and_plain_http_only_with_a_loud_warning() -> None:
    assert None is check_binding("0.0.0.0", tls=True, insecure_http=False)
    warning = check_binding("0.0.0.0", tls=False, insecure_http=True)
    assert warning is not None and warning.startswith("WARNING")


def test_ketenbus_web_refuses_to_listen_on_every_address_without_tls(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(KETENBUS), "web", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert 2 == result.returncode
    assert "refusing to serve 0.0.0.0 over plain http" in result.stderr
    assert "Traceback" not in result.stderr


def test_ketenbus_web_with_insecure_http_warns_before_anything_else(tmp_path: Path) -> None:
    # No backbone runs: the command then stops, but the warning came first.
    command = ["web", "--host", "0.0.0.0", "--insecure-http", "--data-dir", str(tmp_path)]
    result = subprocess.run(
        [str(KETENBUS), *command],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert 1 == result.returncode
    assert result.stderr.startswith("WARNING: ketenbus web listens on 0.0.0.0 over plain http")


async def test_behind_tls_the_session_cookie_is_secure_and_host_only() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from services.integral_plan.web_auth import ABSOLUTE, IDLE, SessionMiddleware, SessionStore

    async def start(request: Request) -> PlainTextResponse:
        request.session["state"] = "x"
        return PlainTextResponse("ok")

    site = SessionMiddleware(
        Starlette(routes=[Route("/", start)]), store=SessionStore(IDLE, ABSOLUTE), tls=True
    )
    transport = httpx.ASGITransport(app=site)
    async with httpx.AsyncClient(transport=transport, base_url="https://web") as http:
        answer = await http.get("/")

    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-ketenbus-sessie=")
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"} <= set(cookie.split("; "))


@pytest.mark.parametrize(
    "metadata",
    [{}, {"end_session_endpoint": "https://elsewhere.example/logout"}],
    ids=["none offered", "elsewhere"],
)
async def test_logout_goes_on_only_to_the_providers_own_end_session_endpoint(
    metadata: dict[str, Any],
) -> None:
    from services.integral_plan.web_auth import PROFESSIONAL, Login, LoginConfig, WebSettings
    from services.runtime.partners import PartnerRegistry

    settings = WebSettings(oidc_issuer="https://idp.example")
    login = Login(LoginConfig.for_partner(EmptyPortal.partner, PartnerRegistry.load(), settings))
    login.clients[PROFESSIONAL].server_metadata = metadata | {"_loaded_at": 1}

    assert None is await login.end_session(None, PROFESSIONAL, "a.b.c")  # type: ignore[arg-type]

"""What every page of the web app is sent with, and where the web app may listen.

Pages carry personal data: each response says it may not be framed (clickjacking), cached or
sniffed, sends no referrer (a plan's URL names a child's pseudonym), and allows no script at
all and styles only from the app itself (`Content-Security-Policy`, so an injected `<script>`
does not run). Behind TLS the browser is told to keep to https (`Strict-Transport-Security`).

The web app listens on loopback unless it serves TLS itself: beyond loopback without TLS the
login cookie and every page would cross the network in the clear. `check_binding` refuses that,
unless the operator says a TLS proxy is in front (`--insecure-http`), and then warns loudly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """No script at all, styles and images from the app; forms post to the app itself, and to
    `form_targets` (origins): logging out sends the browser on to the identity provider, and a
    browser holds a form's redirects to `form-action` too."""
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            " ".join(["form-action 'self'", *form_targets]),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000"
LOOPBACK_NAMES = {"localhost"}
INSECURE_WARNING = (
    "WARNING: ketenbus web listens on {host} over plain http. Pages with children's data and "
    "the login cookie cross the network unencrypted unless a TLS proxy is in front of it."
)


class InsecureBindingError(ValueError):
    """Listening beyond loopback without TLS (and without the operator saying a proxy has it)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, *, tls: bool, insecure_http: bool) -> str | None:
    """None when listening on `host` is fine; the loud warning when the operator overrode the
    refusal; raises `InsecureBindingError` beyond loopback without TLS."""
    if tls or is_loopback(host):
        return None
    if not insecure_http:
        raise InsecureBindingError(
            f"refusing to serve {host} over plain http: give --tls-cert and --tls-key, or "
            "--insecure-http when a TLS proxy is in front"
        )
    return INSECURE_WARNING.format(host=host)


def security_headers(
    tls: bool, form_targets: tuple[str, ...] = ()
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware setting `HEADERS` (and HSTS behind TLS) on every response; forms may
    also lead to `form_targets` (the identity providers' origins, for logout)."""
    headers = HEADERS | ({"Strict-Transport-Security": HSTS} if tls else {})
    if form_targets:
        headers["Content-Security-Policy"] = content_security_policy(form_targets)

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(headers)
        return response

    return middleware

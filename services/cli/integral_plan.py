"""`ketenbus web`: the plan's web pages and API, for one organisation, on a running backbone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from services.integral_plan.web_auth import WebSettings
    from services.runtime.settings import Settings


class LazyPortal:
    """A NatsPortal connected on first use, in the web server's own event loop, as the
    partner it serves (its NATS user under `KETENBUS_NATS_AUTH=registry`)."""

    def __init__(self, url: str, settings: Settings, partner: str) -> None:
        self.partner = partner
        self._url = url
        self._settings = settings
        self._portal: Any = None

    async def _connected(self) -> Any:
        if self._portal is None:
            from services.integral_plan.portal import NatsPortal
            from services.runtime.nats_auth import partner_connect

            # `web` runs until stopped: it waits out a backbone restart (for ever).
            nc = await partner_connect(
                self._settings, self.partner, self._url, max_reconnect_attempts=-1
            )
            settings, url = self._settings, self._url

            async def connect_as(parent: str) -> Any:
                # A parent's account publishes over its own NATS user (in.<account>.>).
                return await partner_connect(settings, parent, url)

            self._portal = NatsPortal(
                nc, self._settings.data_dir, self.partner, connect_as=connect_as
            )
        return self._portal

    async def plan(self, child: str) -> dict[str, Any] | None:
        return await (await self._connected()).plan(child)  # type: ignore[no-any-return]

    async def worklist(self) -> dict[str, Any]:
        return await (await self._connected()).worklist()  # type: ignore[no-any-return]

    async def shared(self, child: str) -> dict[str, Any] | None:
        return await (await self._connected()).shared(child)  # type: ignore[no-any-return]

    async def pseudonym(self, bsn: str) -> str:
        return await (await self._connected()).pseudonym(bsn)  # type: ignore[no-any-return]

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        return await (await self._connected()).forward(subject, token)  # type: ignore[no-any-return]

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        return await (await self._connected()).parents_view(child, parent)  # type: ignore[no-any-return]

    async def linked_children(self, parent: str) -> list[dict[str, Any]]:
        return await (await self._connected()).linked_children(parent)  # type: ignore[no-any-return]

    async def parents_dossier(self, child: str, parent: str) -> list[dict[str, Any]] | None:
        return await (await self._connected()).parents_dossier(child, parent)  # type: ignore[no-any-return]

    async def seal(self, model: Any, *, child: str, event_id: Any, scope: Any = None) -> Any:
        portal = await self._connected()
        return await portal.seal(model, child=child, event_id=event_id, scope=scope)

    async def publish(self, event: Any) -> None:
        await (await self._connected()).publish(event)

    async def publish_as_parent(self, event: Any, parent: str, wait: float = 0.0) -> Any:
        return await (await self._connected()).publish_as_parent(event, parent, wait)

    async def receipts(self, event_ids: Any, wait: float) -> Any:
        return await (await self._connected()).receipts(event_ids, wait)


def site_for(
    settings: Settings, url: str, partner: str, web: WebSettings | None = None, **options: Any
) -> Any:
    """The web app of `partner` on the backbone at `url`: its people log in at the identity
    provider the registry names (or `web`'s, default from `KETENBUS_WEB_...`), each read a
    processing record in the data dir."""
    from services.integral_plan.query import PlanAccess
    from services.integral_plan.web import create_web_app
    from services.integral_plan.web_auth import LoginConfig, WebSettings
    from services.integral_plan.web_records import FileLog, log_path
    from services.runtime.partners import PartnerRegistry

    login = LoginConfig.for_partner(partner, PartnerRegistry.load(settings.data_dir), web)
    options.setdefault("receipt_wait", (web or WebSettings()).receipt_wait_seconds)
    return create_web_app(
        LazyPortal(url, settings, partner),
        PlanAccess.load(settings.data_dir),
        login=login,
        records=FileLog(log_path(settings.data_dir, partner)),
        **options,
    )


def web(
    as_partner: Annotated[
        str, typer.Option("--as", help="The organisation the pages are for (its keys are used)")
    ] = "wijkteam-lingewaard",
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve https")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key")] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Listen beyond loopback over plain http (only behind a TLS proxy; warned)",
        ),
    ] = False,
    api_docs: Annotated[
        bool, typer.Option("--api-docs", help="Serve the API's OpenAPI document")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where everything is written")
    ] = None,
) -> None:
    """Serve the plan's web pages (werklijst, plan, ouderinzage) and JSON API (needs a running
    `ketenbus up` or KETENBUS_NATS_URL). People log in at the organisation's identity provider
    (the partner registry; KETENBUS_WEB_OIDC_ISSUER for another). Beyond loopback only with
    TLS."""
    import uvicorn

    from services.cli.kit import backbone_url, check_partner, fail, settings_for
    from services.integral_plan.web_auth import NoIdentityProviderError
    from services.integral_plan.web_security import InsecureBindingError, check_binding

    if (tls_cert is None) != (tls_key is None):
        fail("give both --tls-cert and --tls-key, or neither")
    tls = tls_cert is not None
    try:
        warning = check_binding(host, tls=tls, insecure_http=insecure_http)
    except InsecureBindingError as exc:
        fail(str(exc))
    if warning:
        typer.secho(warning, err=True, fg=typer.colors.RED, bold=True)
    settings = settings_for(data_dir, "web")
    check_partner(as_partner)
    try:
        site = site_for(settings, backbone_url(settings), as_partner, tls=tls, api_docs=api_docs)
    except NoIdentityProviderError as exc:
        fail(str(exc))
    scheme = "https" if tls else "http"
    typer.echo(f"ketenbus web for {as_partner}: {scheme}://{host}:{port}/werklijst")
    uvicorn.run(
        site,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )

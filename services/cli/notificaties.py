"""`ketenbus notificaties`: run the webhook bridge; manage subscriptions and failed deliveries."""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli.kit import fail, keeps_tracebacks

app = typer.Typer(
    help="Webhook bridge in the shape of the VNG Notificaties API 1.0.", no_args_is_help=True
)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where everything is written")]


def _settings(data_dir: Path | None) -> Any:
    from services.runtime.settings import Settings

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _store(data_dir: Path | None) -> Any:
    """The bridge's store of subscriptions and deliveries, closed when the block is left."""
    from adapters.notificaties.store import NotificatieStore

    return closing(NotificatieStore(_settings(data_dir).data_dir / "notificaties.db"))


@app.command()
@keeps_tracebacks
def run(
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Where `ketenbus web` serves the API (hoofdObject, resourceUrl); "
            "default KETENBUS_API_BASE_URL"
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Consume the streams and deliver to the subscribed callbacks until Ctrl-C."""
    import asyncio

    from adapters.notificaties.bridge import Bridge
    from services.cli.kit import NoBackboneError
    from services.runtime import nats_auth
    from services.runtime.logging import configure_logging
    from services.runtime.supervisor import discover_nats_url
    from services.runtime.watch import ServiceGaveUpError

    settings = _settings(data_dir)
    configure_logging(settings)
    url = discover_nats_url(settings)
    if url is None:
        raise NoBackboneError()

    async def main() -> None:
        nc = await nats_auth.connect(
            settings, nats_auth.BRIDGE_USER, url, name="notificaties", max_reconnect_attempts=-1
        )
        try:
            typer.echo("notificaties bridge running: delivering until Ctrl-C")
            bridge = Bridge(store, base_url or settings.api_base_url)
            await bridge.run(nc, asyncio.Event(), settings)
        finally:
            await nc.close()

    with _store(data_dir) as store:
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            typer.echo("stopping")
        except ServiceGaveUpError as exc:
            # Logged as `service_gave_up`; non-zero, so `ketenbus up` starts it again.
            fail(f"notificaties bridge gave up: {exc}", code=1)


@app.command()
def abonneer(
    abonnement: Annotated[
        str, typer.Argument(help="The Abonnement as JSON (callbackUrl, auth, kanalen, partner)")
    ],
    data_dir: DataDir = None,
) -> None:
    """Add a subscription; prints its id."""
    from adapters.notificaties.models import Abonnement

    with _store(data_dir) as store:
        typer.echo(store.subscribe(Abonnement.model_validate_json(abonnement), time.time()))


@app.command()
def abonnementen(data_dir: DataDir = None) -> None:
    """List the subscriptions (the Authorization value is not shown)."""
    with _store(data_dir) as store:
        for abonnement_id, abonnement in store.abonnementen().items():
            shown = abonnement.model_dump(mode="json", by_alias=True, exclude={"auth"})
            typer.echo(json.dumps({"id": abonnement_id} | shown))


@app.command()
def fouten(data_dir: DataDir = None) -> None:
    """Deliveries that failed for good, with their last error."""
    with _store(data_dir) as store:
        for row in store.deliveries("failed"):
            typer.echo(json.dumps(row.view()))


@app.command()
def opnieuw(
    delivery: Annotated[
        int | None, typer.Argument(help="One delivery id; all when left out")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Queue failed deliveries again."""
    with _store(data_dir) as store:
        typer.echo(f"{store.retry(time.time(), delivery)} queued again")

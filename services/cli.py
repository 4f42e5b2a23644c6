"""`ketenbus`: one command to run the backbone, a service, the demo, and to look inside."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from services.commands import domain_commands
from services.runtime.logging import configure_logging
from services.runtime.settings import Settings

app = typer.Typer(help="ketenbus: the event backbone around a child.", no_args_is_help=True)
plan_app = typer.Typer(help="The integral plan of a child.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
for _name, _commands in domain_commands():
    app.add_typer(_commands, name=_name)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)"),
]


def _settings(data_dir: Path | None = None) -> Settings:
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    configure_logging(settings)
    return settings


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def up(data_dir: DataDir = None) -> None:
    """Start NATS (embedded unless KETENBUS_NATS_URL) and every service; Ctrl-C stops them."""
    from services.registry import SERVICES
    from services.runtime.supervisor import Backbone

    settings = _settings(data_dir)
    with Backbone(settings, list(SERVICES)) as backbone:
        typer.echo(f"ketenbus is up: NATS at {backbone.url}, data in {settings.data_dir}")
        try:
            backbone.wait()
        except KeyboardInterrupt:
            typer.echo("stopping")


@app.command()
def service(name: str, data_dir: DataDir = None) -> None:
    """Run one service in this process (needs KETENBUS_NATS_URL, or a running `ketenbus up`)."""
    from services.audit.verify import witness_running_service
    from services.registry import SERVICES
    from services.runtime.host import run_service
    from services.runtime.supervisor import discover_nats_url

    if name not in SERVICES:
        _fail(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    settings = _settings(data_dir)
    url = discover_nats_url(settings)
    if url is None:
        _fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`")
    settings = settings.model_copy(update={"nats_url": url})
    asyncio.run(run_service(SERVICES[name](), settings, witness=witness_running_service))


@app.command()
def demo(data_dir: DataDir = None) -> None:
    """Run the scripted story end to end and print the child's integral plan (README: demo)."""
    from services.arrangements.scenario import format_scenario
    from services.demo import format_plan, format_story, run_scenario
    from services.registry import SERVICES
    from services.runtime.supervisor import Backbone

    settings = _settings(data_dir)
    with Backbone(settings, list(SERVICES)) as backbone:
        typer.echo(f"NATS at {backbone.url}; services: {', '.join(SERVICES)}")
        typer.echo(
            "The school imports its pupils (EDEXML); school, childcare and JGZ signal; the "
            "parties build a plan; a po-vo handover, an arrangement and absences follow..."
        )
        story = asyncio.run(run_scenario(backbone.url, settings.data_dir, settings=settings))
    typer.echo("")
    typer.echo(format_story(story))
    typer.echo("")
    typer.echo(format_scenario(story.arrangement))
    _show_signalling(settings, story.child)
    for view in story.views:
        typer.echo("")
        typer.echo(format_plan(view))


def _show_signalling(settings: Settings, child: str) -> None:
    """The match as signalling holds it (coordinator, contact status)."""
    from services.signalling.bootstrap import create_application
    from services.signalling.cli import format_signals, signals_view

    application = create_application(settings)
    try:
        typer.echo("")
        typer.echo(format_signals(signals_view(application, child)))
    finally:
        application.close()


DEMO_READER = "bs-de-regenboog"


@plan_app.command("show")
def plan_show(
    pseudonym: str,
    as_partner: Annotated[
        str,
        typer.Option(
            "--as",
            help="Ask as this partner (a signed query) and open what it may with its keys; "
            f"default the demo's school, {DEMO_READER}",
        ),
    ] = DEMO_READER,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Show a child's plan as PARTNER sees it (running plan service), or else from its store."""
    from services.demo import format_plan
    from services.integral_plan.application import UnknownPlanError
    from services.integral_plan.bootstrap import create_application
    from services.integral_plan.client import query_plan
    from services.integral_plan.reader import open_plan
    from services.runtime.keyring import Keyring
    from services.runtime.nats_auth import partner_connect
    from services.runtime.supervisor import discover_nats_url

    settings = _settings(data_dir)
    url = discover_nats_url(settings)
    plan: dict[str, Any] | None
    if url is not None:

        async def ask() -> dict[str, Any] | None:
            nc = await partner_connect(settings, as_partner, str(url))
            try:
                keyring = Keyring.for_partner(settings.data_dir, as_partner, nc)
                found = await query_plan(nc, pseudonym, keyring.keys)
                return None if found is None else await open_plan(found, keyring)
            finally:
                await nc.close()

        plan = asyncio.run(ask())
    else:
        # No backbone running: the operator reads the plan's own store, every section sealed.
        application = create_application(settings)
        try:
            plan = application.plan_of(pseudonym)
        except UnknownPlanError:
            plan = None
        finally:
            application.close()
    if plan is None:
        _fail("no plan for this pseudonym", code=1)
        return
    typer.echo(json.dumps(plan, indent=2) if as_json else format_plan(plan))


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON envelope")],
    as_partner: Annotated[str, typer.Option("--as", help="The publishing partner id")],
    data_dir: DataDir = None,
) -> None:
    """Publish an inbound event from a file, as PARTNER (validated first).

    An unsigned file is signed on the partner's behalf when its keys are in the data dir (a demo
    partner, `keys: data-dir` in infra/partners.yaml); any other partner signs its own events.
    """
    from services.runtime.deadletter import kluis_sealer
    from services.runtime.ingress import IngressRefusedError, publish_inbound
    from services.runtime.partner import sign_on_behalf
    from services.runtime.supervisor import discover_nats_url

    settings = _settings(data_dir)
    url = discover_nats_url(settings)
    if url is None:
        _fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`")
        return
    try:
        seal = kluis_sealer(settings.data_dir)
        raw = sign_on_behalf(file.read_bytes(), as_partner, settings.data_dir)
        subject = asyncio.run(publish_inbound(url, as_partner, raw, seal, settings))
    except IngressRefusedError as exc:
        hint = (
            f"; {as_partner}'s signing key is not in this data dir (only demo partners', "
            "`keys: data-dir`, are): the partner signs the envelope itself (`ketenbussig`, "
            "see ketenbus_contracts.signing)"
            if exc.code == "missing-signature"
            else ""
        )
        _fail(f"refused: {exc}{hint} (dead-lettered on ketenbus.deadletter.ingress)")
        return
    typer.echo(f"published on {subject}")


@app.command()
def erase(
    pseudonym: str,
    data_dir: DataDir = None,
) -> None:
    """Erase a child: destroy its data keys (nothing sealed about it opens again), and tell
    every service to drop what it derived."""
    from services.kluis.erasure import announce_erasure, destroy_keys
    from services.runtime.supervisor import discover_nats_url

    settings = _settings(data_dir)
    deleted = destroy_keys(settings, pseudonym)
    typer.echo(f"destroyed {deleted} data key(s)")
    url = discover_nats_url(settings)
    if url is None:
        _fail(
            "keys destroyed, but no NATS to announce child-erased on: start `ketenbus up` and "
            "run erase again (it is idempotent)"
        )
        return
    event = asyncio.run(announce_erasure(url, pseudonym, settings=settings))
    typer.echo(f"announced child-erased ({event.id})")


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Streams, consumers and their lag, and dead letters: what an operator looks at first."""
    from services.runtime.status import collect_status, format_status
    from services.runtime.supervisor import discover_nats_url

    settings = _settings(data_dir)
    url = discover_nats_url(settings)
    embedded = None
    if url is None:
        from services.runtime.nats_server import EmbeddedNats

        # Nothing running: open this data directory's JetStream store read-only-ish to report.
        embedded = EmbeddedNats(settings.nats_dir)
        url = embedded.start()
    try:
        report = asyncio.run(collect_status(url, settings))
    finally:
        if embedded is not None:
            embedded.stop()
    typer.echo(format_status(report))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

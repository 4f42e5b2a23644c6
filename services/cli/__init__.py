"""`ketenbus`: one command to run the backbone, a service, the demo, and to look inside."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from services.cli.commands import domain_commands, single_commands
from services.cli.kit import (
    BadInputError,
    CommandFailedError,
    DataDir,
    backbone_url,
    check_partner,
    check_pseudonym,
    echo_safe,
    fail,
    guard,
    keeps_tracebacks,
    run,
    settings_for,
)
from services.runtime.logging import configure_logging
from services.runtime.settings import Settings

app = typer.Typer(no_args_is_help=True)
plan_app = typer.Typer(help="The integral plan of a child.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
for _name, _commands in domain_commands():
    app.add_typer(_commands, name=_name)
for _name, _command in single_commands():
    app.command(_name)(_command)


class StopRequestedError(Exception):
    """SIGTERM or SIGINT arrived: stop everything that was started, then exit."""


@contextmanager
def stopped_by_signals(exit_code: int = 0) -> Iterator[None]:
    """SIGTERM (systemd, container runtimes) and SIGINT (Ctrl-C, also for a background job,
    which starts with SIGINT ignored) both stop the backbone the same orderly way: the `with
    Backbone` block unwinds, stopping services and NATS and removing `<data dir>/nats/url`."""

    def stop(signum: int, _: FrameType | None) -> None:
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, signal.SIG_IGN)  # a second signal must not cut the stop short
        raise StopRequestedError(signal.Signals(signum).name)

    previous = {name: signal.signal(name, stop) for name in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except StopRequestedError as exc:
        typer.echo(f"stopped ({exc})")
        raise typer.Exit(exit_code) from None
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


@app.command()
def up(data_dir: DataDir = None) -> None:
    """Start NATS (embedded unless KETENBUS_NATS_URL) and every service, until Ctrl-C or
    SIGTERM; a process that exits is started again (the embedded server on its port), up to
    KETENBUS_UP_MAX_RESTARTS times within KETENBUS_UP_RESTART_WINDOW seconds, then `up` stops
    everything and exits non-zero."""
    from services.registry import SERVICES
    from services.runtime.supervisor import Backbone

    settings = settings_for(data_dir, "up")
    with stopped_by_signals(), Backbone(settings, list(SERVICES)) as backbone:
        typer.echo(f"ketenbus is up: NATS at {backbone.url}, data in {settings.data_dir}")
        sys.stdout.flush()
        backbone.wait()


@app.command()
def declare(data_dir: DataDir = None) -> None:
    """Declare the streams, object stores and partners' consumers on KETENBUS_NATS_URL (or a
    running `up`'s server), as `up` does before it starts the services: once per deployment on
    a cluster (systemd's ketenbus-declare.service, Kubernetes' ketenbus-declare Job), as the
    `backbone` user."""
    from services.runtime.supervisor import declare as declare_streams

    settings = settings_for(data_dir)
    url = backbone_url(settings)
    asyncio.run(declare_streams(settings, url))
    typer.echo(f"declared the streams (replicas {settings.nats_replicas})")


@app.command()
@keeps_tracebacks
def service(name: str, data_dir: DataDir = None) -> None:
    """Run one service in this process (needs KETENBUS_NATS_URL, or a running `ketenbus up`)."""
    from services.audit.verify import witness_running_service
    from services.registry import SERVICES
    from services.runtime.host import run_service, tune_garbage_collector
    from services.runtime.leases import AnotherInstanceError
    from services.runtime.partitions import NotPartitionedError
    from services.runtime.signers import SignerKeyMismatchError
    from services.runtime.supervisor import discover_nats_url
    from services.runtime.watch import ServiceGaveUpError

    if name not in SERVICES:
        fail(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    # A service logs to stderr: the supervisor writes it to <data dir>/logs/<service>.log.
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    configure_logging(settings)
    url = discover_nats_url(settings)
    if url is None:
        fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`", code=1)
    settings = settings.model_copy(update={"nats_url": url})
    tune_garbage_collector(settings)
    try:
        asyncio.run(run_service(SERVICES[name](), settings, witness=witness_running_service))
    except ServiceGaveUpError as exc:
        # Logged as `service_gave_up`; non-zero, so its supervisor starts it again.
        fail(f"service {name} gave up: {exc}", code=1)
    except (AnotherInstanceError, NotPartitionedError, SignerKeyMismatchError) as exc:
        # A second instance of a service on one instance, or more of one that cannot be; a
        # signer whose key pair is not the one the backbone knows it by.
        fail(str(exc), code=1)


@app.command()
def demo(
    data_dir: DataDir = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web",
            help="Then keep the backbone running with a local OpenID provider and the web app "
            "of the demo's organisations and a parent, until Ctrl-C (a checkout after npm ci)",
        ),
    ] = False,
) -> None:
    """Run the scripted story end to end and print the child's integral plan (README: demo)."""
    from demo.story import run_scenario
    from services.cli import demo_web
    from services.registry import SERVICES
    from services.runtime.nats_auth import credential_source
    from services.runtime.supervisor import Backbone

    # The story is the output: its log lines go to <data dir>/logs/demo.log.
    settings = settings_for(data_dir, "demo")
    configure_logging(settings, log_file="demo")
    with stopped_by_signals(exit_code=1), Backbone(settings, list(SERVICES)) as backbone:
        typer.echo(f"NATS at {backbone.url}; services: {', '.join(SERVICES)}")
        typer.echo(
            "The school imports its pupils (EDEXML); school, childcare and JGZ signal; the "
            "parties build a plan; a po-vo handover, an arrangement and absences follow..."
        )
        story = asyncio.run(
            run_scenario(backbone.url, settings.data_dir, credentials=credential_source(settings))
        )
        if web:
            _show_story(settings, story)
            typer.echo("")
            with stopped_by_signals(exit_code=0):
                demo_web.serve(settings, backbone.url, story.child, story.born)
            return
    _show_story(settings, story)
    typer.echo("")
    echo_safe(demo_web.web_instructions(settings.data_dir))


def _show_story(settings: Settings, story: Any) -> None:
    """The story, the arrangement, the match and the plan as each reader sees it."""
    from demo.arrangements import format_scenario
    from demo.story import format_story
    from services.integral_plan.present import format_plan

    typer.echo("")
    echo_safe(format_story(story))
    typer.echo("")
    echo_safe(format_scenario(story.arrangement))
    _show_signalling(settings, story.child)
    for view in story.views:
        typer.echo("")
        echo_safe(format_plan(view))


def _show_signalling(settings: Settings, child: str) -> None:
    """The match as signalling holds it (coordinator, contact status)."""
    from services.cli.signalling import format_signals, signals_view
    from services.signalling.bootstrap import create_application

    with closing(create_application(settings)) as application:
        typer.echo("")
        echo_safe(format_signals(signals_view(application, child)))


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
    from ketenbus_partner.keyring import Keyring
    from ketenbus_partner.plan import open_plan, query_plan
    from services.integral_plan.application import UnknownPlanError
    from services.integral_plan.bootstrap import create_application
    from services.integral_plan.present import format_plan
    from services.runtime.nats_auth import partner_connect
    from services.runtime.supervisor import discover_nats_url

    check_pseudonym(pseudonym)
    check_partner(as_partner)
    settings = settings_for(data_dir)
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
        fail("no plan for this pseudonym", code=1)
    if as_json:
        typer.echo(json.dumps(plan, indent=2))  # JSON escapes control characters itself
    else:
        echo_safe(format_plan(plan))


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="The event: a JSON envelope (examples/)")],
    as_partner: Annotated[str, typer.Option("--as", help="The publishing partner id")],
    data_dir: DataDir = None,
) -> None:
    """Publish an inbound event from a file, as PARTNER (validated first).

    An unsigned file is signed on the partner's behalf when its keys are in the data dir (a demo
    partner, `keys: data-dir` in infra/partners.yaml); any other partner signs its own events.
    Publishing the same event (same id) again is reported as a duplicate: JetStream drops it.
    """
    from services.runtime.ingress import IngressRefusedError, publish_inbound
    from services.runtime.partner import sign_on_behalf

    settings = settings_for(data_dir)
    raw = read_event_file(file, settings)
    url = backbone_url(settings)
    try:
        signed = sign_on_behalf(raw, as_partner, settings.data_dir)
        # A refused event's original is sealed to kluis's key as the backbone shares it.
        published = asyncio.run(publish_inbound(url, as_partner, signed, None, settings))
    except IngressRefusedError as exc:
        hint = (
            f"; {as_partner}'s signing key is not in this data dir (only demo partners', "
            "`keys: data-dir`, are): the partner signs the envelope itself (`ketenbussig`, "
            "see ketenbus_contracts.signing)"
            if exc.code == "missing-signature"
            else ""
        )
        raise BadInputError(
            f"refused: {exc}{hint} (dead-lettered on ketenbus.deadletter.ingress)"
        ) from exc
    if published.duplicate:
        typer.echo(f"duplicate: this event was published before on {published.subject}; dropped")
    else:
        typer.echo(f"published on {published.subject}")


def read_event_file(file: Path, settings: Settings) -> bytes:
    """The event file's bytes; a file larger or nested deeper than an inbound event may be
    (`KETENBUS_INBOUND_MAX_BYTES`, `KETENBUS_INBOUND_MAX_DEPTH`, as the services admit) is
    refused before it is read whole or parsed."""
    from ketenbus_contracts.envelope import EventTooDeepError, check_depth
    from services.runtime.inbound import Limits

    limits = Limits.of(settings)
    if not file.is_file():
        raise BadInputError(f"{file}: no such file")
    size = file.stat().st_size
    if size > limits.max_bytes:
        raise BadInputError(
            f"too-large: the file is {size} bytes, an event at most {limits.max_bytes} "
            "(KETENBUS_INBOUND_MAX_BYTES)"
        )
    raw = file.read_bytes()
    try:
        check_depth(raw, limits.max_depth)
    except EventTooDeepError as exc:
        raise BadInputError(f"too-deep: {exc}") from exc
    return raw


@app.command()
def erase(
    pseudonym: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (for scripts)")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a child: destroy its data keys (nothing sealed about it opens again), and tell
    every service to drop what it derived. Asks first unless --yes."""
    from services.kluis.bootstrap import create_application
    from services.kluis.erasure import announce_erasure, destroy_keys, known_child

    check_pseudonym(pseudonym)
    settings = settings_for(data_dir)
    with closing(create_application(settings)) as kluis:
        known = known_child(kluis, pseudonym)
    if not known:
        raise CommandFailedError("no such child: kluis holds no keys and no erasure for it")
    if not yes:
        if not sys.stdin.isatty():
            raise BadInputError("erase cannot be undone: confirm with --yes")
        typer.confirm(f"Erase child {pseudonym}? Nothing sealed about it opens again", abort=True)
    deleted = destroy_keys(settings, pseudonym)
    typer.echo(f"destroyed {deleted} data key(s)")
    from services.runtime.supervisor import discover_nats_url

    url = discover_nats_url(settings)
    if url is None:
        raise CommandFailedError(
            "keys destroyed, but no running backbone to announce child-erased on: start "
            "`ketenbus up` and run erase again (it is idempotent)"
        )
    event = asyncio.run(announce_erasure(url, pseudonym, settings=settings))
    typer.echo(f"announced child-erased ({event.id})")


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Streams, consumers and their lag, each service's outbox lag and failing tasks, and dead
    letters: what an operator looks at first."""
    from services.registry import SERVICES
    from services.runtime.status import collect_status, format_status
    from services.runtime.supervisor import BRIDGE, discover_nats_url

    settings = settings_for(data_dir)
    url = discover_nats_url(settings)
    embedded = None
    if url is None:
        from services.runtime.nats_server import EmbeddedNats

        # Nothing running: open this data directory's JetStream store read-only-ish to report.
        embedded = EmbeddedNats(settings.nats_dir)
        url = embedded.start()
    try:
        # The services answer only while the backbone runs (not from a store opened here);
        # the webhook bridge too where `up` runs it.
        bridge = [BRIDGE] if settings.notificaties == "on" else []
        services = [*SERVICES, *bridge] if embedded is None else []
        report = asyncio.run(collect_status(url, settings, services))
    finally:
        if embedded is not None:
            embedded.stop()
    typer.echo(format_status(report))


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error (anywhere)")
    ] = False,
) -> None:
    """ketenbus: the event backbone around a child."""


guard(app)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()

"""`ketenbus audit …`: the auditor's commands (verify, replay, export-ldv, nats-config)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from services.cli.kit import fail, settings_for

app = typer.Typer(
    help="Audit: verify stores, replay history, export the processing log.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)"),
]


@app.command()
def verify(
    service: Annotated[list[str] | None, typer.Option("--service", help="Only these")] = None,
    strict: Annotated[bool, typer.Option(help="Missing (erased) rows fail too")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check every service's stored events (and kluis's processing and erasure records) against
    the witnessed hash chains; sign a checkpoint.

    Exits 1 naming the service, what the row is and its id when a stored row changed.
    """
    from services.audit.verify import verify_stores

    settings = settings_for(data_dir)
    failed = False
    for report in verify_stores(settings, service or None):
        problems = report.failed(strict=strict)
        status = "FAILED" if problems else "ok"
        what = "" if report.place == "notification" else f" {report.place}s"
        typer.echo(
            f"{report.service}{what}: {status} ({report.checked} stored rows checked, "
            f"{report.appended} newly witnessed, chain head at {report.head})"
        )
        for finding in report.findings:
            typer.echo(f"  {finding}")
        failed = failed or bool(problems)
    if failed:
        raise typer.Exit(1)


@app.command()
def replay(
    out: Annotated[Path, typer.Option("--out", help="Report file (writes .json and .md)")],
    until: Annotated[
        datetime | None, typer.Option(help="As of this moment (ISO 8601; UTC unless given)")
    ] = None,
    child: Annotated[str | None, typer.Option(help="Only this child's pseudonym")] = None,
    nats_url: Annotated[str | None, typer.Option("--nats-url")] = None,
    data_dir: DataDir = None,
) -> None:
    """Replay the streams up to UNTIL, rebuild the plan and list key releases and refusals."""
    from services.audit.replay import replay as run_replay
    from services.audit.replay import write_report
    from services.runtime.supervisor import discover_nats_url

    settings = settings_for(data_dir)
    url = nats_url or discover_nats_url(settings)
    if url is None:
        fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`")
        return
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    bars: list[object] = []

    def progress(total: int) -> object:
        bar = typer.progressbar(length=total, label="replaying", file=None)
        bar.__enter__()
        bars.append(bar)
        return bar.update

    try:
        result = run_replay(settings, url, until=until, child=child, progress=progress)  # type: ignore[arg-type]
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)  # type: ignore[attr-defined]
    json_path, md_path = write_report(result, out)
    typer.echo(
        f"{result.counted} events up to {until.isoformat() if until else 'now'}, "
        f"{len(result.plans)} plans, {len(result.key_log)} processing records; "
        f"forged: {len(result.forged)}; report: {json_path}, {md_path}"
    )


@app.command("export-ldv")
def export_ldv(
    out: Annotated[Path, typer.Option("--out", help="The LDV JSON file to write")],
    child: Annotated[str | None, typer.Option(help="Only this child's pseudonym")] = None,
    register_base: Annotated[
        str | None, typer.Option(help="Base URI of the processing register")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export the processing log in the Logboek Dataverwerkingen shape: kluis's key decisions
    and the web app's reads, each naming the person who read."""
    from adapters.ldv.export import ldv_export, write_ldv_export
    from services.integral_plan.web_records import read_spans
    from services.kluis.keystore import Keystore
    from services.policy.loading import load_register

    settings = settings_for(data_dir)
    keystore = Keystore.open(settings)
    try:
        records = keystore.records(data_subject=child, limit=10**9)
    finally:
        keystore.close()
    export = ldv_export(
        [r.as_ldv() for r in records] + list(read_spans(settings.data_dir, child)),
        controller=load_register().controller,
        register_base=register_base,
        exported_at=datetime.now(UTC),
    )
    write_ldv_export(out, export)
    typer.echo(f"{export['count']} processing records written to {out}")


@app.command("nats-config")
def nats_config(
    out: Annotated[Path | None, typer.Option("--out", help="Default: infra/nats/auth.conf")] = None,
    check: Annotated[bool, typer.Option(help="Fail if the file differs (CI drift check)")] = False,
    nkeys: Annotated[
        Path | None,
        typer.Option(
            "--nkeys",
            help="YAML map of NATS user to public user NKEY (U…): those users get an NKEY, "
            "not a password (a cluster's services and supervisor)",
        ),
    ] = None,
) -> None:
    """Generate nats-server users and publish/subscribe allow-lists from the registry."""
    import yaml

    from services.registry import service_specs
    from services.runtime.nats_auth import AUTH_CONF_PATH
    from services.runtime.nats_permissions import render_auth_config

    target = out or AUTH_CONF_PATH
    given = yaml.safe_load(nkeys.read_text(encoding="utf-8")) if nkeys else None
    text = render_auth_config(service_specs(), nkeys=given)
    if check:
        if not target.exists() or target.read_text() != text:
            fail(
                f"{target} is not what the registry generates; run `ketenbus audit nats-config`", 1
            )
        typer.echo(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target}")

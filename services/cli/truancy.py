"""`ketenbus truancy …`: the EDEXML and absence-CSV imports, as a school.

Exit codes: 0 the file was processed (quarantined records are named in the summary), 2 the file
was refused (schema, `--strict`, another school's, a DTD, too large) or the school is unknown, 1
there is no running backbone or a service refused. Every refusal is one line naming the field and
the rule, never a value. `ketenbus import edexml|absences` are these commands.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.cli.kit import NoBackboneError, fail

app = typer.Typer(help="Truancy: enrolments and absences in.", no_args_is_help=True)

File = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The export file")]
Partner = Annotated[str, typer.Option("--as", help="The school (partner id) the file is from")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="KETENBUS_DATA_DIR")]


def _progress(done: int, total: int) -> None:
    typer.echo(f"  … {done}" + (f"/{total}" if total else ""), err=True)


def _context(data_dir: Path | None, school: str):  # type: ignore[no-untyped-def]
    from services.policy.regions import load_regions, school_region
    from services.runtime.logging import configure_logging
    from services.runtime.settings import Settings
    from services.runtime.supervisor import discover_nats_url

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    configure_logging(settings)
    rules = school_region(load_regions(), school)
    if rules is None:
        fail(f"school {school} is in no region's infra/truancy/*.yaml", 2)
    return settings, rules, discover_nats_url(settings)


@app.command("import-edexml")
def import_edexml(
    file: File,
    as_partner: Partner,
    strict: Annotated[bool, typer.Option(help="Refuse the file if any record fails")] = False,
    data_dir: DataDir = None,
) -> None:
    """Import a school's EDEXML export (2.0/2.1): enrolments and de-enrolments since the last."""
    from adapters.edexml.importer import (
        failing_records,
        load_previous,
        plan_import,
        pseudonyms_needed,
        save_state,
        strict_refusal,
        summary,
    )
    from adapters.edexml.reader import read_header
    from adapters.edexml.schema import EdexmlSchemaError, validate
    from adapters.intake import ImportRefusedError, check_school
    from adapters.school_imports import publish_edexml
    from ketenbus_partner.pseudonyms import PseudonymClientError, PseudonymRefusedError
    from services.runtime.nats_auth import partner_credentials
    from services.runtime.partner import resolve_as

    settings, rules, url = _context(data_dir, as_partner)
    try:
        version, tree = validate(file)
        brin = read_header(tree.getroot()).brin
        check_school(brin, as_partner, what=file.name)  # before connecting, before anything
        failing = failing_records(tree.getroot()) if strict else []
        if failing:
            raise strict_refusal(failing)
        previous = load_previous(settings.data_dir, as_partner, brin)
        if url is None:
            raise NoBackboneError()
        # One batch request for the whole file: the pseudonym service holds the secret.
        asked = pseudonyms_needed(tree.getroot())
        pseudonyms = asyncio.run(resolve_as(settings, url, as_partner, asked))
        plan = plan_import(
            file,
            pseudonyms,
            previous,
            strict=strict,
            progress=lambda n: _progress(n, 0),
            validated=(version, tree),
        )
    except PseudonymRefusedError as exc:
        fail(f"refused by the pseudonym service: {exc.code}", 1)
        return
    except PseudonymClientError as exc:
        fail(f"no pseudonyms: {exc}", 2)
        return
    except EdexmlSchemaError as exc:
        fail(f"refused: {file.name} is not valid EDEXML: {exc}")
        return
    except ImportRefusedError as exc:  # --strict included
        fail(f"refused: {exc}", 2)
        return
    result = asyncio.run(
        publish_edexml(
            url,
            settings.data_dir,
            as_partner,
            rules,
            plan,
            _progress,
            credentials=partner_credentials(settings, as_partner),
        )
    )
    save_state(settings.data_dir, as_partner, plan)
    for line in summary(plan):
        typer.echo(line)
    typer.echo(f"published {result.published} event(s)")
    for pupil_key, code in result.refused:
        typer.echo(f"  not enrolled: pupil key {pupil_key}: kluis refused its identity ({code})")
    if result.refused:
        fail(f"kluis refused {len(result.refused)} enrolment(s); the next import tries again", 1)


@app.command("import-absences")
def import_absences(file: File, as_partner: Partner, data_dir: DataDir = None) -> None:
    """Import lesson-level absences from a CSV (adapters/las_csv/README.md)."""
    import json

    from adapters.edexml.importer import state_path
    from adapters.intake import ImportRefusedError
    from adapters.las_csv.reader import read_absences
    from adapters.school_imports import publish_absences
    from services.runtime.nats_auth import partner_credentials

    settings, rules, url = _context(data_dir, as_partner)
    state = state_path(settings.data_dir, as_partner)
    if not state.exists():
        fail(f"no EDEXML import of {as_partner} yet: its pupil keys are unknown", 2)
    known = json.loads(state.read_text())
    try:
        rows = list(read_absences(file, school=as_partner))  # refused before connecting
    except ImportRefusedError as exc:
        fail(f"refused: {exc}")
        return
    if url is None:
        raise NoBackboneError()
    result = asyncio.run(
        publish_absences(
            url,
            settings.data_dir,
            as_partner,
            rules,
            rows,
            known["keys"],
            known["brin"],
            _progress,
            credentials=partner_credentials(settings, as_partner),
        )
    )
    typer.echo(f"published {result.published} absence(s)")
    for problem in result.problems:
        typer.echo(f"  skipped {problem}")
    for line in result.unknown_pupils:
        typer.echo(f"  skipped line {line}: pupil key not in the last EDEXML export")
    if result.published == 0 and (result.problems or result.unknown_pupils):
        raise typer.Exit(1)


@app.command("forward-signals")
def forward_signals(
    as_partner: Annotated[str, typer.Option("--as", help="The leerplicht partner id")],
    signal: Annotated[
        list[str] | None,
        typer.Option("--signal", help="Register a Verwijsindex signal for this candidate (ref)"),
    ] = None,
    no_signal: Annotated[
        list[str] | None,
        typer.Option("--no-signal", help="Decided: no signal for this candidate (ref)"),
    ] = None,
    age_band: Annotated[
        str | None,
        typer.Option("--age-band", help="The child's age band for --signal (e.g. 12-15)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """As leerplicht: list the reports and thuiszitters of its region to decide on, and register
    an attendance signal only for those it names with --signal (a signal is its judgement)."""
    from adapters.leerplicht.signals import ForwardError
    from adapters.leerplicht.signals import forward_signals as forward
    from services.policy.regions import load_regions
    from services.runtime.logging import configure_logging
    from services.runtime.nats_auth import partner_credentials
    from services.runtime.settings import Settings
    from services.runtime.supervisor import discover_nats_url

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    configure_logging(settings)
    rules = next((r for r in load_regions().values() if r.leerplicht == as_partner), None)
    if rules is None:
        fail(f"{as_partner} is leerplicht of no region in infra/truancy/*.yaml", 2)
        return
    url = discover_nats_url(settings)
    if url is None:
        raise NoBackboneError()
    try:
        decided = asyncio.run(
            forward(
                url,
                settings.data_dir,
                as_partner,
                rules,
                signal=set(signal or ()),
                no_signal=set(no_signal or ()),
                age_band=age_band,
                credentials=partner_credentials(settings, as_partner),
            )
        )
    except ForwardError as exc:
        fail(str(exc), 1)
        return
    for candidate in decided.open:
        typer.echo(
            f"to decide: {candidate.ref} {candidate.what} {candidate.on} child {candidate.child}"
        )
    typer.echo(
        f"registered {decided.registered} attendance signal(s), {decided.declined} without, "
        f"{len(decided.open)} to decide"
    )

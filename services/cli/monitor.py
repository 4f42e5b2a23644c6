"""`ketenbus monitor report --quarter 2026Q3`: the regional thuiszitters figures (seed 001 F4)."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="The regional thuiszitters monitor (no personal data).", no_args_is_help=True
)


@app.command()
def report(
    quarter: Annotated[str, typer.Option(help="e.g. 2026Q3")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the table to this .csv or .xlsx file"),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Per region and municipality: categories 1 and 2, absolute thuiszitters, exemptions,
    reasons; --export writes it as CSV or XLSX."""
    from services.cli.kit import fail, settings_for
    from services.monitor.bootstrap import create_application
    from services.monitor.domain import quarter_bounds

    try:
        quarter_bounds(quarter)
    except ValueError:
        fail("--quarter must look like 2026Q3")
    settings = settings_for(data_dir)
    with closing(create_application(settings)) as application:
        result = application.report(quarter)
    if export is not None:
        from services.monitor.export import WRITERS, rows

        writer = WRITERS.get(export.suffix.lstrip(".").lower())
        if writer is None:
            fail("--export must end in .csv or .xlsx")
            return
        writer(result, export)
        typer.echo(f"wrote {len(rows(result))} row(s) to {export}")
        return
    _show(result, f"Thuiszitters monitor {result['quarter']}", as_json)


@app.command()
def annual(
    school_year: Annotated[str, typer.Option(help="e.g. 2026-2027 (1 August to 31 July)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Per region, the leerplicht figures of a school year: absoluut verzuim, thuiszitters,
    verzuimmeldingen by kind, exemptions by article (small counts suppressed)."""
    from services.cli.kit import fail, settings_for
    from services.monitor.bootstrap import create_application
    from services.monitor.domain import school_year_bounds

    try:
        school_year_bounds(school_year)
    except ValueError:
        fail("--school-year must look like 2026-2027")
    with closing(create_application(settings_for(data_dir))) as application:
        result = application.annual(school_year)
    _show(result, f"Leerplichtcijfers {result['school_year']}", as_json)


def _show(result: dict[str, Any], title: str, as_json: bool) -> None:
    """The figures as JSON, or per region under `title` (a breakdown indented below its name)."""
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(title)
    for region, figures in result["regions"].items():
        typer.echo(f"\n{region}")
        for name, value in figures.items():
            if isinstance(value, dict):
                typer.echo(f"  {name}:")
                for key, count in value.items():
                    typer.echo(f"    {key}: {count}")
            else:
                typer.echo(f"  {name}: {value}")

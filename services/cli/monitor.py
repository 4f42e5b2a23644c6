"""`ketenbus monitor report --quarter 2026Q3`: the regional thuiszitters figures (seed 001 F4)."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The regional thuiszitters monitor (no personal data).", no_args_is_help=True
)


@app.command()
def report(
    quarter: Annotated[str, typer.Option(help="e.g. 2026Q3")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Per region: categories 1 and 2, absolute thuiszitters, exemptions, reasons."""
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
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"Thuiszitters monitor {result['quarter']}")
    for region, figures in result["regions"].items():
        typer.echo(f"\n{region}")
        for name, value in figures.items():
            if isinstance(value, dict):
                typer.echo(f"  {name}:")
                for key, count in value.items():
                    typer.echo(f"    {key}: {count}")
            else:
                typer.echo(f"  {name}: {value}")

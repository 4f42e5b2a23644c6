"""Each domain's own `ketenbus` commands, as typer sub-apps from `services/cli/<domain>.py`.

One line per domain, so adding a domain does not touch the main CLI. Sub-apps are imported
lazily-light: they must not connect or open stores at import time.

File formats share two groups, `ketenbus import FORMAT …` and `ketenbus export FORMAT …`: a
domain adds a format with one line in `import_formats()` / `export_formats()` (a plain typer
command function), e.g. EDEXML: `formats.append(("edexml", import_edexml))`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

Command = Callable[..., Any]


def import_formats() -> list[tuple[str, Command]]:
    """(format, command) for `ketenbus import FORMAT …`."""
    from services.cli.handover import import_oso
    from services.cli.truancy import import_absences, import_edexml

    formats: list[tuple[str, Command]] = []
    formats.append(("oso", import_oso))
    formats.append(("edexml", import_edexml))
    formats.append(("absences", import_absences))
    return formats


def export_formats() -> list[tuple[str, Command]]:
    """(format, command) for `ketenbus export FORMAT …`."""
    from services.cli.handover import export_oso

    formats: list[tuple[str, Command]] = []
    formats.append(("oso", export_oso))
    return formats


def _group(help_text: str, formats: list[tuple[str, Command]]) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True)
    for name, command in formats:
        group.command(name)(command)
    return group


def single_commands() -> list[tuple[str, Command]]:
    """(command name, command function) for a domain's `ketenbus <name>` without subcommands."""
    from services.cli.conformance import conformance
    from services.cli.feed import feed
    from services.cli.integral_plan import web

    return [("web", web), ("feed", feed), ("conformance", conformance)]


def domain_commands() -> list[tuple[str, typer.Typer]]:
    """(command name, sub-app) for `ketenbus <name> …`."""
    from services.cli.handover import app as handover
    from services.cli.signalling import app as signal

    commands: list[tuple[str, typer.Typer]] = []
    commands.append(("signal", signal))
    commands.append(("handover", handover))
    commands.append(("import", _group("Import a partner file (per format).", import_formats())))
    commands.append(("export", _group("Export to a partner file (per format).", export_formats())))
    from services.cli.arrangements import app as arrangements

    commands.append(("arrangements", arrangements))
    from services.cli.monitor import app as monitor
    from services.cli.truancy import app as truancy

    commands.append(("truancy", truancy))
    commands.append(("monitor", monitor))
    from services.cli.notificaties import app as notificaties

    commands.append(("notificaties", notificaties))
    from services.cli.audit import app as audit

    commands.append(("audit", audit))
    from services.cli.keys import app as keys

    commands.append(("keys", keys))
    return commands

"""Each domain's own `ketenbus` commands, as typer sub-apps from `services/<domain>/cli.py`.

One line per domain, so adding a domain does not touch the main CLI. Sub-apps are imported
lazily-light: they must not connect or open stores at import time.
"""

from __future__ import annotations

import typer


def domain_commands() -> list[tuple[str, typer.Typer]]:
    """(command name, sub-app) for `ketenbus <name> …`."""
    commands: list[tuple[str, typer.Typer]] = []
    # e.g.: from services.signalling.cli import app as signal; commands.append(("signal", signal))
    from services.audit.cli import app as audit

    commands.append(("audit", audit))
    return commands

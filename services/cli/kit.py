"""What every `ketenbus` command shares: settings and logging, the running backbone's URL, one
error path, and text made safe for a terminal.

One error path: a command fails by raising (`BadInputError`, `CommandFailedError`, or any
named error of the code it calls); `run` turns a known error into one line on stderr and exit
code 2 for bad input, 1 for a failure. Only `--debug` shows a traceback. A validation error
names the field and the rule, never the value (pydantic's `input_value=` may be personal data).
"""

from __future__ import annotations

import builtins
import functools
import json
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer

if TYPE_CHECKING:
    from services.runtime.settings import Settings

BAD_INPUT = 2
FAILED = 1

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)"),
]


class CliError(Exception):
    """A command cannot do what was asked; the message is the line the user sees."""

    exit_code = FAILED


class BadInputError(CliError):
    """The arguments or the file given are not acceptable (exit code 2)."""

    exit_code = BAD_INPUT


class CommandFailedError(CliError):
    """The input was fine, but the command could not do it (exit code 1)."""


class NoBackboneError(CommandFailedError):
    """No running backbone to talk to."""

    def __init__(self) -> None:
        super().__init__(
            "no running backbone: start `ketenbus up` (or set KETENBUS_NATS_URL) and try again"
        )


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """Stop the command with one line on stderr (exit 2: bad input, 1: failed)."""
    typer.secho(f"error: {terminal_safe(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings_for(data_dir: Path | None, log_name: str = "cli") -> Settings:
    """The settings (`KETENBUS_…`, `--data-dir` wins), logging configured for a command."""
    from services.runtime.logging import configure_logging
    from services.runtime.settings import Settings

    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    configure_logging(settings, log_file=None if sys.stdout.isatty() else log_name)
    return settings


def backbone_url(settings: Settings) -> str:
    """The running backbone's NATS URL (checked with a short connect), or NoBackboneError."""
    from services.runtime.supervisor import discover_nats_url

    url = discover_nats_url(settings)
    if url is None:
        raise NoBackboneError()
    return url


def check_pseudonym(pseudonym: str) -> None:
    """A child is named by its pseudonym (32 base32 characters); anything else is a typo,
    or a BSN or name that must not be used here."""
    from ketenbus_contracts.envelope import PSEUDONYM_PATTERN

    if not re.fullmatch(PSEUDONYM_PATTERN, pseudonym):
        raise BadInputError("PSEUDONYM is not a pseudonym (32 characters a-z, 2-7)")


def check_partner(partner: str) -> None:
    """`--as` names a partner of the registry (infra/partners.yaml)."""
    from services.runtime.partners import load_partners

    known = {entry.id for entry in load_partners().partners}
    if partner not in known:
        raise BadInputError(f"--as: {partner!r} is not in the partner registry")


def parse_date(text: str, option: str) -> date:
    """A `YYYY-MM-DD` option's date, or BadInputError naming the option (not the text)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{option}: not a date (YYYY-MM-DD)") from None


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read (0600): opened personal data, an export."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: set it
    with os.fdopen(fd, "wb") as file:
        file.write(data)


# CSI sequences (colours, cursor), OSC sequences (titles, links), then every other C0 and C1
# control character but newline and tab.
_UNSAFE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """Free text as a terminal may show it: ANSI escapes and control characters removed
    (a partner's note must not move the cursor, recolour or retitle an operator's terminal)."""
    return _UNSAFE.sub("", text)


def echo_safe(text: str) -> None:
    typer.echo(terminal_safe(text))


def validation_message(exc: Exception) -> str:
    """A pydantic ValidationError as `field: rule; …`, without the input values."""
    errors = exc.errors(include_input=False, include_url=False)  # type: ignore[attr-defined]
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid: " + "; ".join(parts) + more


def _root(exc: BaseException) -> BaseException:
    """An exception group of one (asyncio task groups) stands for its only member."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _connection_error(exc: BaseException) -> bool:
    import nats.errors

    return isinstance(
        exc,
        ConnectionRefusedError | nats.errors.NoServersError | nats.errors.ConnectionClosedError,
    )


def describe(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one line) for a known error; None for an unexpected one."""
    from pydantic import ValidationError

    exc = _root(exc)
    if isinstance(exc, CliError):
        return exc.exit_code, str(exc)
    if isinstance(exc, ValidationError):
        return BAD_INPUT, validation_message(exc)
    if isinstance(exc, json.JSONDecodeError):
        return BAD_INPUT, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, RecursionError):
        return BAD_INPUT, "the input is nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return BAD_INPUT, f"the input is not {exc.encoding} text (byte {exc.start})"
    if _connection_error(exc):
        return FAILED, "no running backbone (or it stopped): start `ketenbus up` and try again"
    if type(exc).__name__ == "NoRespondersError":
        return FAILED, "no service answered: is every service of `ketenbus up` running?"
    if isinstance(exc, TimeoutError):
        return FAILED, "the backbone did not answer in time"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        return BAD_INPUT, f"{exc.strerror}: {exc.filename}"
    name = type(exc).__name__
    if name.endswith("Error") and name not in _BUILTIN_ERRORS:
        # A named error of our own: its message was written for a person.
        message = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
        code = BAD_INPUT if isinstance(exc, ValueError | LookupError) else FAILED
        return code, message
    return None


# A builtin's message was written for a programmer, and may quote the input.
_BUILTIN_ERRORS = {name for name in dir(builtins) if name.endswith("Error")}


_debug: list[bool] = []


def _guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(callback, "_guarded", False):
        return callback

    @functools.wraps(callback)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # the one place where errors become lines
            if _debug:
                raise
            code, line = explain(exc)
            fail(line, code)

    command._guarded = True  # type: ignore[attr-defined]
    return command


def keeps_tracebacks(callback: Callable[..., Any]) -> Callable[..., Any]:
    """A long-running process's command (`ketenbus service`): what kills it goes to its log
    with the traceback, for whoever reads the log."""
    callback._guarded = True  # type: ignore[attr-defined]
    return callback


def explain(exc: BaseException) -> tuple[int, str]:
    """(exit code, line) for any error: an unexpected one says only its kind."""
    known = describe(exc)
    if known is not None:
        return known
    return FAILED, f"unexpected {type(_root(exc)).__name__} (--debug shows where)"


def guard(app: typer.Typer) -> typer.Typer:
    """Every command of `app` and its sub-apps fails with one line (see the module doc)."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _guarded(info.callback)
    if app.registered_callback is not None and app.registered_callback.callback is not None:
        app.registered_callback.callback = _guarded(app.registered_callback.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard(group.typer_instance)
    return app


def run(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run the `ketenbus` app: `--debug`, anywhere on the command line, shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        _debug.append(True)
        args = [a for a in args if a != "--debug"]
    app(args=args, prog_name="ketenbus")

"""structlog set-up: console on a terminal, JSON lines otherwise.

Log an event name and bound ids, never personal data: `log.info("signal_registered", signal_id=…)`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import structlog

from services.runtime.settings import Settings


class _CurrentStderr:
    """Whatever `sys.stderr` is at the time of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Sink:
    """Where log lines go now: loggers are cached on first use with their stream, so they write
    here and a later configuration (a command run again in one process) moves them all."""

    target: Any = _CurrentStderr()

    def write(self, text: str) -> int:
        return int(self.target.write(text))

    def flush(self) -> None:
        self.target.flush()


_SINK = _Sink()


class _LibraryHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours among the root logger's handlers (a test runner keeps its own beside it)."""


def configure_logging(settings: Settings, log_file: str | None = None) -> None:
    """Logging to stderr; with `log_file`, JSON lines appended to `<log dir>/<log_file>.log`
    instead (a command whose output is not a terminal keeps its output clean)."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    stream: Any = _CurrentStderr()
    if log_file is not None:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        stream = (settings.log_dir / f"{log_file}.log").open("a", buffering=1)
    use_console = log_file is None and (
        settings.log_format == "console" or (settings.log_format == "auto" and sys.stderr.isatty())
    )
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    _SINK.target = stream
    stamped: list[structlog.types.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamped, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _SINK)),
        cache_logger_on_first_use=True,
    )
    # faststream, nats-py and asyncio log through the standard library: quiet but visible, and
    # rendered as our own lines (a plain-text warning or traceback broke the JSON lines).
    handler = _LibraryHandler(_SINK)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *stamped],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryHandler)]:
        root.removeHandler(old)  # configured again (a test's backbone): one handler, the new one
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))

"""Watched tasks: what a service runs for as long as it lives (its outbox relay, its consumers,
its ticks, its audit witness) heals or ends the service.

A watched task that fails is logged with its reason (`task_failed`, the service, the task and
the error's kind) and started again after a pause that doubles with each failure in a row, up
to a bound. A task reports its progress (`Watch.ok`), which ends a run of failures. After
`KETENBUS_TASK_MAX_FAILURES` failures in a row, or `KETENBUS_TASK_MAX_RESTARTS` restarts within
`KETENBUS_TASK_RESTART_WINDOW` seconds (a task that fails again each time soon after some
progress, whose run of failures never grows), the service gives up (`task_gave_up`): it stops
and exits non-zero, so whatever supervises it (`ketenbus up`, systemd, Kubernetes) starts it
again, instead of running on with a dead relay and answering health checks (issue 20).
Each task's report says how long ago it last made progress (`since_ok_seconds`: for the ticks,
the last tick that ran through).

`retrying` is the short retry of one call against NATS's passing faults (an election of a
stream leader, a request timing out): used where a service resumes its consumers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import nats.errors
import nats.js.errors
import structlog

from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

# NATS's faults that pass by themselves: a timeout (a request during a leader election), a
# stream without a leader for a moment (no response, 503), a server error, a reconnect.
TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
)


class ServiceGaveUpError(RuntimeError):
    """A watched task of the service failed too often in a row: the service exits non-zero."""


@dataclass
class Watch:
    """One watched task of a service: its failures in a row, its restarts, its last error."""

    service: str
    task: str
    max_failures: int = 10
    backoff: float = 0.5
    max_backoff: float = 30.0
    # At most this many restarts within `restart_window` seconds, progress or not.
    max_restarts: int = 30
    restart_window: float = 600.0
    failures: int = 0
    restarts: int = 0
    last_error: str = ""
    # When the task last made progress (time.monotonic; None: not yet).
    last_ok: float | None = None
    # Why the service gave up on this task (empty: it has not).
    gave_up: str = ""
    clock: Callable[[], float] = time.monotonic
    _recent: deque[float] = field(default_factory=deque)

    @classmethod
    def of(cls, settings: Settings, service: str, task: str) -> Watch:
        return cls(
            service=service,
            task=task,
            max_failures=settings.task_max_failures,
            backoff=settings.task_restart_backoff,
            max_backoff=settings.task_max_backoff,
            max_restarts=settings.task_max_restarts,
            restart_window=settings.task_restart_window,
        )

    def ok(self) -> None:
        """The task made progress: a run of failures is over."""
        self.failures = 0
        self.last_ok = self.clock()

    def since_ok(self) -> float | None:
        """Seconds since the task last made progress (None: it has not yet)."""
        return None if self.last_ok is None else self.clock() - self.last_ok

    def report(self) -> dict[str, object]:
        """For the service's health answer."""
        since = self.since_ok()
        return {
            "failures": self.failures,
            "restarts": self.restarts,
            "error": self.last_error,
            "since_ok_seconds": None if since is None else round(since, 1),
        }

    def failed(self, error: BaseException) -> float | None:
        """Count a failure (logged with its reason); the pause before the next start, or None
        when the service gives up: too many failures in a row, or too many restarts within
        the window."""
        self.failures += 1
        self.last_error = type(error).__name__
        now = self.clock()
        self._recent.append(now)
        while self._recent and now - self._recent[0] > self.restart_window:
            self._recent.popleft()
        failed = log.bind(
            service=self.service, task=self.task, error=self.last_error, failures=self.failures
        )
        if self.failures >= self.max_failures:
            self.gave_up = f"{self.task} failed {self.failures} times in a row ({self.last_error})"
            failed.error("task_gave_up")
            return None
        if len(self._recent) > self.max_restarts:
            restarts = len(self._recent) - 1
            self.gave_up = (
                f"{self.task} failed again after {restarts} restarts within "
                f"{self.restart_window:g}s ({self.last_error})"
            )
            failed.error(
                "task_gave_up", restarts_in_window=restarts, window_seconds=self.restart_window
            )
            return None
        delay: float = min(self.backoff * 2.0 ** (self.failures - 1), self.max_backoff)
        failed.warning("task_failed", after_seconds=delay)
        self.restarts += 1
        return delay


async def watched(watch: Watch, run: Callable[[], Awaitable[None]], gave_up: asyncio.Event) -> None:
    """Run `run` again after each failure (with `watch`'s pause) until it returns, or set
    `gave_up` after too many failures in a row or restarts within the window."""
    while True:
        try:
            await run()
            return
        except Exception as exc:
            delay = watch.failed(exc)
            if delay is None:
                gave_up.set()
                return
            await asyncio.sleep(delay)


async def retrying(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 6,
    backoff: float = 0.2,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
    event: str = "nats_retry",
) -> T:
    """`call()`, tried again after a doubling pause while it fails with a passing fault; the
    last attempt's error (or any other error at once) is raised. Each retry is logged as
    `event`."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except transient as exc:
            if attempt == attempts:
                raise
            delay = backoff * 2 ** (attempt - 1)
            log.warning(
                event, what=what, error=type(exc).__name__, attempt=attempt,
                after_seconds=delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")

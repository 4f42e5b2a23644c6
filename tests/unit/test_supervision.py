"""Supervision (issue 20): a service's watched tasks and retries (services/runtime/watch.py)
and `ketenbus up`'s restarts (services/runtime/supervisor.py). A failing task starts again after
a doubling pause until it gives up; a passing NATS fault is retried, any other error is not;
`up` restarts a process at most so often within its window."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest

from services.runtime.status import format_service
from services.runtime.supervisor import Restarts, exit_reason
from services.runtime.watch import Watch, retrying, watched


def failing(times: int, error: Exception, calls: list[int]):  # type: ignore[no-untyped-def]
    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error
        return "done"

    return call


def test_a_task_that_fails_starts_again_until_it_returns() -> None:
    watch = Watch("probe", "outbox", max_failures=5, backoff=0.001)
    gave_up = asyncio.Event()
    calls: list[int] = []

    async def run() -> None:
        await failing(3, KeyError("boom"), calls)()

    asyncio.run(watched(watch, run, gave_up))

    assert ([1, 2, 3, 4], 3, "KeyError", False) == (
        calls, watch.restarts, watch.last_error, gave_up.is_set()
    )  # fmt: skip


def test_a_task_that_fails_too_often_in_a_row_gives_up() -> None:
    watch = Watch("probe", "ticks", max_failures=3, backoff=0.001)
    gave_up = asyncio.Event()
    calls: list[int] = []

    async def run() -> None:
        await failing(100, OSError("away"), calls)()

    asyncio.run(watched(watch, run, gave_up))

    assert ([1, 2, 3], True) == (calls, gave_up.is_set())


def test_the_pause_doubles_up_to_its_bound_and_progress_ends_a_run_of_failures() -> None:
    watch = Watch("probe", "outbox", max_failures=10, backoff=0.5, max_backoff=3.0)

    pauses = [watch.failed(RuntimeError()) for _ in range(4)]
    watch.ok()
    after_progress = watch.failed(RuntimeError())

    assert ([0.5, 1.0, 2.0, 3.0], 0.5) == (pauses, after_progress)


def flapping(task: str, times: int, every: float) -> tuple[list[float | None], str]:
    """A task that makes progress and fails again `times` times, `every` seconds apart (at most
    3 restarts within 60 s): the pauses before its restarts and why it gave up ("" if not)."""
    now = [0.0]
    watch = Watch("probe", task, max_failures=10, max_restarts=3, restart_window=60.0)
    watch.clock = lambda: now[0]
    pauses = []
    for _ in range(times):
        now[0] += every
        watch.ok()
        pauses.append(watch.failed(OSError()))
    return pauses, watch.gave_up


def test_a_task_that_fails_again_after_each_progress_gives_up_past_its_restarts_in_the_window() -> (
    None
):
    assert (
        [0.5, 0.5, 0.5, None], "ticks failed again after 3 restarts within 60s (OSError)"
    ) == flapping("ticks", 4, every=10.0)  # fmt: skip


def test_restarts_that_fell_out_of_the_window_no_longer_count() -> None:
    assert ([0.5] * 10, "") == flapping("outbox", 10, every=30.0)


def test_a_tasks_report_says_how_long_ago_it_last_made_progress() -> None:
    now = [100.0]
    watch = Watch("probe", "ticks")
    watch.clock = lambda: now[0]
    never = watch.report()["since_ok_seconds"]

    watch.ok()
    now[0] += 42.25

    assert (None, 42.2) == (never, watch.report()["since_ok_seconds"])


def test_a_passing_nats_fault_is_retried() -> None:
    calls: list[int] = []

    result = asyncio.run(
        retrying("resume", failing(2, nats.errors.TimeoutError(), calls), backoff=0.001)
    )

    assert ("done", [1, 2, 3]) == (result, calls)


def test_another_error_is_not_retried() -> None:
    calls: list[int] = []

    with pytest.raises(ValueError):
        asyncio.run(retrying("resume", failing(2, ValueError("bad"), calls), backoff=0.001))

    assert [1] == calls


def test_a_fault_that_lasts_past_the_attempts_is_raised() -> None:
    calls: list[int] = []

    with pytest.raises(TimeoutError):
        asyncio.run(
            retrying("resume", failing(10, TimeoutError(), calls), attempts=3, backoff=0.001)
        )

    assert [1, 2, 3] == calls


def test_up_allows_its_restarts_within_the_window_and_again_once_they_fall_out_of_it() -> None:
    restarts = Restarts(limit=2, window=60.0)

    allowed = [restarts.allow("signalling", now=t) for t in (0.0, 10.0, 20.0, 61.0)]
    other = restarts.allow("kluis", now=20.0)

    assert ([True, True, False, True], True) == (allowed, other)


def test_up_logs_how_a_process_ended() -> None:
    assert ["was killed by SIGKILL", "exited with 1", "exited with 0"] == [
        exit_reason(code) for code in (-9, 1, 0)
    ]


def health(ready: bool, lag: int, failures: int, restarts: int) -> dict[str, object]:
    task = {"failures": failures, "restarts": restarts, "error": "NoStreamResponseError"}
    return {"service": "signalling", "ready": ready, "outbox_lag": lag, "store": "ok",
            "nats": True, "tasks": {"outbox": task}}  # fmt: skip


def test_status_shows_each_services_outbox_lag_and_its_failing_tasks() -> None:
    reports = [health(True, 0, 0, 2), health(False, 2440, 3, 3), {"service": "kluis", "down": 1}]

    shown = [format_service(report) for report in reports]

    assert [
        "  signalling       ready  outbox lag      0  outbox restarted 2x",
        "  signalling       NOT READY  outbox lag   2440"
        "  outbox failing (3x NoStreamResponseError)",
        "  kluis            DOWN (no health answer)",
    ] == shown

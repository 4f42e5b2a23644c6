"""The tests' backbone: the named services as tasks of this process, beside a real nats-server.

`ketenbus up` runs each service as a process (`services.runtime.supervisor.Backbone`); a test
that is not about processes runs the same composition roots (`services.registry.SERVICES`,
`run_service` with the audit witness, as `ketenbus service NAME` does) as asyncio tasks on one
event loop in a thread of its own, so it does not pay a Python start per service. The streams,
the health checks and the stop order are the supervisor's own; only where a service runs
differs. Tests of processes (SIGKILL, the bridge, `up`) keep the supervisor's `Backbone`.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import structlog

from services.audit.verify import witness_running_service
from services.registry import SERVICES
from services.runtime.host import run_service
from services.runtime.supervisor import Backbone, ServiceFailedError

log = structlog.get_logger(__name__)


class ServiceTask:
    """A service running as a task; answers `poll()` and `returncode` as a process does."""

    def __init__(self, name: str, future: Future[None], stop: asyncio.Event) -> None:
        self.name, self.future, self.stop = name, future, stop

    @property
    def returncode(self) -> int | None:
        if not self.future.done():
            return None
        return 1 if self.future.cancelled() or self.future.exception() else 0

    def poll(self) -> int | None:
        return self.returncode


class InProcessBackbone(Backbone):
    """NATS plus the named services, each `run_service` as a task of one event-loop thread."""

    def __init__(self, settings, services: list[str]) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, services)
        self.processes: dict[str, ServiceTask] = {}  # type: ignore[assignment]
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(
                target=self.loop.run_forever, name="backbone-services", daemon=True
            )
            self.thread.start()
        return self.loop

    def start_service(self, name: str, command: tuple[str, ...] = ()) -> ServiceTask:  # type: ignore[override]
        if command:
            raise NotImplementedError(f"{command} runs as a process: use the supervisor's Backbone")
        settings = self.settings.model_copy(update={"nats_url": self.url})
        spec = SERVICES[name]()  # built now, so it reads the environment as the process would
        stop = asyncio.Event()
        future = asyncio.run_coroutine_threadsafe(
            run_service(spec, settings, stop=stop, witness=witness_running_service), self._loop()
        )
        self.processes[name] = ServiceTask(name, future, stop)
        log.info("service_task_started", service=name)
        return self.processes[name]

    async def wait_until_ready(self, timeout: float | None = None) -> None:
        """As the supervisor waits; a service that failed to start is raised with its error
        (it has no log file of its own to point to)."""
        try:
            await super().wait_until_ready(timeout)
        except ServiceFailedError as failed:
            for task in self.processes.values():
                if task.future.done() and not task.future.cancelled() and task.future.exception():
                    raise ServiceFailedError(f"service {task.name} failed") from (
                        task.future.exception()
                    )
            raise failed

    def stop_service(self, name: str, timeout: float = 120.0) -> None:
        """Stop as SIGTERM stops a process: the service drains and closes its store (a
        generous deadline; cancelled only past it, which would leave its connections open)."""
        task = self.processes.pop(name, None)
        if task is None or task.future.done() or self.loop is None:
            return
        self.loop.call_soon_threadsafe(task.stop.set)
        try:
            task.future.result(timeout)
        except FutureTimeout:
            task.future.cancel()
        except Exception as exc:  # it stopped; the test asserts what it needs
            log.warning("service_task_failed", service=name, error=type(exc).__name__)

    def kill_service(self, name: str) -> None:
        """Cancel the task: its `finally` still runs, so this is no SIGKILL (use processes)."""
        task = self.processes.pop(name)
        task.future.cancel()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_service(name)
        if self.loop is not None and self.thread is not None:
            # What the services left behind (a client's reconnect task, say) ends with the loop.
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self.loop).result(15.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(15.0)
            self.loop.close()
            self.loop = self.thread = None
        super().stop()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)

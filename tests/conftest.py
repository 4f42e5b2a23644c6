"""Shared fixtures: a real nats-server, the backbone, SQLite files and PostgreSQL schemas.

One nats-server with JetStream serves the whole session (per pytest process); each test that
asks for `nats_url` gets it with every stream deleted first (and with the streams their
consumers, KV buckets and object stores), so no test sees another's messages, consumers or
dedup window. Deleting is what fits: the services' stream and subject names are fixed (no
prefix to vary), and an account per test would need the server reconfigured per test;
deleting the streams costs less than starting a server and declaring them anew. A test whose
backbone runs the registry's authorization gets its own server with that configuration.

`backbone` is the one backbone factory: the services a test names with
`@pytest.mark.backbone("signalling", "kluis")` run as tasks of the test process
(tests/backbone.py) beside that server; `processes=True` in the marker runs them as the
supervisor's processes, for the tests about processes (SIGKILL, restarts, the bridge).

PostgreSQL tests run wherever PostgreSQL is reachable (KETENBUS_TEST_POSTGRES_* or
127.0.0.1:5432, database `test`); under CI (`CI=true`) a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from adapters.edexml.reader import SAMPLE
from services.runtime.logging import configure_logging
from services.runtime.nats_server import EmbeddedNats
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests import wire
from tests.backbone import InProcessBackbone

FIXTURES = Path(__file__).parent / "fixtures"

# A service's start is bounded, not timed: on a shared, loaded machine (load 25 on two cores) a
# service took over 60 s just to import, and `up` gave up on it. The tests, and the `ketenbus`
# subprocesses they start (they inherit the environment), wait up to ten minutes.
os.environ.setdefault("KETENBUS_UP_READY_TIMEOUT", "600")
# Every event a relay takes from the in-memory hand-off is also read back from the store and
# must make the same contract event (services/runtime/outbox.py): the suite checks the hand-off.
os.environ.setdefault("KETENBUS_OUTBOX_HANDOFF_CHECK", "true")

EDEXML_SAMPLE = SAMPLE  # the adapter ships the standard's sample

PG_HOST = os.environ.get("KETENBUS_TEST_POSTGRES_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("KETENBUS_TEST_POSTGRES_PORT", "5432"))
PG_DB = os.environ.get("KETENBUS_TEST_POSTGRES_DBNAME", "test")
PG_USER = os.environ.get("KETENBUS_TEST_POSTGRES_USER", "postgres")


def _pg_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=PG_USER, connect_timeout=3, autocommit=True
    )


def postgres_available() -> bool:
    try:
        with _pg_connect():
            return True
    except Exception:
        return False


WIRE_SITE = Path(__file__).parent / "wire_site"


def pytest_configure(config: pytest.Config) -> None:
    """The session records what its processes publish (tests/wire_site/sitecustomize.py): this
    process now, its pytest workers and every Python process they start through
    `PYTHONPATH`, into a directory of the run's (`PYTEST_WIRE_CAPTURE`: a given one is kept,
    `off` records nothing)."""
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller's environment made it record
    given = os.environ.get(wire.CAPTURE_VARIABLE)
    if given == "off":
        return
    directory = Path(given or tempfile.mkdtemp(prefix="ketenbus-wire-"))
    config.stash[WIRE_DIRECTORY] = (directory, not given)
    os.environ[wire.CAPTURE_VARIABLE] = str(directory)
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(WIRE_SITE), *([path] if path else [])])
    spec = importlib.util.spec_from_file_location("wire_recorder", WIRE_SITE / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # records in this process


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every message the session's processes published against the AsyncAPI document: one
    that fits none of its messages (and that the backbone did not refuse) fails the run."""
    found = session.config.stash.get(WIRE_DIRECTORY, None)
    if found is None or hasattr(session.config, "workerinput"):
        return
    directory, ours = found
    checked = wire.check_run(directory)
    session.config.stash[WIRE_CHECKED] = checked
    if checked.errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if ours and not checked.errors:
        shutil.rmtree(directory, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    checked = terminalreporter.config.stash.get(WIRE_CHECKED, None)
    if checked is None or not (checked.covered or checked.errors):
        return
    directory, _ = terminalreporter.config.stash[WIRE_DIRECTORY]
    terminalreporter.section("the wire against contracts/asyncapi.yaml (tests/wire.py)")
    for line in wire.report(checked):
        terminalreporter.write_line(line)
    unproduced = wire.unproduced(checked.covered)
    terminalreporter.write_line(
        f"{len(unproduced)} documented message types no test produced"
        + (f": {', '.join(unproduced)}" if terminalreporter.verbosity > 0 else " (-v lists them)")
    )
    if checked.errors:
        terminalreporter.write_line(f"records kept in {directory}", red=True)


WIRE_DIRECTORY = pytest.StashKey[tuple[Path, bool]]()
WIRE_CHECKED = pytest.StashKey[wire.Checked]()


@pytest.fixture(autouse=True)
def _log_to_stderr() -> None:
    """Each test starts logging to stderr: a command run in-process may have left it in a file."""
    configure_logging(Settings())


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """The session's embedded nats-server with JetStream, on a free port, no authorization."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _delete_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """The session's nats-server, every stream (with its consumers) deleted for this test."""
    if nats_server.process is None or nats_server.process.poll() is not None:
        nats_server.start()  # a test stopped it: the next one gets it back
    asyncio.run(_delete_streams(nats_server.url))
    return nats_server.url


@contextlib.contextmanager
def postgres_turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under pytest-xdist, one PostgreSQL test (or module) of the run at a time: a backbone on
    PostgreSQL holds about forty connections (nine services' pools) of the server's hundred, as
    many as the whole run held when it ran in one process."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    # The workers' base temp dirs share the run's: a lock file there is the run's own.
    lock = tmp_path_factory.getbasetemp().parent / "postgres.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@pytest.fixture
def one_postgres_test_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One PostgreSQL test of the run at a time (`postgres_turn`)."""
    with postgres_turn(tmp_path_factory):
        yield


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards (skipped without PostgreSQL)."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}/{PG_DB} under CI")
        pytest.skip("PostgreSQL not reachable")
    schema = f"kb_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with _pg_connect() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_schema(one_postgres_test_at_a_time: None) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    with fresh_schema() as schema:
        yield schema


def postgres_settings(data_dir: Path, schema: str, **more: Any) -> Settings:
    """Settings with the stores in `schema` of the tests' PostgreSQL; `more` settings."""
    given: dict[str, Any] = {
        "store": "postgres",
        "postgres_host": PG_HOST,
        "postgres_port": PG_PORT,
        "postgres_dbname": PG_DB,
        "postgres_user": PG_USER,
        "postgres_schema": schema,
    }
    return Settings(data_dir=data_dir, **(given | more))


class StoreBackend:
    """Mixin: one test case, subclassed per store backend (`store = "sqlite" | "postgres"`)."""

    store = "sqlite"

    @pytest.fixture
    def settings(self, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        data_dir = tmp_path / "data"
        if self.store == "postgres":
            schema = request.getfixturevalue("postgres_schema")
            return postgres_settings(data_dir, schema, nats_auth="none")
        # The tests' own clients (tests/integration/helpers.py) connect anonymously; registry
        # authorization has its own cases (tests/integration/test_nats_registry_auth.py).
        return Settings(data_dir=data_dir, store="sqlite", nats_auth="none")


StartBackbone = Callable[..., Backbone]


@pytest.fixture
def start_backbone(request: pytest.FixtureRequest) -> Iterator[StartBackbone]:
    """Start NATS and `services` for this test: `start(settings, services, processes=False)`.

    Without `settings.nats_url` and authorization the services use the session's server
    (`nats_url`); under `nats_auth="registry"`, or with `own_server`, the backbone starts its
    own in the data directory (configured from the registry). Services run as tasks unless
    `processes`; all are stopped after the test.
    """
    started: list[Backbone] = []

    def start(
        settings: Settings,
        services: list[str],
        *,
        processes: bool = False,
        own_server: bool = False,
    ) -> Backbone:
        if settings.nats_url is None and settings.nats_auth == "none" and not own_server:
            settings = settings.model_copy(update={"nats_url": request.getfixturevalue("nats_url")})
        backbone = (Backbone if processes else InProcessBackbone)(settings, list(services))
        started.append(backbone)
        backbone.start()
        return backbone

    try:
        yield start
    finally:
        for backbone in reversed(started):
            backbone.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A test's settings: SQLite under its tmp_path, no NATS authorization (see StoreBackend)."""
    return Settings(data_dir=tmp_path / "data", store="sqlite", nats_auth="none")


@pytest.fixture
def backbone(
    request: pytest.FixtureRequest, settings: Settings, start_backbone: StartBackbone
) -> Backbone:
    """The services the test's `backbone` marker names, on `settings`."""
    marker = request.node.get_closest_marker("backbone")
    if marker is None:
        raise pytest.UsageError("the backbone fixture needs @pytest.mark.backbone(SERVICE, ...)")
    return start_backbone(settings, list(marker.args), **marker.kwargs)

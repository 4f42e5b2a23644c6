"""Shared fixtures: a real nats-server per test, SQLite files and PostgreSQL schemas.

PostgreSQL tests run wherever PostgreSQL is reachable (KETENBUS_TEST_POSTGRES_* or
127.0.0.1:5432, database `test`); under CI (`CI=true`) a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.nats_server import EmbeddedNats
from services.runtime.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
EDEXML_SAMPLE = FIXTURES / "edexml" / "2.1" / "EDEXML.Voorbeeld.2.1.xml"

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


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded nats-server with JetStream, on a free port, for one test."""
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
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


class StoreBackend:
    """Mixin: one test case, subclassed per store backend (`store = "sqlite" | "postgres"`)."""

    store = "sqlite"

    @pytest.fixture
    def settings(self, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
        data_dir = tmp_path / "data"
        if self.store == "postgres":
            schema = request.getfixturevalue("postgres_schema")
            return Settings(
                data_dir=data_dir,
                store="postgres",
                postgres_host=PG_HOST,
                postgres_port=PG_PORT,
                postgres_dbname=PG_DB,
                postgres_user=PG_USER,
                postgres_schema=schema,
                nats_auth="none",
            )
        # The tests' own clients (tests/integration/helpers.py) connect anonymously; registry
        # authorization has its own cases (tests/integration/test_nats_registry_auth.py).
        return Settings(data_dir=data_dir, store="sqlite", nats_auth="none")

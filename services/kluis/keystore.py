"""kluis's keystore: data keys per (child, purpose, scope, version), wrapped under a master key.

Keys live in a plain table, not in an append-only event store, because erasure must destroy
them physically (crypto-shredding):

- SQLite (default): `<data_dir>/stores/kluis-keys.sqlite` with `PRAGMA secure_delete=ON`, so a
  deleted row's bytes are overwritten with zeros in the file;
- PostgreSQL (`store="postgres"`): tables `kluis_scoped_keys`, `kluis_erasures` and
  `kluis_processing_records` in the configured schema; erasure deletes and then runs
  `VACUUM FULL` on the key table, which rewrites it without the dead rows.

Every data key is stored wrapped by the `MasterKey` (AES-256-GCM, the key id as associated data
so a wrapped key cannot be moved to another row). `FileMasterKey` keeps the master key in
`<data_dir>/secrets/master.key` (mode 0600); a KMS or HSM plugs in by implementing the
`MasterKey` protocol (wrap/unwrap never let the master key leave the device).

The same database keeps the erasure register (which pseudonyms were erased, so no new key is
ever made for them and a restored backup can be re-erased) and the processing records. Both are
numbered in insertion order (processing records by `id`, erasures by `seq`) and handed to the
audit hash chain by `audited_tables` (the data keys are not: they are deleted by design).
"""

# Table names are built from a fixed prefix and the schema name, which is checked against
# IDENTIFIER; every value goes in as a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import DATA_KEY_BYTES, LEGACY_SCOPE, DataKey, make_kid
from services.kluis.domain import Decision, KluisError, Operation, ProcessingRecord
from services.runtime.secrets import load_or_create_secret
from services.runtime.settings import Settings

NONCE_BYTES = 12
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ChildErasedError(KluisError):
    """The child's keys were erased; no key is made or given for it again."""


class MasterKeyError(KluisError):
    """A wrapped data key does not unwrap under the master key."""


class MasterKey(Protocol):
    """Wraps and unwraps data keys. Plug a KMS or HSM in here.

    `aad` is the data key's kid: an implementation must bind it (AEAD associated data, or the
    KMS's encryption context) so a wrapped key only unwraps for its own kid.
    """

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, *, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes: ...


class FileMasterKey:
    """The embedded default: a 32-byte AES-256-GCM master key in a 0600 file."""

    def __init__(self, path: Path) -> None:
        self._aead = AESGCM(load_or_create_secret(path, 32))
        self._key_id = f"file:{path.name}"

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FileMasterKey:
        return cls(data_dir / "secrets" / "master.key")

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise MasterKeyError(
                "a wrapped data key does not unwrap under this master key"
            ) from None


class StaticMasterKey(FileMasterKey):
    """A master key handed in as bytes (tests, or a secret manager that injects it)."""

    def __init__(self, key: bytes, key_id: str = "static") -> None:
        if len(key) != 32:
            raise MasterKeyError("a master key has 32 bytes")
        self._aead = AESGCM(key)
        self._key_id = key_id


_RECORD_COLUMNS = (
    "trace_id, span_id, parent_span_id, operation, processing_activity_id, data_subject, "
    "requester, purpose, decision, refusal_code, kid, at, register_version, scope"
)


class Keystore:
    """Data keys, erasures and processing records in SQLite or PostgreSQL. Thread-safe."""

    def __init__(self, master: MasterKey, conn: Any, *, dialect: str, schema: str = "") -> None:
        self.master = master
        self._conn = conn
        self._dialect = dialect
        if schema and not IDENTIFIER.match(schema):
            raise KluisError(f"schema {schema!r} is not a plain SQL identifier")
        self._prefix = f'"{schema}".' if schema else ""
        self._lock = threading.RLock()
        self._depth = 0  # transactions opened inside `batch()` join it
        self._create_tables()

    # construction

    @classmethod
    def open(cls, settings: Settings, master: MasterKey | None = None) -> Keystore:
        """The keystore the settings choose (SQLite file or PostgreSQL schema)."""
        master = master or FileMasterKey.in_data_dir(settings.data_dir)
        if settings.store == "postgres":
            import psycopg

            conn = psycopg.connect(
                host=settings.postgres_host,
                port=settings.postgres_port,
                dbname=settings.postgres_dbname,
                user=settings.postgres_user,
                password=settings.postgres_password.get_secret_value(),
                autocommit=True,
            )
            return cls(master, conn, dialect="postgres", schema=settings.postgres_schema)
        return cls.sqlite(settings.store_dir / "kluis-keys.sqlite", master)

    @classmethod
    def sqlite(cls, path: Path, master: MasterKey) -> Keystore:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA journal_mode=DELETE")
        return cls(master, conn, dialect="sqlite")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # SQL plumbing

    def _table(self, name: str) -> str:
        return f"{self._prefix}kluis_{name}"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._dialect == "postgres" else sql

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:  # inside `batch()`: part of its transaction
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                if self._dialect == "postgres":
                    with self._conn.transaction():
                        yield
                else:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for everything done inside (a batch request's keys and processing
        records): one commit instead of one per key and per record, and all or nothing.

        SQLite stays in rollback-journal mode (not WAL): a WAL file would keep copies of key
        pages after an erasure until a checkpoint; with one commit per batch the journal's
        cost no longer matters. Erasure (`erase`, `erase_scope`) cannot run inside.
        """
        with self._transaction():
            yield

    def _create_tables(self) -> None:
        blob = "BYTEA" if self._dialect == "postgres" else "BLOB"
        serial = (
            "BIGSERIAL PRIMARY KEY"
            if self._dialect == "postgres"
            else "INTEGER PRIMARY KEY AUTOINCREMENT"
        )
        with self._transaction():
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {self._table('scoped_keys')} ("
                "child TEXT NOT NULL, purpose TEXT NOT NULL, scope TEXT NOT NULL, "
                f"version INTEGER NOT NULL, wrapped {blob} NOT NULL, "
                "master_key_id TEXT NOT NULL, created_at TEXT NOT NULL, "
                "PRIMARY KEY (child, purpose, scope, version))"
            )
            self._adopt_unscoped_keys()
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {self._table('destroyed_scopes')} ("
                "child TEXT NOT NULL, purpose TEXT NOT NULL, scope TEXT NOT NULL, "
                "last_version INTEGER NOT NULL, destroyed_at TEXT NOT NULL, "
                "PRIMARY KEY (child, purpose, scope))"
            )
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {self._table('erasures')} ("
                "child TEXT PRIMARY KEY, erased_at TEXT NOT NULL, keys_deleted INTEGER NOT NULL, "
                "seq INTEGER UNIQUE)"
            )
            self._number_erasures()
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {self._table('processing_records')} ("
                f"id {serial}, trace_id TEXT NOT NULL, span_id TEXT NOT NULL, "
                "parent_span_id TEXT, operation TEXT NOT NULL, "
                "processing_activity_id TEXT NOT NULL, data_subject TEXT NOT NULL, "
                "requester TEXT NOT NULL, purpose TEXT NOT NULL, decision TEXT NOT NULL, "
                "refusal_code TEXT, kid TEXT, at TEXT NOT NULL, register_version TEXT NOT NULL, "
                "scope TEXT)"
            )
            self._add_record_scope()
            for column in ("data_subject", "requester"):
                self._execute(
                    f"CREATE INDEX IF NOT EXISTS kluis_records_{column} "
                    f"ON {self._table('processing_records')} ({column})"
                )

    def _adopt_unscoped_keys(self) -> None:
        """Move keys from before scopes (table `data_keys`) in under the empty scope: their
        kids (`<pseudonym>/<purpose>/<version>`, the wrap's associated data) stay the same."""
        old = self._table("data_keys")
        if self._dialect == "postgres":
            found = self._execute("SELECT to_regclass(?)", (old.replace('"', ""),)).fetchone()
            exists = found is not None and found[0] is not None
        else:
            exists = (
                self._execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (old.rsplit(".", 1)[-1],),
                ).fetchone()
                is not None
            )
        if not exists:
            return
        self._execute(
            f"INSERT INTO {self._table('scoped_keys')} "
            "(child, purpose, scope, version, wrapped, master_key_id, created_at) "
            # `WHERE true`: SQLite parses an upsert after INSERT ... SELECT only with a WHERE.
            f"SELECT child, purpose, ?, version, wrapped, master_key_id, created_at FROM {old} "
            "WHERE true ON CONFLICT DO NOTHING",
            (LEGACY_SCOPE,),
        )
        self._execute(f"DROP TABLE {old}")

    def _add_record_scope(self) -> None:
        """Processing records from before they named the scope get the column (NULL)."""
        table = self._table("processing_records")
        if self._dialect == "postgres":
            self._execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS scope TEXT")
            return
        columns = {row[1] for row in self._execute(f"PRAGMA table_info({table})").fetchall()}
        if "scope" not in columns:
            self._execute(f"ALTER TABLE {table} ADD COLUMN scope TEXT")

    def _number_erasures(self) -> None:
        """Give erasures registered before they were numbered a `seq` (in erasure order)."""
        table = self._table("erasures")
        if self._dialect == "postgres":
            self._execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS seq INTEGER UNIQUE")
        else:
            columns = {row[1] for row in self._execute(f"PRAGMA table_info({table})").fetchall()}
            if "seq" not in columns:
                self._execute(f"ALTER TABLE {table} ADD COLUMN seq INTEGER")
                self._execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS kluis_erasures_seq ON {table} (seq)"
                )
        unnumbered = self._execute(
            f"SELECT child FROM {table} WHERE seq IS NULL ORDER BY erased_at, child"
        ).fetchall()
        for (child,) in unnumbered:
            self._execute(
                f"UPDATE {table} SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}) "
                "WHERE child = ?",
                (child,),
            )

    # data keys

    def _unwrap(
        self, child: str, purpose: Purpose, scope: str, version: int, wrapped: bytes
    ) -> DataKey:
        kid = make_kid(child, purpose, scope, version)
        return DataKey(kid, self.master.unwrap(bytes(wrapped), aad=kid.encode()))

    def _insert(self, child: str, purpose: Purpose, scope: str, version: int) -> None:
        kid = make_kid(child, purpose, scope, version)
        wrapped = self.master.wrap(secrets.token_bytes(DATA_KEY_BYTES), aad=kid.encode())
        self._execute(
            f"INSERT INTO {self._table('scoped_keys')} "
            "(child, purpose, scope, version, wrapped, master_key_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (child, purpose.value, scope, version, wrapped, self.master.key_id, _now()),
        )

    def _latest(self, child: str, purpose: Purpose, scope: str) -> tuple[int, bytes] | None:
        row = self._execute(
            f"SELECT version, wrapped FROM {self._table('scoped_keys')} "
            "WHERE child = ? AND purpose = ? AND scope = ? ORDER BY version DESC LIMIT 1",
            (child, purpose.value, scope),
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def _stored_latest(self, child: str, purpose: Purpose, scope: str) -> tuple[int, bytes]:
        latest = self._latest(child, purpose, scope)
        if latest is None:
            raise KluisError("a data key just stored cannot be read back")
        return latest

    def sealing_key(self, child: str, purpose: Purpose, scope: str) -> DataKey:
        """The key new sections of (child, purpose, scope) are sealed with; made on first use."""
        with self._transaction():
            self._refuse_erased(child)
            latest = self._latest(child, purpose, scope)
            if latest is None:
                version = self._destroyed_version(child, purpose, scope) + 1
                self._insert(child, purpose, scope, version)
                latest = self._stored_latest(child, purpose, scope)
        return self._unwrap(child, purpose, scope, latest[0], latest[1])

    def key(self, child: str, purpose: Purpose, scope: str, version: int) -> DataKey | None:
        """A given version of a scope's key, to open old sections; None if absent."""
        with self._lock:
            row = self._execute(
                f"SELECT wrapped FROM {self._table('scoped_keys')} "
                "WHERE child = ? AND purpose = ? AND scope = ? AND version = ?",
                (child, purpose.value, scope, version),
            ).fetchone()
        return self._unwrap(child, purpose, scope, version, row[0]) if row else None

    def rotate(self, child: str, purpose: Purpose, scope: str) -> DataKey:
        """Make version n+1 the sealing key; older versions still open older sections."""
        with self._transaction():
            self._refuse_erased(child)
            latest = self._latest(child, purpose, scope)
            previous = latest[0] if latest else self._destroyed_version(child, purpose, scope)
            self._insert(child, purpose, scope, previous + 1)
            newest = self._stored_latest(child, purpose, scope)
        return self._unwrap(child, purpose, scope, newest[0], newest[1])

    def versions(self, child: str, purpose: Purpose, scope: str) -> list[int]:
        with self._lock:
            rows = self._execute(
                f"SELECT version FROM {self._table('scoped_keys')} "
                "WHERE child = ? AND purpose = ? AND scope = ? ORDER BY version",
                (child, purpose.value, scope),
            ).fetchall()
        return [int(row[0]) for row in rows]

    # erasure

    def _refuse_erased(self, child: str) -> None:
        if self._is_erased(child):
            raise ChildErasedError("the child's keys were erased")

    def _is_erased(self, child: str) -> bool:
        row = self._execute(
            f"SELECT 1 FROM {self._table('erasures')} WHERE child = ?", (child,)
        ).fetchone()
        return row is not None

    def is_erased(self, child: str) -> bool:
        with self._lock:
            return self._is_erased(child)

    def scopes_by_child(self) -> dict[str, set[tuple[Purpose, str]]]:
        """Which (purpose, scope) each child still has keys for."""
        with self._lock:
            rows = self._execute(
                f"SELECT DISTINCT child, purpose, scope FROM {self._table('scoped_keys')}"
            ).fetchall()
        found: dict[str, set[tuple[Purpose, str]]] = {}
        for child, purpose, scope in rows:
            found.setdefault(child, set()).add((Purpose(purpose), scope))
        return found

    def purposes_by_child(self) -> dict[str, set[Purpose]]:
        """Which purposes each child still has keys for."""
        return {
            child: {purpose for purpose, _ in scopes}
            for child, scopes in self.scopes_by_child().items()
        }

    def erase_scope(self, child: str, purpose: Purpose, scope: str) -> str | None:
        """Delete every key version of (child, purpose, scope) physically (retention expired);
        the kid of the newest destroyed version. The scope's versions go on from there, so a
        later key of the scope never takes a destroyed key's kid."""
        with self._transaction():
            latest = self._latest(child, purpose, scope)
            if latest is None:
                return None
            self._execute(
                f"INSERT INTO {self._table('destroyed_scopes')} "
                "(child, purpose, scope, last_version, destroyed_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (child, purpose, scope) DO UPDATE SET "
                "last_version = excluded.last_version, destroyed_at = excluded.destroyed_at",
                (child, purpose.value, scope, latest[0], _now()),
            )
            self._execute(
                f"DELETE FROM {self._table('scoped_keys')} "
                "WHERE child = ? AND purpose = ? AND scope = ?",
                (child, purpose.value, scope),
            )
        self._reclaim()
        return make_kid(child, purpose, scope, latest[0])

    def _destroyed_version(self, child: str, purpose: Purpose, scope: str) -> int:
        row = self._execute(
            f"SELECT last_version FROM {self._table('destroyed_scopes')} "
            "WHERE child = ? AND purpose = ? AND scope = ?",
            (child, purpose.value, scope),
        ).fetchone()
        return int(row[0]) if row else 0

    def erase(self, child: str) -> int:
        """Delete every key of the child physically and register the erasure; keys deleted."""
        with self._transaction():
            cursor = self._execute(
                f"DELETE FROM {self._table('scoped_keys')} WHERE child = ?", (child,)
            )
            deleted = int(cursor.rowcount or 0)
            erasures = self._table("erasures")
            self._execute(
                f"INSERT INTO {erasures} (child, erased_at, keys_deleted, seq) "
                f"SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1 FROM {erasures} WHERE true "
                "ON CONFLICT DO NOTHING",
                (child, _now(), deleted),
            )
        self._reclaim()
        return deleted

    def _reclaim(self) -> None:
        """Rewrite the key table without the deleted rows' bytes."""
        with self._lock:
            if self._depth:
                raise KluisError("an erasure cannot be part of a batch")
            if self._dialect == "postgres":
                self._execute(f"VACUUM FULL {self._table('scoped_keys')}")
            else:
                # secure_delete zeroed the freed cells; VACUUM also drops the freed pages.
                self._execute("VACUUM")

    # processing records

    def add_record(self, record: ProcessingRecord) -> None:
        with self._transaction():
            self._execute(
                f"INSERT INTO {self._table('processing_records')} ({_RECORD_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.trace_id,
                    record.span_id,
                    record.parent_span_id,
                    record.operation.value,
                    record.processing_activity_id,
                    record.data_subject,
                    record.requester,
                    record.purpose.value,
                    record.decision.value,
                    record.refusal_code,
                    record.kid,
                    record.at.isoformat(),
                    record.register_version,
                    record.scope,
                ),
            )

    def records(
        self, *, data_subject: str | None = None, requester: str | None = None, limit: int = 1000
    ) -> list[ProcessingRecord]:
        """Processing records, oldest first, filtered by data subject and/or requester."""
        where, params = [], []
        if data_subject is not None:
            where.append("data_subject = ?")
            params.append(data_subject)
        if requester is not None:
            where.append("requester = ?")
            params.append(requester)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._lock:
            rows = self._execute(
                f"SELECT {_RECORD_COLUMNS} FROM {self._table('processing_records')} "
                f"{clause}ORDER BY id LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [
            ProcessingRecord(
                trace_id=row[0],
                span_id=row[1],
                parent_span_id=row[2],
                operation=Operation(row[3]),
                processing_activity_id=row[4],
                data_subject=row[5],
                requester=row[6],
                purpose=Purpose(row[7]),
                decision=Decision(row[8]),
                refusal_code=row[9],
                kid=row[10],
                at=datetime.fromisoformat(row[11]),
                register_version=row[12],
                scope=row[13],
            )
            for row in rows
        ]

    # what the audit hash chain covers

    def audited_tables(self) -> dict[str, Callable[[int, int], list[tuple[Any, ...]]]]:
        """Row pagers of the tables the audit chain covers, by what a row is called."""
        return {
            "processing record": self.processing_record_rows,
            "erasure record": self.erasure_rows,
        }

    def processing_record_rows(self, start: int, limit: int) -> list[tuple[Any, ...]]:
        """Processing records as stored (id first), from id `start` on, in id order. A record
        without a scope (written before records named it) reads as it was witnessed then,
        without the column, so the audit chain over it still verifies."""
        rows = self._rows("processing_records", f"id, {_RECORD_COLUMNS}", "id", start, limit)
        return [row if row[-1] is not None else row[:-1] for row in rows]

    def erasure_rows(self, start: int, limit: int) -> list[tuple[Any, ...]]:
        """The erasure register as stored (seq first), from seq `start` on, in seq order."""
        return self._rows("erasures", "seq, child, erased_at, keys_deleted", "seq", start, limit)

    def _rows(
        self, table: str, columns: str, order: str, start: int, limit: int
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            rows = self._execute(
                f"SELECT {columns} FROM {self._table(table)} WHERE {order} >= ? "
                f"ORDER BY {order} LIMIT ?",
                (start, limit),
            ).fetchall()
        return [tuple(row) for row in rows]


def _now() -> str:
    return datetime.now(UTC).isoformat()

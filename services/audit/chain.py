"""Tamper evidence for the services' event stores: a witnessed hash chain with signed checkpoints.

The stores belong to the services and are append-only through eventsourcing, so the chain is
kept beside them, not in them (the way KurrentDB and Marten leave their stream tables alone and
audit from outside): for each service, `<data_dir>/audit/<service>.chain.sqlite` holds

- per stored event (notification id, in notification order) the SHA-256 digest of the stored
  row (notification id, originator id, version, topic, stored state bytes), and a chain hash
  `h_n = SHA-256(h_{n-1} || digest_n)` over the witnessed digests;
- checkpoints: the chain head at a notification id, signed (detached-free JWS, Ed25519) with the
  audit key `<data_dir>/secrets/partners/audit.jwk`.

`witness` reads the store through eventsourcing (SQLite or PostgreSQL alike), compares every row
it has seen before with its digest, appends what is new, and writes a checkpoint. A changed
byte in a stored event's state (or topic, originator, version) is reported as `changed` at that
service and notification id. A row that is gone is reported as `missing`: erasure deletes rows
on purpose (the law's exception to append-only), so missing rows are listed for the auditor to
match with the erasure log and fail only with `strict`. The sidecar itself is covered by the
signed checkpoints: rewriting a digest breaks the chain under a checkpoint (`chain-broken`).

The same machinery covers tables outside the event stores (a `Ledger` names what a row is:
kluis's processing records and erasure records, chained by their id in insertion order, each
in its own sidecar `<service>.<table>.chain.sqlite`). Data keys are never chained: they are
deleted on erasure by design. `witness(..., recheck=False)` only appends what is new (the
running services call it continuously, so a change before the first `audit verify` is caught).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

GENESIS = bytes(32)
PAGE = 5000
LOCK_TIMEOUT = 30.0
AUDIT_PARTNER = "audit"

FindingKind = Literal["changed", "missing", "chain-broken", "bad-checkpoint"]


class StoredNotification(Protocol):
    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


class NotificationSource(Protocol):
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None
    ) -> Any: ...


# A table's rows from id `start` on, at most `limit`, in id order; each row starts with its id.
RowPager = Callable[[int, int], Sequence[Sequence[Any]]]
# (id, digest) pages of a ledger, from id `start` on.
DigestPager = Callable[[int, int], list[tuple[int, bytes]]]


@dataclass(frozen=True)
class Ledger:
    """What is chained: a service's event store (`notification`) or one of its tables."""

    service: str
    place: str = "notification"

    @property
    def name(self) -> str:
        """The sidecar's (and the signed checkpoint's) name."""
        if self.place == "notification":
            return self.service
        return f"{self.service}.{self.place.replace(' ', '_')}s"


@dataclass(frozen=True)
class Finding:
    service: str
    notification_id: int  # the row's id in its ledger (the notification id for an event store)
    kind: FindingKind
    detail: str
    place: str = "notification"

    def __str__(self) -> str:
        return f"{self.service} {self.place} {self.notification_id}: {self.kind} ({self.detail})"


@dataclass
class ChainReport:
    service: str
    place: str = "notification"
    checked: int = 0
    appended: int = 0
    head: int = 0
    findings: list[Finding] = field(default_factory=list)

    def failed(self, *, strict: bool = False) -> list[Finding]:
        return [f for f in self.findings if strict or f.kind != "missing"]


def row_digest(notification: StoredNotification) -> bytes:
    """SHA-256 over the stored row, each field length-prefixed (no ambiguity between fields)."""
    digest = hashlib.sha256()
    for part in (
        str(notification.id).encode(),
        str(notification.originator_id).encode(),
        str(notification.originator_version).encode(),
        notification.topic.encode(),
        bytes(notification.state),
    ):
        digest.update(struct.pack(">Q", len(part)))
        digest.update(part)
    return digest.digest()


def fields_digest(fields: Sequence[Any]) -> bytes:
    """SHA-256 over a table row's fields, each typed and length-prefixed (NULL is not '')."""
    digest = hashlib.sha256()
    for value in fields:
        if value is None:
            part = b"N"
        elif isinstance(value, bytes | bytearray | memoryview):
            part = b"B" + bytes(value)
        else:
            part = b"S" + str(value).encode()
        digest.update(struct.pack(">Q", len(part)))
        digest.update(part)
    return digest.digest()


def notification_digests(source: NotificationSource) -> DigestPager:
    """An event store's rows as (notification id, digest) pages."""

    def page(start: int, limit: int) -> list[tuple[int, bytes]]:
        return [(n.id, row_digest(n)) for n in source.select_notifications(start, limit)]

    return page


def table_digests(rows: RowPager) -> DigestPager:
    """A table's rows (id first) as (id, digest) pages."""

    def page(start: int, limit: int) -> list[tuple[int, bytes]]:
        return [(int(row[0]), fields_digest(row)) for row in rows(start, limit)]

    return page


def chain_next(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


def chain_path(data_dir: Path, service: str) -> Path:
    return data_dir / "audit" / f"{service}.chain.sqlite"


class ChainFile:
    """The sidecar of one service: witnessed digests, chain hashes and checkpoints."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Autocommit, with `locked()` around a whole witness: a running service and
        # `audit verify` never extend the same chain at once (the second waits for the first).
        self.conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT, isolation_level=None)
        self.conn.executescript(
            "CREATE TABLE IF NOT EXISTS chain (notification_id INTEGER PRIMARY KEY, "
            "row_digest BLOB NOT NULL, chain_hash BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "notification_id INTEGER NOT NULL, chain_hash TEXT NOT NULL, at TEXT NOT NULL, "
            "signature TEXT NOT NULL);"
        )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One transaction holding the sidecar's write lock (waits up to `LOCK_TIMEOUT`)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def last(self) -> tuple[int, bytes]:
        """The last witnessed id and the chain head there ((0, GENESIS) when empty)."""
        row = self.conn.execute(
            "SELECT notification_id, chain_hash FROM chain ORDER BY notification_id DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)

    def entries(self) -> Iterator[tuple[int, bytes, bytes]]:
        yield from self.conn.execute(
            "SELECT notification_id, row_digest, chain_hash FROM chain ORDER BY notification_id"
        )

    def append(self, rows: list[tuple[int, bytes, bytes]]) -> None:
        self.conn.executemany("INSERT INTO chain VALUES (?, ?, ?)", rows)

    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        return list(
            self.conn.execute(
                "SELECT notification_id, chain_hash, at, signature FROM checkpoints ORDER BY id"
            )
        )

    def add_checkpoint(self, notification_id: int, head: bytes, key: OKPKey, service: str) -> None:
        at = datetime.now(UTC).isoformat()
        claim = checkpoint_claim(service, notification_id, head.hex(), at)
        signature = jws.serialize_compact(
            {"alg": "Ed25519", "kid": f"{AUDIT_PARTNER}#sig"}, claim, key, algorithms=["Ed25519"]
        )
        self.conn.execute(
            "INSERT INTO checkpoints (notification_id, chain_hash, at, signature) "
            "VALUES (?, ?, ?, ?)",
            (notification_id, head.hex(), at, signature),
        )


def checkpoint_claim(service: str, notification_id: int, head: str, at: str) -> bytes:
    return json.dumps(
        {"service": service, "notification_id": notification_id, "chain_hash": head, "at": at},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def _verify_checkpoint(service: str, checkpoint: tuple[int, str, str, str], public: OKPKey) -> bool:
    notification_id, head, at, signature = checkpoint
    try:
        verified = jws.deserialize_compact(signature, public, algorithms=["Ed25519"])
    except JoseError:
        return False
    return verified.payload == checkpoint_claim(service, notification_id, head, at)


def witness(
    ledger: str | Ledger,
    source: NotificationSource | DigestPager,
    chain: ChainFile,
    key: OKPKey,
    *,
    checkpoint: bool = True,
    recheck: bool = True,
) -> ChainReport:
    """Compare the store with the chain, append what is new, and sign a checkpoint.

    `ledger` is a service name (its event store) or a `Ledger`; `source` the event store's
    recorder or a `DigestPager`. `key` is the audit key pair (its public half verifies the
    earlier checkpoints). With `recheck=False` only rows after the chain head are read and
    appended (the running service's continuous witness; `audit verify` rechecks everything).
    """
    ledger = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
    pages = notification_digests(source) if hasattr(source, "select_notifications") else source
    with chain.locked():
        if not recheck:
            return _extend(ledger, pages, chain, key, checkpoint=checkpoint)
        return _recheck(ledger, pages, chain, key, checkpoint=checkpoint)


def _recheck(
    ledger: Ledger, pages: DigestPager, chain: ChainFile, key: OKPKey, *, checkpoint: bool
) -> ChainReport:
    """Every witnessed row against the store and the checkpoints; then append what is new."""
    report = ChainReport(ledger.service, ledger.place)

    def found(row_id: int, kind: FindingKind, detail: str) -> None:
        report.findings.append(Finding(ledger.service, row_id, kind, detail, ledger.place))

    public = OKPKey.import_key(key.as_dict(private=False))
    # 1. The sidecar against its signed checkpoints.
    witnessed: dict[int, bytes] = {}
    heads: dict[int, bytes] = {}
    previous = GENESIS
    for row_id, digest, stored_head in chain.entries():
        previous = chain_next(previous, digest)
        if previous != stored_head:
            found(row_id, "chain-broken", "chain hash does not follow")
        witnessed[row_id] = digest
        heads[row_id] = previous
    for entry in chain.checkpoints():
        if not _verify_checkpoint(ledger.name, entry, public):
            found(entry[0], "bad-checkpoint", "signature does not verify")
        elif heads.get(entry[0], b"").hex() != entry[1]:
            found(entry[0], "chain-broken", "differs from the signed checkpoint")
    # 2. The store against the sidecar, in id order.
    seen: set[int] = set()
    new: list[tuple[int, bytes, bytes]] = []
    last_witnessed = max(witnessed, default=0)
    for row_id, digest in _all(pages, 1):
        report.checked += 1
        seen.add(row_id)
        known = witnessed.get(row_id)
        if known is not None:
            if known != digest:
                found(row_id, "changed", "stored row differs")
        elif row_id < last_witnessed:
            found(row_id, "changed", "row appeared inside the chain")
        else:
            previous = chain_next(previous, digest)
            new.append((row_id, digest, previous))
    for row_id in sorted(set(witnessed) - seen):
        found(row_id, "missing", "row deleted (erasure or tampering)")
    # 3. Extend the chain and sign its head.
    _append(ledger, chain, key, new, report, last_witnessed, previous, checkpoint=checkpoint)
    return report


def _all(pages: DigestPager, start: int) -> Iterator[tuple[int, bytes]]:
    while True:
        page = pages(start, PAGE)
        if not page:
            return
        yield from page
        start = page[-1][0] + 1


def _extend(
    ledger: Ledger, pages: DigestPager, chain: ChainFile, key: OKPKey, *, checkpoint: bool
) -> ChainReport:
    """Append the rows after the chain head (nothing before it is read again)."""
    report = ChainReport(ledger.service, ledger.place)
    last_witnessed, previous = chain.last()
    new: list[tuple[int, bytes, bytes]] = []
    for row_id, digest in _all(pages, last_witnessed + 1):
        report.checked += 1
        previous = chain_next(previous, digest)
        new.append((row_id, digest, previous))
    _append(ledger, chain, key, new, report, last_witnessed, previous, checkpoint=checkpoint)
    return report


def _append(
    ledger: Ledger,
    chain: ChainFile,
    key: OKPKey,
    new: list[tuple[int, bytes, bytes]],
    report: ChainReport,
    last_witnessed: int,
    head: bytes,
    *,
    checkpoint: bool,
) -> None:
    if new:
        chain.append(new)
    report.appended = len(new)
    report.head = new[-1][0] if new else last_witnessed
    if checkpoint and report.head and (new or not chain.checkpoints()):
        chain.add_checkpoint(report.head, head, key, ledger.name)

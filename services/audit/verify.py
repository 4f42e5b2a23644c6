"""`ketenbus audit verify` and the services' continuous witness: stores against their chains.

Opens each registered service's application (SQLite or PostgreSQL per the settings), walks its
stored events in notification order (`services.audit.chain.witness`), and the tables beside the
store that the application names in `audited_tables()` (kluis: processing records, erasure
records), and signs a new checkpoint per chain. The result names the place of every finding:
service, what the row is, and its id. `witness_service` is what a running service calls after
its batches (only new rows; `verify_stores` rechecks every row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey

from ketenbus_partner.keys import load_or_create_partner_keys
from services.audit.chain import (
    AUDIT_PARTNER,
    ChainFile,
    ChainReport,
    DigestPager,
    Ledger,
    chain_path,
    notification_digests,
    table_digests,
    witness,
)
from services.runtime.settings import Settings


def registered_applications() -> dict[str, Callable[[Settings], Any]]:
    """Each registered service's application factory (its store), by service name."""
    from services.registry import SERVICES

    return {name: factory().application_factory for name, factory in SERVICES.items()}


def ledgers_of(service: str, application: Any) -> list[tuple[Ledger, DigestPager]]:
    """The chains of one service: its event store, then each table it has audited."""
    ledgers = [(Ledger(service), notification_digests(application.recorder))]
    tables = getattr(application, "audited_tables", None)
    for place, rows in (tables() if tables is not None else {}).items():
        ledgers.append((Ledger(service, place), table_digests(rows)))
    return ledgers


def audit_key(data_dir: Path) -> OKPKey:
    return load_or_create_partner_keys(data_dir, AUDIT_PARTNER).signing


def witness_service(
    data_dir: Path,
    service: str,
    application: Any,
    key: OKPKey,
    *,
    checkpoint: bool = True,
    recheck: bool = True,
) -> list[ChainReport]:
    """Witness every chain of one service; one report per chain."""
    reports = []
    for ledger, pages in ledgers_of(service, application):
        chain = ChainFile(chain_path(data_dir, ledger.name))
        try:
            reports.append(
                witness(ledger, pages, chain, key, checkpoint=checkpoint, recheck=recheck)
            )
        finally:
            chain.close()
    return reports


def witness_running_service(settings: Settings, service: str, application: Any) -> int:
    """What a running service's host calls every interval (`host.Witness`): append the rows
    stored since the last witness, signed with the audit key; the number appended."""
    key = audit_key(settings.data_dir)
    reports = witness_service(settings.data_dir, service, application, key, recheck=False)
    return sum(r.appended for r in reports)


def verify_stores(
    settings: Settings,
    services: Iterable[str] | None = None,
    *,
    checkpoint: bool = True,
    factories: dict[str, Callable[[Settings], Any]] | None = None,
) -> list[ChainReport]:
    """Witness every (or the named) service's store and audited tables; one report per chain."""
    factories = factories or registered_applications()
    wanted = list(services) if services is not None else list(factories)
    key = audit_key(settings.data_dir)
    reports = []
    for name in wanted:
        application = factories[name](settings)
        try:
            reports += witness_service(
                settings.data_dir, name, application, key, checkpoint=checkpoint
            )
        finally:
            application.close()
    return reports

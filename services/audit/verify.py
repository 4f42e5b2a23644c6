"""`ketenbus audit verify`: every service's store against its witnessed hash chain.

Opens each registered service's application (SQLite or PostgreSQL per the settings), walks its
stored events in notification order (`services.audit.chain.witness`), and signs a new
checkpoint. The result names the place of every finding: service and notification id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.audit.chain import AUDIT_PARTNER, ChainFile, ChainReport, chain_path, witness
from services.runtime.keyring import load_or_create_partner_keys
from services.runtime.settings import Settings


def registered_applications() -> dict[str, Callable[[Settings], Any]]:
    """Each registered service's application factory (its store), by service name."""
    from services.registry import SERVICES

    return {name: factory().application_factory for name, factory in SERVICES.items()}


def verify_stores(
    settings: Settings,
    services: Iterable[str] | None = None,
    *,
    checkpoint: bool = True,
    factories: dict[str, Callable[[Settings], Any]] | None = None,
) -> list[ChainReport]:
    """Witness every (or the named) service's store; one report per service."""
    factories = factories or registered_applications()
    wanted = list(services) if services is not None else list(factories)
    key = load_or_create_partner_keys(settings.data_dir, AUDIT_PARTNER).signing
    reports = []
    for name in wanted:
        application = factories[name](settings)
        chain = ChainFile(chain_path(settings.data_dir, name))
        try:
            reports.append(witness(name, application.recorder, chain, key, checkpoint=checkpoint))
        finally:
            chain.close()
            application.close()
    return reports

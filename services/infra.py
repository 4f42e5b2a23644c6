"""Where the backbone's data files are: `infra/` (registries, rules, policies, NATS config) and the
schemas and samples the adapters ship.

In a source checkout `infra/` is the repository's; an installed wheel carries the same files in
the `services` package (`services/infra/`, pyproject's `force-include`), so an installed
`ketenbus` finds them without a checkout. Every module reads `INFRA_DIR` from here, never a
path of its own.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir(package: str) -> Path:
    """A package's directory on disk (its data files beside its modules; wheels unpack)."""
    return Path(str(resources.files(package)))


def infra_dir() -> Path:
    """The wheel's `services/infra/`, else the checkout's `infra/` beside `services/`."""
    services = package_dir("services")
    packaged = services / "infra"
    return packaged if packaged.is_dir() else services.parent / "infra"


INFRA_DIR = infra_dir()

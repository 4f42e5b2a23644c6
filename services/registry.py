"""The services `ketenbus up` and `ketenbus service NAME` know, by name: the one list of them,
above every service (nothing below the CLI, the audit and the AsyncAPI document imports it; the
runtime is handed the specs it needs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial

from services.runtime.host import ServiceSpec

# Each service by name, in the order `ketenbus up` starts them, and the package whose
# `bootstrap.service_spec` is its composition root.
PACKAGES = {
    "signalling": "signalling",
    "integral-plan": "integral_plan",
    "kluis": "kluis",
    "pseudonym": "pseudonym",
    "handover": "handover",
    "arrangements": "arrangements",
    "truancy": "truancy",
    "monitor": "monitor",
    "feed": "feed",
}


def _service_spec(package: str) -> ServiceSpec:
    """The service's spec from its bootstrap, imported only when asked for (`ketenbus service
    kluis` imports no other service)."""
    bootstrap = importlib.import_module(f"services.{package}.bootstrap")
    spec: ServiceSpec = bootstrap.service_spec()
    return spec


SERVICES: dict[str, Callable[[], ServiceSpec]] = {
    name: partial(_service_spec, package) for name, package in PACKAGES.items()
}


def service_specs() -> dict[str, ServiceSpec]:
    """Every service's spec, by name (for the NATS permissions generated from them)."""
    return {name: factory() for name, factory in SERVICES.items()}

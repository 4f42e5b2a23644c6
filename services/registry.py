"""The services `ketenbus up` and `ketenbus service NAME` know, by name: the one list of them,
above every service (nothing below the CLI, the audit and the AsyncAPI document imports it; the
runtime is handed the specs it needs)."""

from __future__ import annotations

from collections.abc import Callable

from services.runtime.host import ServiceSpec


def _signalling() -> ServiceSpec:
    from services.signalling.bootstrap import service_spec

    return service_spec()


def _integral_plan() -> ServiceSpec:
    from services.integral_plan.bootstrap import service_spec

    return service_spec()


def _kluis() -> ServiceSpec:
    from services.kluis.bootstrap import service_spec

    return service_spec()


def _handover() -> ServiceSpec:
    from services.handover.bootstrap import service_spec

    return service_spec()


def _truancy() -> ServiceSpec:
    from services.truancy.bootstrap import service_spec

    return service_spec()


def _arrangements() -> ServiceSpec:
    from services.arrangements.bootstrap import service_spec

    return service_spec()


def _pseudonym() -> ServiceSpec:
    from services.pseudonym.bootstrap import service_spec

    return service_spec()


def _monitor() -> ServiceSpec:
    from services.monitor.bootstrap import service_spec

    return service_spec()


def _feed() -> ServiceSpec:
    from services.feed.bootstrap import service_spec

    return service_spec()


SERVICES: dict[str, Callable[[], ServiceSpec]] = {
    "signalling": _signalling,
    "integral-plan": _integral_plan,
    "kluis": _kluis,
    "pseudonym": _pseudonym,
    "handover": _handover,
    "arrangements": _arrangements,
    "truancy": _truancy,
    "monitor": _monitor,
    "feed": _feed,
}


def service_specs() -> dict[str, ServiceSpec]:
    """Every service's spec, by name (for the NATS permissions generated from them)."""
    return {name: factory() for name, factory in SERVICES.items()}

"""The register of processing activities (AVG art. 30): purposes, legal bases, retention, roles.

Loaded from `infra/processing-register.yaml` (versioned, readable by auditors) by
`services.policy.loading`; this module is the pure model. Which roles may
hold, write or relay a purpose is decided here; which relation with the child a holder needs is
decided by the relation rules (`services.policy.relations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ketenbus_contracts.purposes import Purpose


class PolicyError(Exception):
    """The policy (register or relation rules) refused or is inconsistent."""


class InvalidRegisterError(PolicyError):
    """The processing register or partner registry is inconsistent."""


class UnknownPurposeError(PolicyError):
    """The register has no processing activity for this purpose."""


@dataclass(frozen=True)
class ProcessingActivity:
    """One entry of the register of processing activities (AVG art. 30)."""

    id: str
    purpose: Purpose
    name: str
    legal_basis: str
    retention: str  # ISO 8601 duration, e.g. P2Y
    retention_from: str  # the moment the retention period runs from
    holder_roles: frozenset[str]
    writer_roles: frozenset[str]
    relay_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProcessingRegister:
    version: str
    controller: str
    activities: Mapping[Purpose, ProcessingActivity]

    def __post_init__(self) -> None:
        missing = set(Purpose) - set(self.activities)
        if missing:
            raise InvalidRegisterError(
                f"register {self.version} has no activity for {sorted(p.value for p in missing)}"
            )
        for purpose, activity in self.activities.items():
            if activity.purpose is not purpose:
                raise InvalidRegisterError(f"activity {activity.id} is filed under {purpose}")

    def activity(self, purpose: Purpose) -> ProcessingActivity:
        try:
            return self.activities[purpose]
        except KeyError:
            raise UnknownPurposeError(f"no processing activity for {purpose}") from None

    @property
    def roles(self) -> frozenset[str]:
        roles: set[str] = set()
        for activity in self.activities.values():
            roles |= activity.holder_roles | activity.writer_roles | activity.relay_roles
        return frozenset(roles)

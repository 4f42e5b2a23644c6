"""The register of processing activities (verwerkingsregister, AVG art. 30): per purpose its
activity, legal basis and retention, and the roles that may hold, write or relay its data.

The model of `infra/processing-register.yaml`, versioned and readable by auditors. A partner
reads it to know which of its roles may hold or write a purpose; kluis releases keys by it (the
relation with the child a holder also needs is decided by the relation rules) and writes the
activity's id into every processing record.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from ketenbus_contracts.envelope import ContractModel
from ketenbus_contracts.purposes import Purpose

# An ISO 8601 period of years, months and days: P2Y, P6M, P5Y6M10D.
PERIOD_PATTERN = r"^P(\d+Y)?(\d+M)?(\d+D)?$"


class UnknownPurposeError(LookupError):
    """The register has no processing activity for this purpose."""


class ActivityReference(ContractModel):
    """A processing activity as another policy names it (the pseudonym service's)."""

    id: str = Field(description="e.g. pa-signalling; written into every processing record")
    purpose: Purpose
    name: str
    legal_basis: str


class ProcessingActivity(ActivityReference):
    """One entry of the register: who may do what with a purpose's data, and for how long."""

    retention: str = Field(pattern=PERIOD_PATTERN, description="An ISO 8601 period, e.g. P2Y")
    retention_from: str = Field(description="The moment the retention period runs from")
    holder_roles: frozenset[str] = Field(description="May be given the purpose's data keys")
    writer_roles: frozenset[str] = Field(description="May have kluis seal a section for them")
    relay_roles: frozenset[str] = Field(
        default=frozenset(), description="Backbone services that may re-bind a sealed section"
    )
    holder_bases: dict[str, frozenset[str]] = Field(
        default_factory=dict,
        description="A holder role listed here holds the purpose only through these relation "
        "bases, on the legal basis that names them (leerplicht: a pupil's identity through a "
        "verzuimmelding, Besluit verzuimmelding); a role not listed holds it through any basis "
        "that opens it",
    )

    further_processing: dict[str, str] = Field(
        default_factory=dict,
        description="Processing beyond the activity's own that the register records with its "
        "own legal basis, by name (e.g. household-matching); absent: not allowed",
    )

    @model_validator(mode="after")
    def _bases_of_holders(self) -> Self:
        stray = sorted(set(self.holder_bases) - self.holder_roles)
        if stray:
            raise ValueError(f"{self.id}: holder_bases for roles that hold nothing: {stray}")
        return self

    def holds_through(self, role: str, basis: str) -> bool:
        """May `role` hold this purpose through a relation of `basis`?"""
        only = self.holder_bases.get(role)
        return only is None or basis in only


class ProcessingRegister(ContractModel):
    """The register: one activity for every purpose, filed under it."""

    version: str = Field(description="Changed on every change; in every processing record")
    controller: str
    activities: dict[Purpose, ProcessingActivity]

    @field_validator("activities", mode="before")
    @classmethod
    def _by_purpose(cls, listed: Any) -> Any:
        """The file lists the activities; the register files each under its purpose, once."""
        if not isinstance(listed, list):
            return listed
        activities: dict[Purpose, ProcessingActivity] = {}
        for entry in listed:
            activity = ProcessingActivity.model_validate(entry)
            if activity.purpose in activities:
                raise ValueError(f"two activities for purpose {activity.purpose.value}")
            activities[activity.purpose] = activity
        return activities

    @model_validator(mode="after")
    def _every_purpose_once(self) -> Self:
        missing = sorted(p.value for p in set(Purpose) - set(self.activities))
        if missing:
            raise ValueError(f"register {self.version} has no activity for {missing}")
        for purpose, activity in self.activities.items():
            if activity.purpose is not purpose:
                raise ValueError(f"activity {activity.id} is filed under {purpose}")
        return self

    def activity(self, purpose: Purpose) -> ProcessingActivity:
        try:
            return self.activities[purpose]
        except KeyError:
            raise UnknownPurposeError(f"no processing activity for {purpose}") from None

    @property
    def roles(self) -> frozenset[str]:
        """Every role the register names."""
        return frozenset().union(
            *(a.holder_roles | a.writer_roles | a.relay_roles for a in self.activities.values())
        )

"""Signalling contracts: a partner registers or withdraws a concern; the backbone finds a match.

Inbound (partner → backbone): `in.<partner>.signalling.signal-registered|signal-withdrawn`.
Outbound (signalling service → everyone entitled): `ketenbus.signalling.<event>.v1`.
What the concern is about is sealed under `signalling`; who signals and how to reach them is
in clear, as the Verwijsindex rules (Jeugdwet art. 7.1) allow.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from ketenbus_contracts.envelope import (
    CloudEvent,
    ContractModel,
    EventData,
    PartnerId,
    RelationChange,
    register,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SealedUnder


class Signaller(ContractModel):
    """The professional who signals: organisation, role and contact point, in clear."""

    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80, description="e.g. ib-er, jgz-arts")]
    contact: Annotated[
        str, Field(min_length=1, max_length=200, description="Contact point of the professional")
    ]


ConcernCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]


class SignalDetails(ContractModel):
    """What a signal says about the child: every field sealed, never in clear.

    The partner seals these into `data.sealed` (`signalling` for the concern, `identity` for
    who the child is); the model documents the sections' fields.
    """

    concern: Annotated[
        list[ConcernCode],
        Field(description="Coded domains, e.g. taalontwikkeling, thuissituatie"),
        SealedUnder(Purpose.SIGNALLING),
    ]
    notes: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.SIGNALLING)] = ""
    bsn: Annotated[str | None, Field(pattern=r"^[0-9]{9}$"), SealedUnder(Purpose.IDENTITY)] = None
    name: Annotated[str | None, Field(max_length=200), SealedUnder(Purpose.IDENTITY)] = None
    birth_date: Annotated[date | None, SealedUnder(Purpose.IDENTITY)] = None


class SignalRegisteredData(EventData):
    signal_id: uuid.UUID
    signaller: Signaller
    registered_on: date
    planned_removal_on: date


WithdrawalReason = Literal["withdrawn", "risk-ended"]


class SignalWithdrawnData(EventData):
    signal_id: uuid.UUID
    withdrawn_on: date
    reason: WithdrawalReason = "withdrawn"


class MatchFoundData(EventData):
    match_id: uuid.UUID
    signal_ids: list[uuid.UUID]
    signallers: list[Signaller]
    found_at: AwareDatetime


@register
class SignalRegistered(CloudEvent[SignalRegisteredData]):
    """A partner registered a concern about a child."""

    domain: ClassVar[str] = "signalling"
    name: ClassVar[str] = "signal-registered"
    version: ClassVar[int] = 1
    type: Literal["nl.ketenbus.signalling.signal-registered.v1"] = (
        "nl.ketenbus.signalling.signal-registered.v1"
    )

    def relation_changes(self) -> list[RelationChange]:
        """The signaller has a relation with the child while its signal is active."""
        signal = str(self.data.signal_id)
        return [RelationChange(self.data.signaller.partner, "signal", signal, active=True)]


@register
class SignalWithdrawn(CloudEvent[SignalWithdrawnData]):
    """A partner withdrew its signal, or the risk ended."""

    domain: ClassVar[str] = "signalling"
    name: ClassVar[str] = "signal-withdrawn"
    version: ClassVar[int] = 1
    type: Literal["nl.ketenbus.signalling.signal-withdrawn.v1"] = (
        "nl.ketenbus.signalling.signal-withdrawn.v1"
    )

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(None, "signal", str(self.data.signal_id), active=False)]


@register
class MatchFound(CloudEvent[MatchFoundData]):
    """Two or more partners have an active signal on the same child."""

    domain: ClassVar[str] = "signalling"
    name: ClassVar[str] = "match-found"
    version: ClassVar[int] = 1
    type: Literal["nl.ketenbus.signalling.match-found.v1"] = "nl.ketenbus.signalling.match-found.v1"


InboundSignallingEvent = Annotated[SignalRegistered | SignalWithdrawn, Field(discriminator="type")]
SignallingEvent = Annotated[
    SignalRegistered | SignalWithdrawn | MatchFound, Field(discriminator="type")
]

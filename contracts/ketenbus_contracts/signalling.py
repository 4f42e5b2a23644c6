"""Signalling contracts: a partner registers or withdraws a concern; the backbone finds a match.

Inbound (partner → backbone), `in.<partner>.signalling.<name>`: signal-registered,
signal-withdrawn, child-deceased, contact-made, coordinator-changed, risk-inventory-recorded.
Outbound (signalling service → everyone entitled), `ketenbus.signalling.<name>.v1`: the
registered and withdrawn signals, match-found, match-ended, coordinator-assigned, contact-made,
contact-reminder, contact-escalated, history-notice, parents-informed, risk-inventory-recorded.

What the concern is about is sealed under `signalling`; who signals and how to reach them is
in clear, as the Verwijsindex rules (Jeugdwet art. 7.1) allow. So are the coarse codes the
backbone must route on: the household pseudonym, the municipality code, the age band the
signaller declares (never the birth date). The concern codes are sealed, so the backbone
cannot check them: the partner checks them before sealing (`check_concern_codes`, with the
code list the region publishes in `infra/signalling/rules.yaml`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from ketenbus_contracts.envelope import (
    CloudEvent,
    ContractModel,
    DataT,
    EventData,
    PartnerId,
    Pseudonym,
    RelationChange,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SealedUnder

VindplaatsId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


class Signaller(ContractModel):
    """The professional who signals: organisation, role and contact point, in clear."""

    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80, description="e.g. ib-er, jgz-arts")]
    contact: Annotated[
        str, Field(min_length=1, max_length=200, description="Contact point of the professional")
    ]
    vindplaats: VindplaatsId | None = Field(
        default=None,
        description="Where the signal arose (infra/signalling/vindplaatsen.yaml): its contact "
        "person is whom a match names",
    )


class MatchContact(ContractModel):
    """How the parties to a match reach one signaller: professional contact data only, never
    anything about the child or the concern."""

    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80)]
    contact: Annotated[str, Field(min_length=1, max_length=200, description="Whom to ask for")]
    vindplaats: Annotated[str, Field(max_length=200, description="Name of the vindplaats")] = ""
    function: Annotated[str, Field(max_length=200, description="The contact person's role")] = ""
    phone: Annotated[str, Field(max_length=40)] = ""
    email: Annotated[str, Field(max_length=200)] = ""


class Coordinator(ContractModel):
    partner: PartnerId
    contact: Annotated[str, Field(min_length=1, max_length=200)]


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


class UnknownConcernCodeError(ValueError):
    """A concern code the region's list does not define."""


def check_concern_codes(details: SignalDetails, known: Collection[str]) -> None:
    """Refuse, before sealing, concern codes outside the region's list (`concern_domains`).

    The backbone never sees the codes (they are sealed), so this check is the partner's.
    """
    unknown = sorted(set(details.concern) - set(known))
    if unknown:
        raise UnknownConcernCodeError(f"unknown concern code(s): {', '.join(unknown)}")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def signal_period(
    registered_on: date, birth_date: date | None, *, max_years: int = 2, age_limit: int = 23
) -> date:
    """The planned removal date a partner gives: at most `max_years` after registration and
    before the child turns `age_limit` (computed partner-side: the birth date stays sealed)."""
    end = add_years(registered_on, max_years)
    if birth_date is not None:
        end = min(end, add_years(birth_date, age_limit))
    return end


def age_band_of(birth_date: date, on: date, bands: Collection[str]) -> str | None:
    """The age band code (`"<from>-<to>"`, as in rules.yaml) the child is in on `on`."""
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    for band in bands:
        low, high = (int(x) for x in band.split("-"))
        if low <= age <= high:
            return band
    return None


AgeBandCode = Annotated[
    str, Field(pattern=r"^[0-9]{1,2}-[0-9]{1,2}$", description="Age band, e.g. 0-3, 12-15")
]
MunicipalityCode = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}$", description="CBS gemeentecode of the responsible municipality"),
]


class SignalRegisteredData(EventData):
    signal_id: uuid.UUID
    signaller: Signaller
    registered_on: date
    planned_removal_on: date
    household: Pseudonym | None = Field(
        default=None, description="Household pseudonym (household_pseudonym), for matching"
    )
    municipality: MunicipalityCode | None = Field(
        default=None, description="Municipality whose coordinator is told of a match"
    )
    age_band: AgeBandCode | None = Field(
        default=None, description="Declared by the signaller: who is informed (parents, child)"
    )


PartnerWithdrawalReason = Literal["withdrawn", "risk-ended"]
# `expired` (planned removal date, 2-year cap) and `deceased` are given by the backbone only.
WithdrawalReason = Literal["withdrawn", "risk-ended", "expired", "deceased"]


class SignalWithdrawnData(EventData):
    signal_id: uuid.UUID
    withdrawn_on: date
    reason: WithdrawalReason = "withdrawn"


MatchScope = Literal["child", "household"]


class MatchFoundData(EventData):
    """Who signalled and how to reach them (Jeugdwet art. 7.1.4.1): never what about. The
    concern stays with each signaller; content is shared after a match through the plan."""

    match_id: uuid.UUID
    signal_ids: list[uuid.UUID]
    signallers: list[Signaller]
    found_at: AwareDatetime
    scope: MatchScope = "child"
    household: Pseudonym | None = None
    municipality: MunicipalityCode | None = None
    municipal_coordinator: PartnerId | None = Field(
        default=None, description="The municipality's coordinator, told of every match"
    )
    contacts: list[MatchContact] = Field(
        default_factory=list,
        description="How to reach each signaller: its vindplaats's contact person when the "
        "signal names one, else the signal's own contact",
    )
    coordinator: Coordinator | None = Field(
        default=None, description="The match's coordinator (regievoerder) and how to reach it"
    )
    notify: list[PartnerId] = Field(
        default_factory=list,
        description="Who is told of the match: every signaller, the coordinator, the "
        "municipal coordinator",
    )


class ChildDeceasedData(EventData):
    died_on: date


class MatchRef(EventData):
    """Which match a command is about: on the child (subject) or on its household."""

    match_id: uuid.UUID
    household: Pseudonym | None = None


class ContactMadeData(MatchRef):
    """A signaller reports it made contact with the other signallers of the match."""

    partner: PartnerId
    contacted_on: date
    all_contacted: bool = False


CoordinatorRule = Literal["first-signaller", "role-priority", "municipality", "changed"]


class CoordinatorChangedData(MatchRef):
    """A party to the match hands the coordination (regie) to another partner."""

    coordinator: Coordinator
    reason: Annotated[str, Field(max_length=200)] = ""


class CoordinatorAssignedData(MatchRef):
    coordinator: Coordinator
    rule: CoordinatorRule
    previous: PartnerId | None = None
    assigned_at: AwareDatetime


class ContactReminderData(MatchRef):
    """Not every signaller reported contact in time: those are reminded."""

    partners: list[PartnerId]
    due_at: AwareDatetime


class ContactEscalatedData(MatchRef):
    """Still no contact: the municipal coordinator is told."""

    partners: list[PartnerId]
    municipal_coordinator: PartnerId | None
    due_at: AwareDatetime


class MatchEndedData(MatchRef):
    """The match lapsed: fewer than two partners still have an active signal."""

    ended_on: date


class HistoryNoticeData(EventData):
    """One-time notice to a new signaller: the child had signals before (metadata only)."""

    signal_id: uuid.UUID
    partner: PartnerId
    earlier_signals: int
    last_ended_on: date | None
    earlier_partners: list[PartnerId]


Audience = Literal["parents", "child"]


class ParentsInformedData(EventData):
    """For the parent view: who must be told that a signal was registered (and by whom)."""

    signal_id: uuid.UUID
    signaller: Signaller
    registered_on: date
    audience: list[Audience]
    age_band: AgeBandCode | None = None


class InformingConfirmedData(EventData):
    """The signaller told the parents and/or the child of its signal (Jeugdwet art. 7.1.4.2)."""

    signal_id: uuid.UUID
    audience: Annotated[list[Audience], Field(min_length=1)]
    informed_on: date


class InformingPostponedData(EventData):
    """The signaller postpones telling them, on a recorded ground, until a day."""

    signal_id: uuid.UUID
    ground: ConcernCode = Field(description="Coded ground (infra/signalling/rules.yaml)")
    until: date


class InformingDueData(EventData):
    """The signaller's informing task as it stands (the worklist's): whom it still has to tell
    of its signal, since when, and until when it postponed it (the ground stays with the
    signaller). Addressed to the signaller alone."""

    signal_id: uuid.UUID
    partner: PartnerId = Field(description="The signaller, whose task it is")
    audience: list[Audience] = Field(description="Still to be told; empty when all were told")
    since: date = Field(description="The day the task arose (the signal, or the new age band)")
    postponed_until: date | None = None


class AgeBandDeclaredData(EventData):
    """The child crossed into another age band (12, 16): whom to inform may change."""

    signal_id: uuid.UUID
    age_band: AgeBandCode
    declared_on: date


class RiskInventoryDetails(ContractModel):
    """The structured risk inventory of a three-year-old and its plan of approach (sealed)."""

    risk_factors: Annotated[list[ConcernCode], SealedUnder(Purpose.SIGNALLING)]
    findings: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SIGNALLING)] = ""
    plan_goals: Annotated[list[str], SealedUnder(Purpose.SIGNALLING)] = []
    plan_actions: Annotated[list[str], SealedUnder(Purpose.SIGNALLING)] = []


class RiskInventoryRecordedData(EventData):
    inventory_id: uuid.UUID
    recorded_by: Signaller
    inventoried_on: date
    age_band: AgeBandCode
    participants: list[PartnerId] = Field(description="Partners who took part (ko, po, swv po)")
    parents_involved: bool
    plan_needed: bool
    plan_due_on: date | None = None


class SignallingContract(CloudEvent[DataT], domain="signalling"):
    """An event of the signalling domain: `nl.ketenbus.signalling.<name>.v<version>`."""


class SignalRegistered(SignallingContract[SignalRegisteredData], name="signal-registered"):
    """A partner registered a concern about a child."""

    sealed_models = (SignalDetails,)

    def relation_changes(self) -> list[RelationChange]:
        """The signaller has a relation with the child while its signal is active."""
        signal = str(self.data.signal_id)
        return [RelationChange(self.data.signaller.partner, "signal", signal, active=True)]


class SignalWithdrawn(SignallingContract[SignalWithdrawnData], name="signal-withdrawn"):
    """A partner withdrew its signal, or the risk ended."""

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(None, "signal", str(self.data.signal_id), active=False)]


class MatchFound(SignallingContract[MatchFoundData], name="match-found"):
    """Two or more partners have an active signal on the same child."""


class ChildDeceased(SignallingContract[ChildDeceasedData], name="child-deceased"):
    """A municipal team or JGZ reports the child's death: every signal ends (inbound only)."""


class ContactMade(SignallingContract[ContactMadeData], name="contact-made"):
    """A signaller made contact with the other signallers (inbound; recorded outbound)."""


class CoordinatorChanged(SignallingContract[CoordinatorChangedData], name="coordinator-changed"):
    """A party to the match asks to change the coordinator (inbound only)."""


class CoordinatorAssigned(SignallingContract[CoordinatorAssignedData], name="coordinator-assigned"):
    """The match has a coordinator (regievoerder): by the configured rule, or changed."""

    def relation_changes(self) -> list[RelationChange]:
        """The coordinator holds the signalling key of the child while it coordinates."""
        basis = str(self.data.match_id)
        changes = []
        if self.data.previous and self.data.previous != self.data.coordinator.partner:
            changes.append(RelationChange(self.data.previous, "coordination", basis, False))
        changes.append(RelationChange(self.data.coordinator.partner, "coordination", basis, True))
        return changes


class MatchEnded(SignallingContract[MatchEndedData], name="match-ended"):
    """The match lapsed; the coordinator's relation (key access) on it ends."""

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(None, "coordination", str(self.data.match_id), active=False)]


class ContactReminder(SignallingContract[ContactReminderData], name="contact-reminder"):
    """Signallers that did not report contact in time are reminded."""


class ContactEscalated(SignallingContract[ContactEscalatedData], name="contact-escalated"):
    """Still no contact: the municipal coordinator is told."""


class HistoryNotice(SignallingContract[HistoryNoticeData], name="history-notice"):
    """A new signaller is told the child had signals before (metadata only)."""


class ParentsInformed(SignallingContract[ParentsInformedData], name="parents-informed"):
    """For the parent view: tell the parents (and the child from 12) of a registered signal."""


class RiskInventoryRecorded(
    SignallingContract[RiskInventoryRecordedData], name="risk-inventory-recorded"
):
    """A three-year-old's risk inventory and plan of approach (content sealed), seed 000 1.3."""

    sealed_models = (RiskInventoryDetails,)

    def relation_changes(self) -> list[RelationChange]:
        basis = str(self.data.inventory_id)
        return [RelationChange(self.data.recorded_by.partner, "risk-inventory", basis, True)]


class InformingConfirmed(SignallingContract[InformingConfirmedData], name="informing-confirmed"):
    """The signaller confirms it informed the parents and/or the child."""


class InformingPostponed(SignallingContract[InformingPostponedData], name="informing-postponed"):
    """The signaller postpones informing, on a coded ground, until a day."""


class AgeBandDeclared(SignallingContract[AgeBandDeclaredData], name="age-band-declared"):
    """The signaller declares the child's new age band (it turned 12 or 16)."""


class InformingDue(SignallingContract[InformingDueData], name="informing-due"):
    """The signaller's informing task changed: whom it still has to tell, since, postponed."""


InboundSignallingEvent = Annotated[
    SignalRegistered
    | SignalWithdrawn
    | ChildDeceased
    | ContactMade
    | CoordinatorChanged
    | RiskInventoryRecorded
    | InformingConfirmed
    | InformingPostponed
    | AgeBandDeclared,
    Field(discriminator="type"),
]
SignallingEvent = Annotated[
    SignalRegistered
    | SignalWithdrawn
    | MatchFound
    | MatchEnded
    | CoordinatorAssigned
    | ContactMade
    | ContactReminder
    | ContactEscalated
    | HistoryNotice
    | ParentsInformed
    | RiskInventoryRecorded
    | InformingDue,
    Field(discriminator="type"),
]

"""Arrangements contracts: support requests, TLVs, OPPs, youth-care decisions, combined
education-care arrangements, funding disputes and their escalation, Variawet, regie, and the
school's zorgplicht after an aanmelding (its decision, once extended, the placement).

Inbound (partner → backbone): `in.<partner>.arrangements.<name>`. Outbound (arrangements
service → the parties): `ketenbus.arrangements.<name>.v1`.

In clear: who decided, who the parties are and how to reach them, numbers, codes, dates and
statuses (what routing, reminders and escalation need). Sealed: goals, diagnoses, reasons and
care content, under `support` (OPP, TLV, arrangement content) or `youth_care` (the content of
jeugdhulp). A school thus sees THAT there is youth care, from when to when, and whom to call,
but not what the care is (seed 003; DESIGN §4).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from ketenbus_contracts.envelope import (
    CloudEvent,
    ContractModel,
    DataT,
    EventData,
    PartnerId,
    RelationChange,
    event_classes,
)
from ketenbus_contracts.handover import Organisation, Transition
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SealedUnder

RELATION_BASIS = "arrangement"
YOUTH_CARE_BASIS = "youth-care-decision"  # one decision is its own scope (relations.yaml)
# Holding regie on an OPP or a youth-care part: its own basis, so that when regie moves on the
# previous holder's relation ends while a party's relation on the same record stays.
REGIE_BASIS = "regie"
# A holder of doorzettingsmacht a dispute was escalated to: it sees the plan to decide, and
# opens no sealed section (infra/relations.yaml).
DISPUTE_HOLDER_BASIS = "dispute-holder"

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
Payer = Literal["school", "swv", "municipality"]
RegieDomain = Literal["opp", "youth_care"]
# OSO codelijst 31 "TLV bekostigingscategorie": Nvt, H(oog), M(iddel), L(aag).
TlvCategory = Literal["Nvt", "H", "M", "L"]
ReminderAbout = Literal[
    "tlv-renewal",
    "opp-review",
    "youth-care-end",
    "reduced-time-end",
    "dispute-deadline",
    "zorgplicht-decision",
    "opp-after-placement",
    "opp-evaluation",
    "tlv-waiting",
]
# The legal deadlines the clock watches (DeadlinePassed): the school's decision on an
# aanmelding, the OPP within six weeks of the placement, the OPP's yearly evaluation.
DeadlineAbout = Literal["zorgplicht-decision", "opp-after-placement", "opp-evaluation"]
# The parents' say on the OPP's handelingsdeel (WPO art. 40a lid 4, WEC art. 41a lid 4).
HandelingsdeelConsent = Literal["granted", "refused", "pending"]


class Party(ContractModel):
    """A professional party: organisation, role and contact point, in clear."""

    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80, description="e.g. ib-er, consulent")]
    contact: Annotated[str, Field(min_length=1, max_length=200, description="Whom to call")]


class FundingShare(ContractModel):
    """Who pays which share of an arrangement (percentages of one split sum to 100)."""

    payer: Payer
    percent: Annotated[int, Field(ge=1, le=100)]


class Holder(ContractModel):
    """A holder of doorzettingsmacht (seed 004, decision 4), from the register under infra/."""

    partner: PartnerId
    function: Annotated[str, Field(min_length=1, max_length=120)]
    contact: Annotated[str, Field(min_length=1, max_length=200)]


class ExpertOpinion(ContractModel):
    """One of the two expert opinions (deskundigenadvies) the SWV obtains before it decides on a
    TLV (WPO art. 18a lid 6; see docs/domain.md): who advised (the discipline) and
    when; what the expert said stays sealed in the TLV's `advice`."""

    discipline: Code = Field(description="e.g. orthopedagoog, psycholoog, kinderarts, psychiater")
    given_on: date


class ScheduleStep(ContractModel):
    """From `from_on`, the pupil attends `hours_per_week` hours of education (Variawet)."""

    from_on: date
    hours_per_week: Annotated[float, Field(gt=0, le=40)]


# Sealed details, one model per decision; the partner seals them into `data.sealed`.


class SupportRequestDetails(ContractModel):
    question: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)]
    tried_so_far: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)] = ""


class TlvDetails(ContractModel):
    grounds: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)]
    advice: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)] = ""


class OppDetails(ContractModel):
    goals: Annotated[list[str], Field(max_length=40), SealedUnder(Purpose.SUPPORT)]
    support_hours_per_week: Annotated[float, Field(ge=0, le=40), SealedUnder(Purpose.SUPPORT)]
    perspective: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.SUPPORT)] = ""
    diagnoses: Annotated[list[str], Field(max_length=20), SealedUnder(Purpose.SUPPORT)] = []


class YouthCareDetails(ContractModel):
    product: Annotated[str, Field(max_length=80), SealedUnder(Purpose.YOUTH_CARE)]
    care: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.YOUTH_CARE)] = ""
    diagnoses: Annotated[list[str], Field(max_length=20), SealedUnder(Purpose.YOUTH_CARE)] = []


class ArrangementDetails(ContractModel):
    description: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)]
    goals: Annotated[list[str], Field(max_length=40), SealedUnder(Purpose.SUPPORT)] = []


class ReducedTimeDetails(ContractModel):
    why_needed: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)]
    programme: Annotated[str, Field(max_length=4000), SealedUnder(Purpose.SUPPORT)] = ""


# Event data


class SupportRequestedData(EventData):
    request_id: uuid.UUID
    school: Party
    swv: PartnerId
    requested_on: date
    kind: Code = Field(description="Kind of support asked (grey-area scheme code)")


class TlvIssuedData(EventData):
    tlv_id: uuid.UUID
    beschikkingsnummer: Annotated[str, Field(min_length=1, max_length=40)]
    swv_number: Annotated[str, Field(min_length=1, max_length=20, description="tlvswvnummer")]
    categorie: TlvCategory
    start_on: date
    end_on: date
    swv: Party
    school: PartnerId | None = None
    request_id: uuid.UUID | None = None
    expert_opinions: Annotated[list[ExpertOpinion], Field(max_length=4)] = Field(
        default_factory=list, description="The two expert opinions the decision rests on"
    )


class OppDrawnUpData(EventData):
    opp_id: uuid.UUID
    school: PartnerId
    regie: Party = Field(description="Who holds regie on the OPP (the IB'er)")
    drawn_up_on: date
    review_dates: Annotated[list[date], Field(min_length=1, max_length=12)]
    parents_consulted_on: date | None = Field(
        default=None,
        description="The op overeenstemming gericht overleg with the parents (required)",
    )
    handelingsdeel_consent: HandelingsdeelConsent = Field(
        default="pending", description="The parents' consent on the handelingsdeel"
    )


class HandelingsdeelConsentedData(EventData):
    """The parents' answer on the OPP's handelingsdeel, after the OPP was drawn up."""

    opp_id: uuid.UUID
    school: PartnerId
    answered_on: date
    granted: bool


class AanmeldingReceivedData(EventData):
    """The parents applied in writing at the school (aanmelding): the school's zorgplicht starts
    and it decides within the period of the rules (`decide_by`, set by the backbone)."""

    aanmelding_id: uuid.UUID
    school: Party
    received_on: date
    extra_support: bool = Field(
        default=True, description="The parents think the child needs extra support"
    )
    tlv_id: uuid.UUID | None = Field(
        default=None, description="A special school: the TLV the aanmelding rests on"
    )
    transition: Transition | None = Field(
        default=None,
        description="The child changes school (po-vo, so-vo, …): with an OPP or a running "
        "arrangement at its current school, the backbone starts the handover",
    )
    decide_by: date | None = Field(default=None, description="Set by the backbone")


class DecisionPeriodExtendedData(EventData):
    """The school extends its decision period once (reason sealed under `support`)."""

    aanmelding_id: uuid.UUID
    school: PartnerId
    extended_on: date
    decide_by: date | None = Field(default=None, description="Set by the backbone")


class PlacementDecidedData(EventData):
    """The school's decision on an aanmelding: placed (from `placed_on`), or not, with the school
    that will admit the child instead (zorgplicht)."""

    aanmelding_id: uuid.UUID
    school: PartnerId
    decided_on: date
    placed: bool
    placed_on: date | None = None
    other_school: PartnerId | None = Field(
        default=None, description="Not placed: the school that admits the child instead"
    )
    opp_due_on: date | None = Field(
        default=None, description="Set by the backbone: the OPP within six weeks of placement"
    )


class HandoverNeededData(EventData):
    """A child with an OPP or a running arrangement at one school is aangemeld or enrolled at
    another: the handover starts by itself (the handover service starts `handover_id`), planned
    by the day the new school decides on the aanmelding (or by the enrolment)."""

    handover_id: uuid.UUID
    aanmelding_id: uuid.UUID | None = Field(
        default=None, description="The aanmelding it follows; none: it follows an enrolment"
    )
    transition: Transition
    sender: Organisation = Field(description="The current school, with its OPP or arrangement")
    receiver: PartnerId
    swv: PartnerId | None = None
    planned_on: date
    because: Annotated[list[Literal["opp", "arrangement"]], Field(min_length=1, max_length=2)]


class DeadlinePassedData(EventData):
    about: DeadlineAbout
    ref_id: uuid.UUID
    deadline: date
    to: list[PartnerId]


class YouthCareDecidedData(EventData):
    decision_id: uuid.UUID
    beschikkingsnummer: Annotated[str, Field(min_length=1, max_length=40)]
    access_team: Party = Field(description="The deciding access team: whom a school calls")
    provider: Party
    start_on: date
    end_on: date
    regie: Party = Field(description="Who holds regie on the youth-care part (municipality)")


class ArrangementAgreedData(EventData):
    arrangement_id: uuid.UUID
    kind: Code
    region: Code
    parties: Annotated[list[Party], Field(min_length=2, max_length=12)]
    start_on: date
    end_on: date
    funding: list[FundingShare] | None = Field(
        default=None, description="The split; none: the decision scheme decides"
    )
    funding_basis: Literal["agreed", "scheme"] = "agreed"


class FundingDisputedData(EventData):
    dispute_id: uuid.UUID
    arrangement_id: uuid.UUID
    raised_by: PartnerId
    raised_on: date
    proposed: list[FundingShare] | None = None


class DisputeEscalatedData(EventData):
    dispute_id: uuid.UUID
    arrangement_id: uuid.UUID
    region: Code
    holders: list[Holder]
    escalated_on: date
    deadline: date


class DisputeDecidedData(EventData):
    dispute_id: uuid.UUID
    arrangement_id: uuid.UUID
    decided_by: PartnerId
    decided_on: date
    funding: Annotated[list[FundingShare], Field(min_length=1, max_length=3)]


class DisputeDeadlinePassedData(EventData):
    dispute_id: uuid.UUID
    arrangement_id: uuid.UUID
    deadline: date
    holders: list[Holder]


class ReducedTeachingTimeRequestedData(EventData):
    request_id: uuid.UUID
    school: PartnerId
    opp_id: uuid.UUID
    requested_on: date
    hours_per_week: Annotated[float, Field(gt=0, le=40, description="Hours of education a week")]
    start_on: date
    end_on: date
    back_to_full_time: Annotated[list[ScheduleStep], Field(min_length=1, max_length=20)]
    earlier_request: bool = False


class RegieChangedData(EventData):
    domain: RegieDomain
    ref_id: uuid.UUID = Field(description="The OPP or youth-care decision")
    regie: Party
    changed_on: date


class ReminderDueData(EventData):
    about: ReminderAbout
    ref_id: uuid.UUID
    due_on: date
    to: list[PartnerId]


def record_scope(kind: str, record_id: uuid.UUID) -> str:
    """The basis id of a relation on one record (`opp/<id>`), which is also the scope of the
    record's support or youth_care key (infra/relations.yaml)."""
    return f"{kind}/{record_id}"


def _rel(
    partners: list[str], basis_id: str, basis: str = RELATION_BASIS, until: date | None = None
) -> list[RelationChange]:
    return [
        RelationChange(p, basis, basis_id, active=True, until=until)
        for p in dict.fromkeys(partners)
    ]


class ArrangementsContract(CloudEvent[DataT], domain="arrangements"):
    """An event of the arrangements domain: `nl.ketenbus.arrangements.<name>.v<version>`."""


class SupportRequested(ArrangementsContract[SupportRequestedData], name="support-requested"):
    """The school (IB'er) asks the SWV for support beyond basic support."""

    sealed_models = (SupportRequestDetails,)

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        return _rel([d.school.partner, d.swv], record_scope("request", d.request_id))


class TlvIssued(ArrangementsContract[TlvIssuedData], name="tlv-issued"):
    """The SWV issued a toelaatbaarheidsverklaring (OSO: beschikkingsnummer, categorie, dates)."""

    sealed_models = (TlvDetails,)

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        parties = [d.swv.partner] + ([d.school] if d.school else [])
        return _rel(parties, record_scope("tlv", d.tlv_id), until=d.end_on)


class OppDrawnUp(ArrangementsContract[OppDrawnUpData], name="opp-drawn-up"):
    """The school drew up (or revised) the OPP; the IB'er holds regie on it."""

    sealed_models = (OppDetails,)

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        scope = record_scope("opp", d.opp_id)
        return _rel([d.school], scope) + _rel([d.regie.partner], scope, REGIE_BASIS)


class YouthCareDecided(ArrangementsContract[YouthCareDecidedData], name="youth-care-decided"):
    """The access team decided on youth care (beschikking): product sealed, period in clear."""

    sealed_models = (YouthCareDetails,)

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        scope = record_scope("youth-care", d.decision_id)
        parties = [d.access_team.partner, d.provider.partner]
        return _rel(parties, scope, YOUTH_CARE_BASIS, until=d.end_on) + _rel(
            [d.regie.partner], scope, REGIE_BASIS, until=d.end_on
        )


class ArrangementAgreed(ArrangementsContract[ArrangementAgreedData], name="arrangement-agreed"):
    """A combined education-care arrangement (OZA) with its funding split; support starts."""

    sealed_models = (ArrangementDetails,)

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        return _rel(
            [p.partner for p in d.parties],
            record_scope("arrangement", d.arrangement_id),
            until=d.end_on,
        )


class FundingDisputed(ArrangementsContract[FundingDisputedData], name="funding-disputed"):
    """A party disagrees about who pays; support goes on, the dispute is its own track."""


class DisputeEscalated(ArrangementsContract[DisputeEscalatedData], name="dispute-escalated"):
    """The dispute went to the region's holders of doorzettingsmacht, with a deadline."""

    def relation_changes(self) -> list[RelationChange]:
        """Each holder may see the child's plan to decide (no sealed section)."""
        d = self.data
        scope = record_scope("dispute", d.dispute_id)
        return _rel([h.partner for h in d.holders], scope, DISPUTE_HOLDER_BASIS)


class DisputeDecided(ArrangementsContract[DisputeDecidedData], name="dispute-decided"):
    """A holder of doorzettingsmacht decided who pays."""

    def relation_changes(self) -> list[RelationChange]:
        """The holders' relation on the dispute ends (the rules add a grace period)."""
        scope = record_scope("dispute", self.data.dispute_id)
        return [RelationChange(None, DISPUTE_HOLDER_BASIS, scope, active=False)]


class DisputeDeadlinePassed(
    ArrangementsContract[DisputeDeadlinePassedData], name="dispute-deadline-passed"
):
    """The escalation's deadline passed without a decision."""


class ReducedTeachingTimeRequested(
    ArrangementsContract[ReducedTeachingTimeRequestedData], name="reduced-teaching-time-requested"
):
    """Variawet: the school board asks the inspectorate to deviate from teaching time; needs
    an OPP, hours a week, a period and the schedule back to full time."""

    sealed_models = (ReducedTimeDetails,)


class RegieChanged(ArrangementsContract[RegieChangedData], name="regie-changed"):
    """Someone else now holds regie on an OPP or on a youth-care decision."""

    def relation_changes(self) -> list[RelationChange]:
        """The previous holder's regie relation ends (a party's own relation on the record
        stays); the new holder's starts."""
        d = self.data
        scope = record_scope("opp" if d.domain == "opp" else "youth-care", d.ref_id)
        ended = RelationChange(None, REGIE_BASIS, scope, active=False)
        return [ended, *_rel([d.regie.partner], scope, REGIE_BASIS)]


class ReminderDue(ArrangementsContract[ReminderDueData], name="reminder-due"):
    """A review date, an expiry or a deadline is near (TLV renewal, OPP review, …)."""


class HandelingsdeelConsented(
    ArrangementsContract[HandelingsdeelConsentedData], name="handelingsdeel-consented"
):
    """The parents granted or refused their consent on the OPP's handelingsdeel."""


class AanmeldingReceived(ArrangementsContract[AanmeldingReceivedData], name="aanmelding-received"):
    """A school received the parents' written aanmelding: its zorgplicht and its clock start."""


class DecisionPeriodExtended(
    ArrangementsContract[DecisionPeriodExtendedData], name="decision-period-extended"
):
    """The school extended its decision period on an aanmelding (once)."""


class PlacementDecided(ArrangementsContract[PlacementDecidedData], name="placement-decided"):
    """The school decided on an aanmelding: placed, or another school admits the child."""


class HandoverNeeded(ArrangementsContract[HandoverNeededData], name="handover-needed"):
    """A child with an OPP or running arrangement changes school: the handover starts itself."""


class DeadlinePassed(ArrangementsContract[DeadlinePassedData], name="deadline-passed"):
    """A legal deadline passed: no decision on an aanmelding, no OPP six weeks after the
    placement, no evaluation of the OPP within a year."""


# What partners decide and publish (`in.<partner>.arrangements.<name>`), and besides those
# what the service records by itself: escalations, reminders and deadlines passed.
InboundArrangements = (
    SupportRequested
    | TlvIssued
    | OppDrawnUp
    | YouthCareDecided
    | ArrangementAgreed
    | FundingDisputed
    | DisputeDecided
    | ReducedTeachingTimeRequested
    | RegieChanged
    | HandelingsdeelConsented
    | AanmeldingReceived
    | DecisionPeriodExtended
    | PlacementDecided
)
InboundArrangementsEvent = Annotated[InboundArrangements, Field(discriminator="type")]
ArrangementsEvent = Annotated[
    InboundArrangements
    | DisputeEscalated
    | DisputeDeadlinePassed
    | ReminderDue
    | DeadlinePassed
    | HandoverNeeded,
    Field(discriminator="type"),
]

# Every event the arrangements service publishes.
PUBLISHED = event_classes(ArrangementsEvent)

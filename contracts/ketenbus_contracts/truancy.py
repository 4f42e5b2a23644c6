"""Truancy contracts (Leerplichtwet 1969 art. 18, 21, 21a; Besluit verzuimmelding; seed 001 F).

Inbound (partner → backbone), `in.<partner>.truancy.<event>`:
- a school enrols or de-enrols a pupil (`pupil-enrolled`, `pupil-de-enrolled`; the EDEXML
  import derives them from successive exports) and records absences (`absence-recorded`, the
  LAS CSV import publishes the same event);
- a school files a verzuimmelding the rules cannot see (`verzuim-filed`: luxeverzuim,
  signaalverzuim);
- the municipality's population feed says a child of compulsory-education age lives in the
  region (`resident-registered`); the SWV gives its advice on an exemption
  (`swv-advice-given`); leerplicht grants exemptions (`exemption-granted.v2`: the article of
  the Leerplichtwet, the statement of art. 7 where the law asks it) and answers reports
  (`report-answered`); a school or the SWV makes a thuiszitter a fitting offer (`offer-made`),
  which may fail (`offer-failed`: the three-month clock starts again); the local integral
  meeting or the thuiszitterstafel records its decision (`thuiszitter-decision-recorded`).
Outbound (truancy service), `ketenbus.truancy.<event>.v<n>`: the inbound events it accepted
(relayed under the partner's event id), and what the rules decide: `verzuim-report-due` (the
DUO verzuimmelding fields; unauthorised absence only), `jgz-referral-due` (long absence
reported as authorised: the JGZ's route, MAZL, not leerplicht's), `thuiszitter-registered` /
`thuiszitter-ended` (categories 1 and 2), `integral-meeting-due` (the local integral meeting
before escalation) and `three-month-rule-reached` (warning, then escalation to the
thuiszitterstafel with the SWV).

Who the child is (`identity`) and what the absence was about (`attendance`) are sealed; dates,
hours, organisation codes and coded categories that planning and the regional monitor need are
in clear.
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
from ketenbus_contracts.handover import Transition
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SealedUnder

Brin = Annotated[str, Field(pattern=r"^[0-9]{2}[A-Z]{2}([0-9]{2})?$", description="BRIN (+ vest.)")]
RegionCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$", description="Region id")]
Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")]

ENROLMENT = "enrolment"
VERZUIMMELDING = "verzuimmelding"


class PupilIdentity(ContractModel):
    """Who the pupil is: sealed under `identity`, never in clear."""

    bsn: Annotated[str | None, Field(pattern=r"^[0-9]{9}$"), SealedUnder(Purpose.IDENTITY)] = None
    pupil_key: Annotated[str | None, Field(max_length=64), SealedUnder(Purpose.IDENTITY)] = None
    name: Annotated[str | None, Field(max_length=200), SealedUnder(Purpose.IDENTITY)] = None
    birth_date: Annotated[date | None, SealedUnder(Purpose.IDENTITY)] = None


class AbsenceDetails(ContractModel):
    """What an absence was about: sealed under `attendance` (school and leerplicht)."""

    reason_code: Annotated[Code, SealedUnder(Purpose.ATTENDANCE)]
    notes: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.ATTENDANCE)] = ""


class ExemptionDetails(ContractModel):
    """Why an exemption was granted: sealed under `attendance`."""

    motivation: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.ATTENDANCE)] = ""


# inbound data


class PupilEnrolledData(EventData):
    school: PartnerId
    brin: Brin
    region: RegionCode
    enrolled_on: date
    transition: Transition | None = Field(
        default=None,
        description="The child changes school (po-vo, so-vo, …): with an OPP or a running "
        "arrangement at its current school, the backbone starts the handover",
    )


class PupilDeEnrolledData(EventData):
    school: PartnerId
    brin: Brin
    region: RegionCode
    de_enrolled_on: date


class AbsenceRecordedData(EventData):
    absence_id: uuid.UUID
    school: PartnerId
    brin: Brin
    region: RegionCode
    on: date
    hours: Annotated[float, Field(gt=0, le=12, description="Hours absent on that day")]
    lessons: Annotated[int | None, Field(ge=1, le=16, description="Lesson periods missed")] = None
    authorised: bool


class ResidentRegisteredData(EventData):
    """From the municipal population feed: a child of compulsory-education age lives here."""

    municipality: PartnerId
    region: RegionCode
    registered_on: date
    compulsory_until: date


ExemptionArticle = Literal["5a", "5b", "15"]
SwvAdvice = Literal["positief", "negatief"]
# Leerplichtwet 1969: "5a", "5b", "5c" are art. 5 onder a (lichamelijke of psychische gronden,
# with the statement of art. 7), onder b (bedenkingen tegen de richting) and onder c
# (ingeschreven bij een school buiten Nederland); "5a-trekkend" is art. 5a (trekkend bestaan);
# "3a" and "3b" are partial exemptions (hours a week); "15" is art. 15 (another form of
# education for the qualification duty).
ExemptionArticleV2 = Literal["5a", "5b", "5c", "5a-trekkend", "3a", "3b", "15"]
StatementBy = Literal["arts", "psycholoog", "orthopedagoog-generalist"]


class Article7Statement(ContractModel):
    """Leerplichtwet art. 7: the statement of a doctor, psychologist or orthopedagogue that an
    exemption under art. 5 onder a rests on (who gave it and when; its content stays sealed)."""

    by: StatementBy
    issued_on: date
    never_fit: bool = Field(
        default=False,
        description="The statement says the child will never be fit to attend a school: no "
        "yearly renewal (Leerplichtwet art. 6 lid 3)",
    )


class ExemptionGrantedData(EventData):
    exemption_id: uuid.UUID
    leerplicht: PartnerId
    region: RegionCode
    article: ExemptionArticle
    swv_advice: SwvAdvice | None = None
    valid_from: date
    valid_until: date | None = None


class ExemptionGrantedV2Data(EventData):
    """Leerplicht's exemption: the article, the art. 7 statement where asked, the hours a week
    of a partial exemption. The SWV's advice is the SWV's own event (`swv-advice-given`)."""

    exemption_id: uuid.UUID
    leerplicht: PartnerId
    region: RegionCode
    article: ExemptionArticleV2
    statement: Article7Statement | None = None
    hours_per_week: Annotated[
        float | None, Field(gt=0, le=40, description="Partial exemptions (3a, 3b): hours a week")
    ] = None
    valid_from: date
    valid_until: date | None = Field(
        default=None,
        description="Articles renewed yearly end with the school year (31 July) at the latest",
    )


class SwvAdviceGivenData(EventData):
    """The SWV's advice on an exemption (art. 5 onder a), given by the SWV itself."""

    advice_id: uuid.UUID
    swv: PartnerId
    region: RegionCode
    article: ExemptionArticleV2
    advice: SwvAdvice
    given_on: date


FiledKind = Literal["luxe", "signaal"]


class VerzuimFiledData(EventData):
    """A school files a verzuimmelding the hour counts cannot see (Besluit verzuimmelding):
    luxeverzuim (leave without permission), signaalverzuim (a worrying pattern below 16 hours)."""

    report_id: uuid.UUID
    school: PartnerId
    brin: Brin
    region: RegionCode
    kind: FiledKind
    begin_on: date
    end_on: date
    hours_unauthorised: Annotated[float, Field(ge=0, le=500)]
    lessons_missed: Annotated[int, Field(ge=0, le=5000)] = 0
    action_taken: str = Field(max_length=200)
    municipal_action_wanted: bool
    absence_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)


ReportStatus = Literal["in-behandeling", "afgesloten"]


class ReportAnsweredData(EventData):
    report_id: uuid.UUID
    leerplicht: PartnerId
    status: ReportStatus
    answered_on: date
    closed_reason: Code | None = Field(default=None, description="Coded, when afgesloten")
    home_reason: Code | None = Field(
        default=None, description="Coded reason for being at home (for the regional monitor)"
    )


class OfferMadeData(EventData):
    offer_id: uuid.UUID
    by: PartnerId
    offered_on: date


class OfferFailedData(EventData):
    """A fitting offer did not work out: the three-month clock starts again on `failed_on`."""

    offer_id: uuid.UUID
    by: PartnerId
    failed_on: date


Forum = Literal["integraal-overleg", "thuiszitterstafel"]


class ThuiszitterDecisionRecordedData(EventData):
    """The outcome of the local integral meeting or of the thuiszitterstafel, as a decision."""

    decision_id: uuid.UUID
    by: PartnerId
    region: RegionCode
    forum: Forum
    outcome: Code
    decided_on: date


# outbound data

VerzuimKind = Literal["luxe", "beginnend", "signaal", "16-uur", "maand-of-langer"]


class VerzuimReportDueData(EventData):
    """The DUO verzuimmelding (Besluit verzuimmelding art. 2): the pupil is the event subject."""

    report_id: uuid.UUID
    school: PartnerId
    brin: Brin
    region: RegionCode
    leerplicht: PartnerId
    begin_on: date
    end_on: date
    kind: VerzuimKind
    hours_unauthorised: float
    hours_absent: float
    lessons_missed: int
    action_taken: str = Field(max_length=200)
    municipal_action_wanted: bool
    contact: str = Field(max_length=200)
    # The reasons are in the absences' sealed `attendance` sections; the report gives the
    # reader (leerplicht, who gets a relation with the child by this report) the list to open.
    absence_ids: list[uuid.UUID]


ThuiszitterCategory = Literal[1, 2]


class ThuiszitterRegisteredData(EventData):
    region: RegionCode
    category: ThuiszitterCategory
    since: date
    absolute: bool = Field(description="Category 2 without any attendance in the window")
    school: PartnerId | None = None
    home_reason: Code = "onbekend"
    municipality: PartnerId | None = Field(
        default=None,
        description="The municipality the child lives in (from the population feed), for the "
        "monitor per municipality; absent when the population feed did not register the child",
    )
    notify: list[PartnerId] = Field(
        default_factory=list,
        description="Told on their feeds besides the partners related to the child: the "
        "region's leerplicht, which acts on every thuiszitter of its region (one of category 1 "
        "has no school to report it)",
    )


class ThuiszitterEndedData(EventData):
    region: RegionCode
    category: ThuiszitterCategory
    ended_on: date
    reason: Code


class JgzReferralDueData(EventData):
    """Long absence the school reported as authorised (illness): the JGZ's route (medische
    advisering ziek gemelde leerlingen, MAZL), not a verzuimmelding to leerplicht."""

    region: RegionCode
    school: PartnerId
    jgz: PartnerId
    since: date
    weeks: int
    hours_absent: float
    notify: list[PartnerId]


class IntegralMeetingDueData(EventData):
    """Seed 000 §3.4: a thuiszitter without a fitting offer goes to the local integral meeting
    of education and youth care before the three-month rule escalates."""

    region: RegionCode
    since: date
    days_at_home: int
    deadline: date
    notify: list[PartnerId]


ThreeMonthStage = Literal["warning", "escalated"]


class ThreeMonthRuleReachedData(EventData):
    region: RegionCode
    stage: ThreeMonthStage
    since: date
    days_at_home: int
    deadline: date = Field(description="The day the child would be three months at home")
    notify: list[PartnerId]


class TruancyContract(CloudEvent[DataT], domain="truancy"):
    """An event of the truancy domain: `nl.ketenbus.truancy.<name>.v<version>`."""


class PupilEnrolled(TruancyContract[PupilEnrolledData], name="pupil-enrolled"):
    """A school enrolled a pupil: the school has a relation with the child."""

    sealed_models = (PupilIdentity,)

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(self.data.school, ENROLMENT, self.data.brin, active=True)]


class PupilDeEnrolled(TruancyContract[PupilDeEnrolledData], name="pupil-de-enrolled"):
    """A school de-enrolled a pupil: its enrolment relation ends."""

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(self.data.school, ENROLMENT, self.data.brin, active=False)]


class AbsenceRecorded(TruancyContract[AbsenceRecordedData], name="absence-recorded"):
    """A school recorded an absence of one day (hours, lesson periods, authorised or not)."""

    sealed_models = (AbsenceDetails,)


class ResidentRegistered(TruancyContract[ResidentRegisteredData], name="resident-registered"):
    """The municipal population feed: a child of compulsory-education age lives in the region."""


class ExemptionGranted(TruancyContract[ExemptionGrantedData], name="exemption-granted"):
    """Superseded by v2 (leerplicht asserted the SWV's advice): taken only as published before."""

    sealed_models = (ExemptionDetails,)


class ReportAnswered(TruancyContract[ReportAnsweredData], name="report-answered"):
    """Leerplicht's answer to a verzuimmelding: in behandeling, or afgesloten with a reason."""


class OfferMade(TruancyContract[OfferMadeData], name="offer-made"):
    """A school or the SWV made a thuiszitter a fitting offer (stops the three-month clock)."""


class ExemptionGrantedV2(
    TruancyContract[ExemptionGrantedV2Data], name="exemption-granted", version=2
):
    """Leerplicht granted an exemption under an article of the Leerplichtwet (5 onder a, b, c,
    5a, 3a, 3b, 15), with the art. 7 statement where asked; the SWV's advice is its own."""

    sealed_models = (ExemptionDetails,)


class SwvAdviceGiven(TruancyContract[SwvAdviceGivenData], name="swv-advice-given"):
    """The SWV gave its advice on an exemption (art. 5 onder a)."""


class VerzuimFiled(TruancyContract[VerzuimFiledData], name="verzuim-filed"):
    """A school filed a luxeverzuim or signaalverzuim report (the service makes it due)."""


class OfferFailed(TruancyContract[OfferFailedData], name="offer-failed"):
    """A fitting offer failed: the three-month clock starts again."""


class ThuiszitterDecisionRecorded(
    TruancyContract[ThuiszitterDecisionRecordedData], name="thuiszitter-decision-recorded"
):
    """The local integral meeting or the thuiszitterstafel recorded its decision."""


class JgzReferralDue(TruancyContract[JgzReferralDueData], name="jgz-referral-due"):
    """Long absence reported as authorised: the school and the JGZ's route (MAZL)."""


class IntegralMeetingDue(TruancyContract[IntegralMeetingDueData], name="integral-meeting-due"):
    """A thuiszitter without a fitting offer goes to the local integral meeting."""


class VerzuimReportDue(TruancyContract[VerzuimReportDueData], name="verzuim-report-due"):
    """A verzuimmelding is due to leerplicht (and DUO's verzuimregister), without delay."""

    def relation_changes(self) -> list[RelationChange]:
        """Leerplicht handles the report: a relation on what the reporting school wrote (its
        writer scope, where the reported absences are sealed), not on the child as a whole."""
        school = self.data.school
        return [RelationChange(self.data.leerplicht, VERZUIMMELDING, school, active=True)]


class ThuiszitterRegistered(
    TruancyContract[ThuiszitterRegisteredData], name="thuiszitter-registered"
):
    """A child counts as thuiszitter: category 1 (absolute verzuim) or 2 (long relative)."""


class ThuiszitterEnded(TruancyContract[ThuiszitterEndedData], name="thuiszitter-ended"):
    """A child no longer counts as thuiszitter (enrolled, back at school, offer, exemption)."""


class ThreeMonthRuleReached(
    TruancyContract[ThreeMonthRuleReachedData], name="three-month-rule-reached"
):
    """A thuiszitter nears three months at home without an offer: warn, then escalate."""


# A partner's exemption-granted.v1 asserted the SWV's advice itself: leerplicht publishes v2.
# v1 is still read inbound, so a stream or store holding v1 replays: the service takes one
# published before the region's cut-over as it was and refuses a later one.
InboundTruancy = (
    PupilEnrolled
    | PupilDeEnrolled
    | AbsenceRecorded
    | VerzuimFiled
    | ResidentRegistered
    | SwvAdviceGiven
    | ExemptionGranted
    | ExemptionGrantedV2
    | ReportAnswered
    | OfferMade
    | OfferFailed
    | ThuiszitterDecisionRecorded
)
InboundTruancyEvent = Annotated[InboundTruancy, Field(discriminator="type")]
TruancyEvent = Annotated[
    PupilEnrolled
    | PupilDeEnrolled
    | ResidentRegistered
    | SwvAdviceGiven
    | ExemptionGranted
    | ExemptionGrantedV2
    | ReportAnswered
    | OfferMade
    | OfferFailed
    | ThuiszitterDecisionRecorded
    | VerzuimReportDue
    | JgzReferralDue
    | ThuiszitterRegistered
    | ThuiszitterEnded
    | IntegralMeetingDue
    | ThreeMonthRuleReached,
    Field(discriminator="type"),
]

# What the truancy service publishes on `ketenbus.truancy.*` (absences are not relayed, nor
# the school's filing: the verzuimmelding it makes due is).
OUTBOUND = event_classes(TruancyEvent)

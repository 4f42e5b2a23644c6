"""Truancy contracts (Leerplichtwet 1969 art. 18, 21, 21a; Besluit verzuimmelding; seed 001 F).

Inbound (partner → backbone), `in.<partner>.truancy.<event>`:
- a school enrols or de-enrols a pupil (`pupil-enrolled`, `pupil-de-enrolled`; the EDEXML
  import derives them from successive exports) and records absences (`absence-recorded`, the
  LAS CSV import publishes the same event);
- the municipality's population feed says a child of compulsory-education age lives in the
  region (`resident-registered`); leerplicht grants exemptions (`exemption-granted`) and answers
  reports (`report-answered`); a school or the SWV makes a thuiszitter a fitting offer
  (`offer-made`).
Outbound (truancy service), `ketenbus.truancy.<event>.v1`: the inbound events it accepted
(relayed under the partner's event id), and what the rules decide: `verzuim-report-due` (the
DUO verzuimmelding fields), `thuiszitter-registered` / `thuiszitter-ended` (categories 1 and 2)
and `three-month-rule-reached` (warning, then escalation to the thuiszitterstafel).

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


class ExemptionGrantedData(EventData):
    exemption_id: uuid.UUID
    leerplicht: PartnerId
    region: RegionCode
    article: ExemptionArticle
    swv_advice: SwvAdvice | None = None
    valid_from: date
    valid_until: date | None = None


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

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(self.data.school, ENROLMENT, self.data.brin, active=True)]


class PupilDeEnrolled(TruancyContract[PupilDeEnrolledData], name="pupil-de-enrolled"):
    """A school de-enrolled a pupil: its enrolment relation ends."""

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(self.data.school, ENROLMENT, self.data.brin, active=False)]


class AbsenceRecorded(TruancyContract[AbsenceRecordedData], name="absence-recorded"):
    """A school recorded an absence of one day (hours, lesson periods, authorised or not)."""


class ResidentRegistered(TruancyContract[ResidentRegisteredData], name="resident-registered"):
    """The municipal population feed: a child of compulsory-education age lives in the region."""


class ExemptionGranted(TruancyContract[ExemptionGrantedData], name="exemption-granted"):
    """Leerplicht granted an exemption (art. 5a, 5b or 15), with the SWV's advice where required."""


class ReportAnswered(TruancyContract[ReportAnsweredData], name="report-answered"):
    """Leerplicht's answer to a verzuimmelding: in behandeling, or afgesloten with a reason."""


class OfferMade(TruancyContract[OfferMadeData], name="offer-made"):
    """A school or the SWV made a thuiszitter a fitting offer (stops the three-month clock)."""


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


InboundTruancyEvent = Annotated[
    PupilEnrolled
    | PupilDeEnrolled
    | AbsenceRecorded
    | ResidentRegistered
    | ExemptionGranted
    | ReportAnswered
    | OfferMade,
    Field(discriminator="type"),
]
TruancyEvent = Annotated[
    PupilEnrolled
    | PupilDeEnrolled
    | ResidentRegistered
    | ExemptionGranted
    | ReportAnswered
    | OfferMade
    | VerzuimReportDue
    | ThuiszitterRegistered
    | ThuiszitterEnded
    | ThreeMonthRuleReached,
    Field(discriminator="type"),
]

# What the truancy service publishes on `ketenbus.truancy.*` (absences are not relayed).
OUTBOUND = event_classes(TruancyEvent)

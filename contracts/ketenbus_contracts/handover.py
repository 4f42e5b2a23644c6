"""Handover contracts: the warm handover (warme overdracht) at every transition.

One protocol for every transition (childcare → primary, primary → secondary, secondary → mbo,
to and from special education):

    handover-started → dossier-prepared → parents-viewed → consent-recorded (where the law asks
    it: from childcare; consent-withdrawn takes it back before delivery) → dossier-requested
    (by the receiving organisation, after the child's aanmelding or enrolment there)
    → dossier-delivered (a copy to the parents)
    → warm-conversation-held → handover-closed

Inbound (partner → backbone): `in.<partner>.handover.<event>`; outbound (handover service →
everyone entitled): `ketenbus.handover.<event>.v1`.

What the dossier says about the child is sealed under `handover`, one JWE per section, each
section tagged with its OSO category and its disclosure rule (VERPLICHT, OPT-UIT, VERBODEN). The
sections are sealed by the sending partner in its `dossier-prepared` event (bound to that event
id); the service's `dossier-delivered` carries only the sections that may leave, each naming the
event it was sealed in (`sealed_in`) so the receiver opens it with the handover key kluis
releases to it once it has the relation the delivery gives it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

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
from ketenbus_contracts.sealing import SealedUnder, SignedRequest

# Relation bases (infra/relations.yaml): the sender's own, the receiver the sender names, and
# the school a child with an OPP or arrangement is aangemeld at (an automatic handover).
HANDOVER_SENDER_BASIS = "handover-sender"
HANDOVER_RECEIVER_BASIS = "handover-receiver"
HANDOVER_AANMELDING_BASIS = "handover-aanmelding"

Transition = Literal[
    "ko-po",  # childcare / pre-school (kinderopvang, VVE) → primary
    "ko-so",  # childcare → special (primary) education
    "po-po",
    "po-vo",
    "po-so",  # primary → special education (SBO/SO)
    "so-po",
    "so-so",
    "so-vo",
    "so-mbo",
    "vo-vo",
    "vo-so",  # secondary → special secondary (VSO)
    "vo-mbo",
]
DisclosureRule = Literal["VERPLICHT", "OPT-UIT", "VERBODEN"]
Category = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="OSO category (cat_<name> without the prefix), or early-education",
    ),
]
Jwe = Annotated[str, Field(min_length=10, description="JWE compact serialisation")]
Contact = Annotated[
    str, Field(min_length=1, max_length=200, description="Contact point of the professional")
]


class Organisation(ContractModel):
    """A sending or receiving organisation and its contact for this handover, in clear."""

    partner: PartnerId
    contact: Contact


class DossierSection(ContractModel):
    """One category of the dossier, sealed under `handover`."""

    category: Category
    rule: DisclosureRule
    sealed: Jwe


class SectionInfo(ContractModel):
    """What the backbone tells about a prepared section: its category and rule, no content."""

    category: Category
    rule: DisclosureRule


class DeliveredSection(DossierSection):
    sealed_in: uuid.UUID = Field(description="The event id the section is bound to")


RunningKind = Literal["arrangement", "youth-care"]


class RunningSupport(ContractModel):
    """Support that runs at the transition; only a reference and whether the dossier carries it.

    What the support is stays in its own sealed sections (support, youth_care).
    """

    ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,80}$")]
    kind: RunningKind
    carried: bool = Field(description="The dossier carries it to the receiver")


class Enrolment(ContractModel):
    """The child is enrolled at the receiving organisation (a clear fact on the request)."""

    partner: PartnerId
    enrolled_on: date


class Aanmelding(ContractModel):
    """The parents applied (aanmelding) at the receiving school: from then on the school has its
    zorgplicht (WPO art. 40, WVO art. 2.14, WEC art. 40) and may ask for the dossier to decide on
    the support the child needs (a clear fact on the request)."""

    partner: PartnerId
    aangemeld_on: date


class Participant(ContractModel):
    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80, description="e.g. mentor, ib-er")]


# ---------------------------------------------------------------------------------------------
# sealed details


class ParentsViewDetails(ContractModel):
    """What the parents said when they viewed the dossier (sealed)."""

    reason_not_agreed: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.HANDOVER)] = ""


DevelopmentDomain = Literal[
    "taal", "rekenen", "motoriek", "sociaal-emotioneel", "zelfredzaamheid", "spel", "gezondheid"
]


class DomainObservation(ContractModel):
    domain: DevelopmentDomain
    level: Literal["naar-verwachting", "aandacht", "zorg"]
    notes: Annotated[str, Field(max_length=2000)] = ""


class EarlyEducationForm(ContractModel):
    """Childcare → primary: the early-education handover form (no national file format exists).

    Every field is sealed under `handover`; the form travels as the `early-education` section.
    """

    domains: Annotated[
        list[DomainObservation],
        Field(description="Development per domain"),
        SealedUnder(Purpose.HANDOVER),
    ]
    vve_programme: Annotated[
        str | None,
        Field(max_length=80, description="VVE programme, e.g. Piramide, Kaleidoscoop, Uk & Puk"),
        SealedUnder(Purpose.HANDOVER),
    ] = None
    vve_hours_per_week: Annotated[
        float | None, Field(ge=0, le=40), SealedUnder(Purpose.HANDOVER)
    ] = None
    attended_from: Annotated[date | None, SealedUnder(Purpose.HANDOVER)] = None
    what_helps: Annotated[
        str,
        Field(max_length=4000, description="What helps this child"),
        SealedUnder(Purpose.HANDOVER),
    ]
    parents_view: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.HANDOVER)] = ""


# ---------------------------------------------------------------------------------------------
# event data


class HandoverStartedData(EventData):
    handover_id: uuid.UUID
    transition: Transition
    sender: Organisation
    receiver: PartnerId | None = Field(default=None, description="When already known")
    swv: PartnerId | None = Field(default=None, description="The SWV escalations go to")
    planned_on: date
    pupil_decides: bool = Field(
        default=False, description="The pupil is 16 or older at the planned date: consents"
    )
    automatic: bool = Field(
        default=False,
        description="Started by the backbone: a child with an OPP or a running arrangement "
        "changing school (set by the backbone, never by a partner)",
    )


class DossierPreparedData(EventData):
    handover_id: uuid.UUID
    sections: list[DossierSection] = Field(default_factory=list)
    running: list[RunningSupport] = Field(default_factory=list)


class DossierPreparedInfoData(EventData):
    handover_id: uuid.UUID
    sections: list[SectionInfo]
    running: list[RunningSupport]


class DossierPreparedInfoV2Data(EventData):
    handover_id: uuid.UUID
    sections: list[DeliveredSection] = Field(
        description="Each section sealed under `handover` as the sender sealed it (no clear "
        "text), bound to the sender's event (`sealed_in`): the parents' inzage before it goes"
    )
    running: list[RunningSupport]


class ParentsViewedData(EventData):
    handover_id: uuid.UUID
    viewed_on: date
    agreed: bool
    opted_out: list[Category] = Field(default_factory=list, description="OPT-UIT categories")


class ConsentRecordedData(EventData):
    handover_id: uuid.UUID
    given_by: Literal["parents", "pupil"]
    granted: bool
    recorded_on: date


class ConsentWithdrawnData(EventData):
    """Consent given before is withdrawn (AVG art. 7 lid 3): the dossier no longer goes on it."""

    handover_id: uuid.UUID
    given_by: Literal["parents", "pupil"] = Field(description="Whose consent is withdrawn")
    withdrawn_on: date


class DossierRequestedData(EventData):
    handover_id: uuid.UUID
    receiver: Organisation
    enrolment: Enrolment | None = Field(
        default=None, description="The enrolment there (or the aanmelding: one is required)"
    )
    aanmelding: Aanmelding | None = Field(
        default=None, description="The aanmelding there, before enrolment (zorgplicht)"
    )
    requested_on: date


class DossierReleasedData(EventData):
    handover_id: uuid.UUID
    released_on: date
    parents_copy_on: date | None = Field(
        default=None,
        description="The day the parents got a copy (WPO art. 42, WEC art. 43): required "
        "where the rules give the parents a copy",
    )


class DossierDeliveredData(EventData):
    handover_id: uuid.UUID
    sender: PartnerId
    receiver: PartnerId
    delivered_on: date
    sections: list[DeliveredSection]
    withheld: list[SectionInfo] = Field(description="Sections that did not leave, and why (rule)")
    running: list[RunningSupport] = Field(default_factory=list)
    parents_copy_on: date | None = Field(default=None, description="The parents' copy")


class WarmConversationHeldData(EventData):
    handover_id: uuid.UUID
    held_on: date
    participants: list[Participant] = Field(min_length=2)


class HandoverClosedData(EventData):
    handover_id: uuid.UUID
    closed_on: date


class ContinuityGapFoundData(EventData):
    handover_id: uuid.UUID
    gaps: list[RunningSupport]
    found_on: date


class HandoverEscalatedData(EventData):
    handover_id: uuid.UUID
    level: int = Field(ge=1)
    to: Literal["sending-contact", "swv"]
    partner: PartnerId | None
    contact: str | None
    planned_on: date
    escalated_at: AwareDatetime


class DossierProcessingRecordedData(EventData):
    """A processing record (Logboek Dataverwerkingen shape) at handover level."""

    handover_id: uuid.UUID
    activity: str = Field(description="Processing activity id in the register, e.g. pa-handover")
    action: Literal["requested", "released"]
    actor: PartnerId
    at: AwareDatetime
    traceparent: str | None = None


# ---------------------------------------------------------------------------------------------
# events


class HandoverContract(CloudEvent[DataT], domain="handover"):
    """An event of the handover domain: `nl.ketenbus.handover.<name>.v<version>`."""


class HandoverStarted(HandoverContract[HandoverStartedData], name="handover-started"):
    """The sending organisation starts a handover of the child."""

    def relation_changes(self) -> list[RelationChange]:
        """The sender holds the dossier it prepares (handover basis). A handover the backbone
        started on an aanmelding also relates the school the child is aangemeld at, so it sees
        the handover and can ask for the dossier (its zorgplicht); that opens no section."""
        handover = str(self.data.handover_id)
        changes = [
            RelationChange(self.data.sender.partner, HANDOVER_SENDER_BASIS, handover, active=True)
        ]
        if self.data.automatic and self.data.receiver is not None:
            changes.append(
                RelationChange(self.data.receiver, HANDOVER_AANMELDING_BASIS, handover, True)
            )
        return changes


class DossierPrepared(HandoverContract[DossierPreparedData], name="dossier-prepared"):
    """The sender's dossier, per section sealed under `handover` (inbound only)."""

    def sealed_elsewhere(self) -> list[tuple[str, Purpose, str]]:
        """Each section of the dossier, sealed under `handover` bound to this event."""
        return [
            (f"data.sections.{n}.sealed", Purpose.HANDOVER, section.sealed)
            for n, section in enumerate(self.data.sections)
        ]


class DossierPreparedInfo(HandoverContract[DossierPreparedInfoData], name="dossier-prepared-info"):
    """Superseded by v2 (the sections sealed, for the parents' inzage): read, no longer sent."""


class DossierPreparedInfoV2(
    HandoverContract[DossierPreparedInfoV2Data], name="dossier-prepared-info", version=2
):
    """The dossier is prepared: its categories and rules, and each section still sealed under
    `handover` (outbound), for the linked parents' inzage before it goes."""


class ParentsViewed(HandoverContract[ParentsViewedData], name="parents-viewed"):
    """The parents viewed the dossier (inzage), agreed or not, and opted out of categories."""

    sealed_models = (ParentsViewDetails,)


class ConsentRecorded(HandoverContract[ConsentRecordedData], name="consent-recorded"):
    """Consent (toestemming) of the parents, or of the pupil from 16, granted or refused:
    recorded by the sender, or given by the linked parents themselves (their account)."""


class ConsentWithdrawn(HandoverContract[ConsentWithdrawnData], name="consent-withdrawn"):
    """Consent recorded before is withdrawn, by the linked parents themselves (their account)
    or recorded by the sender; a dossier not yet delivered no longer goes on it."""


class DossierRequested(HandoverContract[DossierRequestedData], name="dossier-requested"):
    """The receiving organisation, where the child is enrolled, requests the dossier."""


class DossierReleased(HandoverContract[DossierReleasedData], name="dossier-released"):
    """The sender releases the dossier to the receiver that requested it (inbound)."""


class DossierDelivered(HandoverContract[DossierDeliveredData], name="dossier-delivered"):
    """The sections that may leave, delivered to the receiver (outbound)."""

    def relation_changes(self) -> list[RelationChange]:
        """The receiver now has a relation with the child and gets the handover key."""
        return [
            RelationChange(
                self.data.receiver, HANDOVER_RECEIVER_BASIS, str(self.data.handover_id), active=True
            )
        ]


class WarmConversationHeld(
    HandoverContract[WarmConversationHeldData], name="warm-conversation-held"
):
    """The old and the new professional talked about the child (who, when)."""


class HandoverClosed(HandoverContract[HandoverClosedData], name="handover-closed"):
    """The handover is done."""

    def relation_changes(self) -> list[RelationChange]:
        """Sender and receiver relations on this handover end (the rules add a grace period)."""
        handover = str(self.data.handover_id)
        return [
            RelationChange(None, HANDOVER_SENDER_BASIS, handover, active=False),
            RelationChange(None, HANDOVER_RECEIVER_BASIS, handover, active=False),
            RelationChange(None, HANDOVER_AANMELDING_BASIS, handover, active=False),
        ]


class ContinuityGapFound(HandoverContract[ContinuityGapFoundData], name="continuity-gap-found"):
    """Running support the dossier does not carry: the plan shows it as a gap to resolve."""


class HandoverEscalated(HandoverContract[HandoverEscalatedData], name="handover-escalated"):
    """A handover not delivered by its planned date escalates (sender's contact, then SWV)."""


class DossierProcessingRecorded(
    HandoverContract[DossierProcessingRecordedData], name="dossier-processing-recorded"
):
    """Who requested, who released a dossier: a processing record."""


# What partners publish on `in.<partner>.handover.<name>`.
InboundHandover = (
    HandoverStarted
    | DossierPrepared
    | ParentsViewed
    | ConsentRecorded
    | ConsentWithdrawn
    | DossierRequested
    | DossierReleased
    | WarmConversationHeld
    | HandoverClosed
)
InboundHandoverEvent = Annotated[InboundHandover, Field(discriminator="type")]
HandoverEvent = Annotated[
    HandoverStarted
    | DossierPreparedInfo
    | DossierPreparedInfoV2
    | ContinuityGapFound
    | ParentsViewed
    | ConsentRecorded
    | ConsentWithdrawn
    | DossierRequested
    | DossierProcessingRecorded
    | DossierDelivered
    | WarmConversationHeld
    | HandoverClosed
    | HandoverEscalated,
    Field(discriminator="type"),
]

# What the handover service publishes on `ketenbus.handover.*` (for the AsyncAPI document).
OUTBOUND_HANDOVER_EVENTS = event_classes(HandoverEvent)


# ---------------------------------------------------------------------------------------------
# Signed attachment requests (NATS `ketenbus.attachment.put` / `ketenbus.attachment.get`)

ATTACHMENT_PUT_SUBJECT = "ketenbus.attachment.put"
ATTACHMENT_GET_SUBJECT = "ketenbus.attachment.get"
# The header that carries the request's JWS; a put's body is the chunk itself.
ATTACHMENT_REQUEST_HEADER = "Ketenbus-Request"
ATTACHMENT_REQUEST_TYP = "attachment-request+jws"
ATTACHMENT_NAME_PATTERN = (
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[A-Za-z0-9._-]{1,128}$"
)


class AttachmentRequest(SignedRequest):
    """A partner puts or gets one chunk of a sealed attachment of a handover, signed as a kluis
    request is (JWS compact, Ed25519, `kid` = the partner; `issued_at` within two minutes; a
    `nonce` answered once). Only the handover's sender puts; the sender, and the receiver once
    the dossier is delivered, get. A put binds its chunk by `sha256`."""

    op: Literal["put", "get"]
    handover_id: uuid.UUID
    name: str = Field(
        pattern=ATTACHMENT_NAME_PATTERN,
        description="`<id of the event the attachment was sealed in>/<OSO reference>`",
    )
    chunk: int = Field(ge=0, le=100_000)
    last: bool = Field(default=False, description="A put's last chunk: store the object")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="A put's chunk, hex"
    )

"""Integral-plan contracts: parties, regie, goals, agreements and actions on a child's plan.

Inbound (a plan party → backbone): `in.<partner>.plan.<event>`; outbound (integral-plan →
everyone entitled): `ketenbus.plan.<event>.v1`. Who takes part, who holds regie, who acts and
to whom they report by when is in clear (the plan is planned on it, like the Verwijsindex's
contact points); what a goal, agreement or action says about the child is sealed under `plan`.

Actions follow the OT/BT form of seed 003: "X does Y and reports back to B by date".

Queries on the plan are signed by the asking partner (`sign_plan_query`), as kluis's requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any, Literal

from joserfc.jwk import OKPKey
from pydantic import Field, TypeAdapter

from ketenbus_contracts.envelope import (
    PSEUDONYM_PATTERN,
    CloudEvent,
    ContractModel,
    DataT,
    EventData,
    PartnerId,
    RelationChange,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    KluisProtocolError,
    SealedUnder,
    SignedRequest,
    sign_request,
    verify_signed,
)
from ketenbus_contracts.signalling import AgeBandCode

PlanDomain = Literal["onderwijs", "jeugdhulp", "zorg", "leerplicht", "gezin", "integraal"]
# A parent's (or carer's) relation with the child: recorded by the school or the municipality,
# never by the parent itself (infra/relations.yaml, basis `parent`).
PARENT_BASIS = "parent"


class Party(ContractModel):
    """An organisation on the plan, its role there and its contact point, in clear."""

    partner: PartnerId
    role: Annotated[str, Field(min_length=1, max_length=80, description="e.g. ib-er, regisseur")]
    contact: Annotated[str, Field(min_length=1, max_length=200)]


class GoalDetails(ContractModel):
    """What a goal says about the child: sealed under `plan`."""

    text: Annotated[str, Field(min_length=1, max_length=2000), SealedUnder(Purpose.PLAN)]


class AgreementDetails(ContractModel):
    """What the parties agreed about the child: sealed under `plan`."""

    text: Annotated[str, Field(min_length=1, max_length=2000), SealedUnder(Purpose.PLAN)]


class ActionDetails(ContractModel):
    """The Y of "X does Y and reports back to B by date": sealed under `plan`."""

    what: Annotated[str, Field(min_length=1, max_length=2000), SealedUnder(Purpose.PLAN)]


class ActionReport(ContractModel):
    """What X reports back to B, and the follow-up agreed: sealed under `plan`."""

    report: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.PLAN)] = ""
    follow_up: Annotated[str, Field(max_length=2000), SealedUnder(Purpose.PLAN)] = ""


class PartyJoinedData(EventData):
    party: Party
    joined_on: date


class PartyLeftData(EventData):
    partner: PartnerId
    left_on: date


class RegieAssignedData(EventData):
    domain: PlanDomain
    regisseur: PartnerId
    assigned_on: date


class GoalSetData(EventData):
    goal_id: uuid.UUID
    domain: PlanDomain
    set_on: date
    target_on: date | None = None


class AgreementMadeData(EventData):
    agreement_id: uuid.UUID
    parties: Annotated[list[PartnerId], Field(min_length=1)]
    made_on: date


class ActionAgreedData(EventData):
    action_id: uuid.UUID
    actor: PartnerId = Field(description="X: who does it")
    reports_to: PartnerId = Field(description="B: who is told it is done")
    due_on: date = Field(description="by when X reports back")
    agreed_on: date
    goal_id: uuid.UUID | None = None


class ActionDoneData(EventData):
    action_id: uuid.UUID
    done_on: date


# From this age a pupil's own account is linked to their record (and decides for themselves).
PUPIL_FROM_AGE = 16


class ParentLinkedData(EventData):
    """A school or the municipality records that a parent's account belongs with the child.

    The parent is known by its account in the partner registry: an opaque id that names no one.
    The same link names the pupil's own account (role pupil): from 16 the pupil consents to a
    handover of their own record themselves.
    """

    link_id: uuid.UUID = Field(description="The link; named again when it ends")
    parent: PartnerId = Field(
        description="The parent's (or carer's) account (role parent), or the pupil's (pupil)"
    )
    recorded_by: PartnerId = Field(description="The school or municipality that records it")
    linked_on: date
    consent_on: date | None = Field(
        default=None,
        description="When the parent consented, where the relation rules ask it of this "
        "recorder (infra/relations.yaml `needs_consent`)",
    )
    pupil_age_band: AgeBandCode | None = Field(
        default=None,
        description="Where `parent` is the pupil's own account: the pupil's age band on "
        "`linked_on` as the recorder has it from the birth date it holds (never the birth date "
        "itself), e.g. 16-22; the plan service links a pupil's own account from 16 only",
    )


class ParentUnlinkedData(EventData):
    """The recorder ends the link (parental authority ended, the child came of age)."""

    link_id: uuid.UUID
    parent: PartnerId
    recorded_by: PartnerId
    unlinked_on: date


ObjectionDecision = Literal["upheld", "rejected"]


class ObjectionRecordedData(EventData):
    """A linked parent (or the pupil from 16, their own account) objects (AVG art. 21) to one
    organisation on the plan processing the child's data for a purpose; that organisation
    decides. Published by the parent's (pupil's) own account; nothing about why travels here
    (the organisation asks them)."""

    objection_id: uuid.UUID
    parent: PartnerId = Field(
        description="The parent's account (role parent), or the pupil's own (pupil, linked "
        "from 16): the publisher"
    )
    partner: PartnerId = Field(
        description="The organisation on the plan whose processing is objected to: it decides"
    )
    purpose: Purpose = Field(description="The processing purpose objected to")
    recorded_on: date


class ObjectionDecidedData(EventData):
    """The organisation decided on a parent's objection: `upheld` (it stops processing for the
    purpose) or `rejected` (compelling legitimate grounds that override, or a legal duty, AVG
    art. 21 lid 1); it explains its decision to the parents itself."""

    objection_id: uuid.UUID
    decided_by: PartnerId = Field(description="The organisation objected to: the publisher")
    partner: PartnerId = Field(description="The parent's account the decision is addressed to")
    decision: ObjectionDecision
    decided_on: date


class PlanContract(CloudEvent[DataT], domain="plan"):
    """An event of the plan domain: `nl.ketenbus.plan.<name>.v<version>`."""


class PartyJoined(PlanContract[PartyJoinedData], name="party-joined"):
    """An organisation takes part in the child's plan (and so has a relation with the child)."""

    def relation_changes(self) -> list[RelationChange]:
        # The relation is kept per child, so the party itself names the basis.
        partner = self.data.party.partner
        return [RelationChange(partner, "plan-party", partner, active=True)]


class PartyLeft(PlanContract[PartyLeftData], name="party-left"):
    """An organisation no longer takes part; its relation on the plan ends."""

    def relation_changes(self) -> list[RelationChange]:
        return [RelationChange(None, "plan-party", self.data.partner, active=False)]


class RegieAssigned(PlanContract[RegieAssignedData], name="regie-assigned"):
    """One party holds regie for a domain of the plan (1 gezin, 1 plan, 1 regisseur)."""


class GoalSet(PlanContract[GoalSetData], name="goal-set"):
    """A goal on the plan; its text sealed (`GoalDetails`)."""

    sealed_models = (GoalDetails,)


class AgreementMade(PlanContract[AgreementMadeData], name="agreement-made"):
    """An agreement between parties; its text sealed (`AgreementDetails`)."""

    sealed_models = (AgreementDetails,)


class ActionAgreed(PlanContract[ActionAgreedData], name="action-agreed"):
    """X does Y and reports back to B by date; Y sealed (`ActionDetails`)."""

    sealed_models = (ActionDetails,)


class ActionDone(PlanContract[ActionDoneData], name="action-done"):
    """X reported back: the action is done; report and follow-up sealed (`ActionReport`)."""

    sealed_models = (ActionReport,)


class ParentLinked(PlanContract[ParentLinkedData], name="parent-linked"):
    """A parent is linked to the child by the school or the municipality: the parent's relation
    (inzage in the plan and the handover dossiers) starts."""

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        return [RelationChange(d.parent, PARENT_BASIS, str(d.link_id), active=True)]


class ParentUnlinked(PlanContract[ParentUnlinkedData], name="parent-unlinked"):
    """The link ends: the parent's relation on it ends."""

    def relation_changes(self) -> list[RelationChange]:
        d = self.data
        return [RelationChange(d.parent, PARENT_BASIS, str(d.link_id), active=False)]


class ObjectionRecorded(PlanContract[ObjectionRecordedData], name="objection-recorded"):
    """A linked parent's objection (bezwaar) against a processing purpose for their child, for
    the organisation responsible to decide (its werklijst)."""


class ObjectionDecided(PlanContract[ObjectionDecidedData], name="objection-decided"):
    """The responsible organisation's decision on a parent's objection, shown to the parent."""


PlanEvent = Annotated[
    PartyJoined
    | PartyLeft
    | RegieAssigned
    | GoalSet
    | AgreementMade
    | ActionAgreed
    | ActionDone
    | ParentLinked
    | ParentUnlinked
    | ObjectionRecorded
    | ObjectionDecided,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------------------------
# Signed plan queries (NATS `ketenbus.query.plan`, HTTP `Authorization: Bearer <token>`)

# The request subjects the plan service answers (a partner's NATS user may call both).
PLAN_QUERY_SUBJECT = "ketenbus.query.plan"
WORKLIST_QUERY_SUBJECT = "ketenbus.query.worklist"
PLAN_QUERY_TYP = "plan-query+jws"


class PlanQueryError(ValueError):
    """A plan query is unsigned, signed by an unknown partner, stale or malformed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class PlanQuery(SignedRequest):
    """A partner asks for a child's plan (`child`) or its own worklist (`child` None)."""

    op: Literal["plan", "worklist"] = "plan"
    child: Annotated[str, Field(pattern=PSEUDONYM_PATTERN)] | None = None


_PLAN_QUERY: TypeAdapter[PlanQuery] = TypeAdapter(PlanQuery)


def sign_plan_query(query: PlanQuery, signing_key: OKPKey) -> str:
    """The query as a JWS compact serialisation signed with the partner's Ed25519 key."""
    return sign_request(query, signing_key, typ=PLAN_QUERY_TYP).decode("ascii")


def verify_plan_query(
    token: str,
    public_key_for: Callable[[str], OKPKey | None],
    *,
    now: float | None = None,
    first_time: Callable[[str, str, float], bool] | None = None,
) -> PlanQuery:
    """Check a signed query as every signed request is: known partner, good signature, fresh,
    well-formed, answered once (`sealing.verify_signed`)."""
    try:
        return verify_signed(
            token.encode(),
            public_key_for,
            _PLAN_QUERY,
            typ=PLAN_QUERY_TYP,
            now=now,
            first_time=first_time,
        )
    except KluisProtocolError as refused:
        raise PlanQueryError(refused.code, refused.reason) from None


# ---------------------------------------------------------------------------------------------
# The plan a query answers: the lists whose items carry sealed sections (each bound to the
# item's `event_id`), and those in its attendance block.

SEALED_ITEMS = ("signals", "goals", "agreements", "actions", "handovers", "arrangements")
ATTENDANCE_ITEMS = ("enrolments", "exemptions", "offers", "reports")


def sealed_items(view: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a plan's view that carries sealed sections (and an action's report)."""
    for key in SEALED_ITEMS:
        for item in view.get(key, []):
            yield item
            if isinstance(item.get("report"), dict):
                yield item["report"]
    attendance = view.get("attendance") or {}
    for key in ATTENDANCE_ITEMS:
        yield from attendance.get(key, [])

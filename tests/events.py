"""The tests' builders of contract events, as each event's service or partner records it:
signalling and the plan (parties, goals, actions, parent links), then handover, arrangements
and truancy, which the integral plan notes on the child's plan."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from ketenbus_contracts import arrangements as arr
from ketenbus_contracts import handover as ho
from ketenbus_contracts import truancy as tr
from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionAgreedData,
    ActionDone,
    ActionDoneData,
    AgreementMade,
    AgreementMadeData,
    GoalSet,
    GoalSetData,
    ObjectionDecided,
    ObjectionDecidedData,
    ObjectionRecorded,
    ObjectionRecordedData,
    ParentLinked,
    ParentLinkedData,
    Party,
    PartyJoined,
    PartyJoinedData,
    PartyLeft,
    PartyLeftData,
    RegieAssigned,
    RegieAssignedData,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import make_kid, seal
from ketenbus_contracts.signalling import (
    Coordinator,
    CoordinatorAssigned,
    CoordinatorAssignedData,
    MatchFound,
    MatchFoundData,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)

CHILD = "c" * 32
SCHOOL = Party(partner="bs-de-regenboog", role="ib-er", contact="ib@regenboog.example")
JGZ = Party(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz@ggd.example")
WIJKTEAM = Party(partner="wijkteam-lingewaard", role="regisseur", contact="team@lingewaard.example")
# The builders seal their sections for real, as the backbone admits them (a dir/A256GCM JWE whose
# kid names the event's child and purpose and whose eid is the event's id), each under this one
# data key of the test session: the backbone never opens them, and a test that opens sections
# seals its own with kluis's keys.
DATA_KEY = secrets.token_bytes(32)
# The scope each purpose's builder sections are sealed under (any valid scope would do).
SCOPES = {
    Purpose.PLAN: "child",
    Purpose.SUPPORT: "arrangement/test",
    Purpose.YOUTH_CARE: "youth-care/test",
    Purpose.ATTENDANCE: "leerplicht-lingewaard",
    Purpose.SIGNALLING: "bs-de-regenboog",
    Purpose.IDENTITY: "bs-de-regenboog",
    Purpose.HANDOVER: "handover/test",
}


def section_for(event_id: uuid.UUID, child: str, purpose: Purpose) -> str:
    """An (empty) section under `purpose`, sealed bound to the event `event_id` about `child`."""
    kid = make_kid(child, purpose, SCOPES[purpose], 1)
    return seal({}, key=DATA_KEY, kid=kid, event_id=event_id)


def sealed_for(event_id: uuid.UUID, child: str, *purposes: Purpose) -> dict[Purpose, str]:
    """`data.sealed` with an (empty) section per purpose, bound to `event_id` about `child`."""
    return {purpose: section_for(event_id, child, purpose) for purpose in purposes}


def signal(
    party: Party | Signaller,
    on: date = date(2026, 11, 1),
    child: str = CHILD,
    sealed: Any = None,
    event_id: uuid.UUID | None = None,
    *,
    until: date | None = None,
    source: str | None = None,
    signal_id: uuid.UUID | None = None,
    at: datetime | None = None,
    **data: Any,
) -> SignalRegistered:
    """`party`'s signal on `child`, kept `until` (by default the two years the Jeugdwet allows at
    most); `event_id` when `sealed` was sealed bound to it; `source` when another than the
    signaller publishes it (a relaying service); `data`: its other fields (household,
    municipality, age band)."""
    sealed = sealed or {}
    return SignalRegistered.create(
        id=event_id or uuid.uuid4(),
        source=source or party.partner,
        subject=child,
        purposes=sorted(sealed),
        **({"time": at} if at else {}),
        data=SignalRegisteredData(
            signal_id=signal_id or uuid.uuid4(),
            signaller=Signaller(**party.model_dump()),
            registered_on=on,
            planned_removal_on=until or date(on.year + 2, on.month, on.day),
            sealed=sealed,
            # A signal declares the child's age band (the service refuses one without).
            **({"age_band": "4-11"} | data),
        ),
    )


def match(parties: list[Party], at: datetime, child: str = CHILD) -> MatchFound:
    return MatchFound.create(
        source="ketenbus.signalling",
        subject=child,
        data=MatchFoundData(
            match_id=uuid.uuid4(),
            signal_ids=[uuid.uuid4() for _ in parties],
            signallers=[Signaller(**p.model_dump()) for p in parties],
            found_at=at,
        ),
    )


def coordinator_assigned(
    found: MatchFound, coordinator: Party, previous: str | None = None
) -> CoordinatorAssigned:
    return CoordinatorAssigned.create(
        source="ketenbus.signalling",
        subject=found.subject,
        data=CoordinatorAssignedData(
            match_id=found.data.match_id,
            coordinator=Coordinator(partner=coordinator.partner, contact=coordinator.contact),
            rule="role-priority",
            previous=previous,
            assigned_at=found.data.found_at,
        ),
    )


def joined(by: Party, party: Party, on: date, child: str = CHILD) -> PartyJoined:
    return PartyJoined.create(
        source=by.partner, subject=child, data=PartyJoinedData(party=party, joined_on=on)
    )


def left(by: Party, party: Party, on: date, child: str = CHILD) -> PartyLeft:
    return PartyLeft.create(
        source=by.partner, subject=child, data=PartyLeftData(partner=party.partner, left_on=on)
    )


def regie(by: Party, regisseur: Party, on: date, child: str = CHILD) -> RegieAssigned:
    return RegieAssigned.create(
        source=by.partner,
        subject=child,
        data=RegieAssignedData(domain="integraal", regisseur=regisseur.partner, assigned_on=on),
    )


def goal(by: Party, on: date, child: str = CHILD, sealed: Any = None) -> GoalSet:
    event_id = uuid.uuid4()
    return GoalSet.create(
        id=event_id,
        source=by.partner,
        subject=child,
        data=GoalSetData(
            goal_id=uuid.uuid4(),
            domain="onderwijs",
            set_on=on,
            sealed=sealed or sealed_for(event_id, child, Purpose.PLAN),
        ),
        purposes=[Purpose.PLAN],
    )


def agreement(
    by: Party, parties: list[Party], on: date, child: str = CHILD, sealed: Any = None
) -> AgreementMade:
    event_id = uuid.uuid4()
    return AgreementMade.create(
        id=event_id,
        source=by.partner,
        subject=child,
        data=AgreementMadeData(
            agreement_id=uuid.uuid4(),
            parties=[p.partner for p in parties],
            made_on=on,
            sealed=sealed or sealed_for(event_id, child, Purpose.PLAN),
        ),
    )


def action(
    by: Party,
    actor: Party,
    reports_to: Party,
    agreed: date,
    due: date,
    child: str = CHILD,
    sealed: Any = None,
) -> ActionAgreed:
    event_id = uuid.uuid4()
    return ActionAgreed.create(
        id=event_id,
        source=by.partner,
        subject=child,
        data=ActionAgreedData(
            action_id=uuid.uuid4(),
            actor=actor.partner,
            reports_to=reports_to.partner,
            due_on=due,
            agreed_on=agreed,
            sealed=sealed or sealed_for(event_id, child, Purpose.PLAN),
        ),
    )


def done(actor: Party, agreed: ActionAgreed, on: date, sealed: Any = None) -> ActionDone:
    event_id = uuid.uuid4()
    return ActionDone.create(
        id=event_id,
        source=actor.partner,
        subject=agreed.subject,
        data=ActionDoneData(
            action_id=agreed.data.action_id,
            done_on=on,
            sealed=sealed or sealed_for(event_id, agreed.subject, Purpose.PLAN),
        ),
    )


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


PARENT = "ouder-demo-0001"
# A pupil's own account (role pupil), linked to its own record like a parent's.
PUPIL = "leerling-demo-0001"


def parent_linked(
    by: str,
    parent: str = PARENT,
    consent_on: date | None = None,
    child: str = CHILD,
    pupil_age_band: str | None = "16-22",
) -> ParentLinked:
    """`by` (a school, the municipality, or the parent trying) links the parent's account, or
    the pupil's own (`PUPIL`: with the pupil's age band as the recorder states it)."""
    return ParentLinked.create(
        source=by,
        subject=child,
        data=ParentLinkedData(
            link_id=uuid.uuid4(),
            parent=parent,
            recorded_by=by,
            linked_on=date(2026, 9, 1),
            consent_on=consent_on,
            pupil_age_band=pupil_age_band if parent == PUPIL else None,
        ),
    )


def objection(
    against: str,
    purpose: str = "plan",
    by: str = PARENT,
    child: str = CHILD,
    account: str = PARENT,
) -> ObjectionRecorded:
    """`by` (a linked parent's account, or someone trying) objects to `against`'s processing,
    as `account` (the parent's; the pupil's own account names itself)."""
    return ObjectionRecorded.create(
        source=by,
        subject=child,
        data=ObjectionRecordedData(
            objection_id=uuid.uuid4(),
            parent=account,
            partner=against,
            purpose=purpose,  # type: ignore[arg-type]
            recorded_on=date(2026, 11, 20),
        ),
    )


def objection_decided(
    objected: ObjectionRecorded, by: str, decision: str = "rejected"
) -> ObjectionDecided:
    return ObjectionDecided.create(
        source=by,
        subject=objected.subject,
        data=ObjectionDecidedData(
            objection_id=objected.data.objection_id,
            decided_by=by,
            partner=objected.data.parent,
            decision=decision,  # type: ignore[arg-type]
            decided_on=date(2026, 11, 23),
        ),
    )


# Handover, arrangements and truancy -------------------------------------------------------

PO = "bs-de-regenboog"
VO = "vo-het-lyceum"
SWV = "swv-lingewaard"
LEERPLICHT = "leerplicht-lingewaard"
WIJKTEAM_ID = "wijkteam-lingewaard"
PROVIDER = "jeugdhulp-de-linde"
BRIN = "12AB"
# The handover and arrangements services relay under their own source.
HANDOVER_SERVICE = "ketenbus.handover"
ARRANGEMENTS_SERVICE = "ketenbus.arrangements"
REGION = "lingewaard"


def _at(on: date) -> datetime:
    return datetime.combine(on, time(9), tzinfo=UTC)


def party(partner: str, role: str) -> arr.Party:
    return arr.Party(partner=partner, role=role, contact=f"{role}@{partner}.example")


# handover


def handover_started(
    planned: date,
    on: date,
    child: str = CHILD,
    handover_id: uuid.UUID | None = None,
    transition: ho.Transition = "po-vo",
    sender: str = PO,
) -> ho.HandoverStarted:
    return ho.HandoverStarted.create(
        source=HANDOVER_SERVICE,
        subject=child,
        time=_at(on),
        data=ho.HandoverStartedData(
            handover_id=handover_id or uuid.uuid4(),
            transition=transition,
            sender=ho.Organisation(partner=sender, contact="ib@regenboog.example"),
            swv=SWV,
            planned_on=planned,
        ),
    )


def parents_viewed(started: ho.HandoverStarted, on: date) -> ho.ParentsViewed:
    """The sender recorded that the parents viewed the dossier (and agreed)."""
    return ho.ParentsViewed.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.ParentsViewedData(handover_id=started.data.handover_id, viewed_on=on, agreed=True),
    )


def dossier_delivered(started: ho.HandoverStarted, on: date) -> ho.DossierDelivered:
    return ho.DossierDelivered.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.DossierDeliveredData(
            handover_id=started.data.handover_id,
            sender=PO,
            receiver=VO,
            delivered_on=on,
            sections=[],
            withheld=[],
        ),
    )


def dossier_prepared_v1(started: ho.HandoverStarted, on: date) -> ho.DossierPreparedInfo:
    """The dossier as v1 told it: categories and rules, no sealed sections (no inzage)."""
    return ho.DossierPreparedInfo.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.DossierPreparedInfoData(
            handover_id=started.data.handover_id,
            sections=[ho.SectionInfo(category="leerling", rule="VERPLICHT")],
            running=[],
        ),
    )


def dossier_prepared(
    started: ho.HandoverStarted,
    on: date,
    sections: dict[str, str],
    rule: ho.DisclosureRule = "VERPLICHT",
) -> ho.DossierPreparedInfoV2:
    """The handover service tells the prepared dossier: `sections` category → its token."""
    sealed_in = uuid.uuid4()
    return ho.DossierPreparedInfoV2.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.DossierPreparedInfoV2Data(
            handover_id=started.data.handover_id,
            sections=[
                ho.DeliveredSection(category=c, rule=rule, sealed=t, sealed_in=sealed_in)
                for c, t in sections.items()
            ],
            running=[],
        ),
    )


def warm_conversation(started: ho.HandoverStarted, on: date) -> ho.WarmConversationHeld:
    return ho.WarmConversationHeld.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.WarmConversationHeldData(
            handover_id=started.data.handover_id,
            held_on=on,
            participants=[
                ho.Participant(partner=PO, role="leerkracht groep 8"),
                ho.Participant(partner=VO, role="mentor"),
            ],
        ),
    )


def handover_closed(started: ho.HandoverStarted, on: date) -> ho.HandoverClosed:
    return ho.HandoverClosed.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.HandoverClosedData(handover_id=started.data.handover_id, closed_on=on),
    )


def continuity_gap(started: ho.HandoverStarted, on: date) -> ho.ContinuityGapFound:
    return ho.ContinuityGapFound.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.ContinuityGapFoundData(
            handover_id=started.data.handover_id,
            gaps=[ho.RunningSupport(ref="opp-2026-1", kind="arrangement", carried=False)],
            found_on=on,
        ),
    )


def handover_escalated(
    started: ho.HandoverStarted, on: date, level: int = 2
) -> ho.HandoverEscalated:
    return ho.HandoverEscalated.create(
        source=HANDOVER_SERVICE,
        subject=started.subject,
        time=_at(on),
        data=ho.HandoverEscalatedData(
            handover_id=started.data.handover_id,
            level=level,
            to="swv",
            partner=SWV,
            contact="loket@swv.example",
            planned_on=started.data.planned_on,
            escalated_at=_at(on),
        ),
    )


# arrangements


def support_requested(on: date, child: str = CHILD) -> arr.SupportRequested:
    event_id = uuid.uuid4()
    return arr.SupportRequested.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=child,
        time=_at(on),
        data=arr.SupportRequestedData(
            request_id=uuid.uuid4(),
            school=party(PO, "ib-er"),
            swv=SWV,
            requested_on=on,
            kind="arrangement-op-maat",
            sealed=sealed_for(event_id, child, Purpose.SUPPORT),
        ),
        purposes=[Purpose.SUPPORT],
    )


def tlv_issued(on: date, child: str = CHILD) -> arr.TlvIssued:
    event_id = uuid.uuid4()
    return arr.TlvIssued.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=child,
        time=_at(on),
        data=arr.TlvIssuedData(
            tlv_id=uuid.uuid4(),
            beschikkingsnummer="TLV-2026-0042",
            swv_number="2506",
            categorie="L",
            start_on=on,
            end_on=date(on.year + 2, 7, 31),
            swv=party(SWV, "consulent"),
            school=PO,
            sealed=sealed_for(event_id, child, Purpose.SUPPORT),
        ),
    )


def opp_drawn_up(on: date, child: str = CHILD, regisseur: str = PO) -> arr.OppDrawnUp:
    event_id = uuid.uuid4()
    return arr.OppDrawnUp.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=child,
        time=_at(on),
        data=arr.OppDrawnUpData(
            opp_id=uuid.uuid4(),
            school=PO,
            regie=party(regisseur, "ib-er"),
            drawn_up_on=on,
            review_dates=[date(on.year + 1, 1, 15)],
            sealed=sealed_for(event_id, child, Purpose.SUPPORT),
        ),
    )


def youth_care_decided(on: date, child: str = CHILD) -> arr.YouthCareDecided:
    event_id = uuid.uuid4()
    return arr.YouthCareDecided.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=child,
        time=_at(on),
        data=arr.YouthCareDecidedData(
            decision_id=uuid.uuid4(),
            beschikkingsnummer="JH-2026-77",
            access_team=party(WIJKTEAM_ID, "consulent"),
            provider=party(PROVIDER, "behandelaar"),
            start_on=on,
            end_on=date(on.year + 1, on.month, 1),
            regie=party(WIJKTEAM_ID, "regisseur"),
            sealed=sealed_for(event_id, child, Purpose.YOUTH_CARE),
        ),
    )


def arrangement_agreed(on: date, child: str = CHILD) -> arr.ArrangementAgreed:
    event_id = uuid.uuid4()
    return arr.ArrangementAgreed.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=child,
        time=_at(on),
        data=arr.ArrangementAgreedData(
            arrangement_id=uuid.uuid4(),
            kind="onderwijs-zorg",
            region=REGION,
            parties=[party(PO, "ib-er"), party(SWV, "consulent"), party(PROVIDER, "behandelaar")],
            start_on=on,
            end_on=date(on.year + 1, 7, 31),
            funding=[
                arr.FundingShare(payer="swv", percent=60),
                arr.FundingShare(payer="municipality", percent=40),
            ],
            sealed=sealed_for(event_id, child, Purpose.SUPPORT),
        ),
    )


def funding_disputed(agreed: arr.ArrangementAgreed, on: date) -> arr.FundingDisputed:
    return arr.FundingDisputed.create(
        source=ARRANGEMENTS_SERVICE,
        subject=agreed.subject,
        time=_at(on),
        data=arr.FundingDisputedData(
            dispute_id=uuid.uuid4(),
            arrangement_id=agreed.data.arrangement_id,
            raised_by="gemeente-lingewaard",
            raised_on=on,
        ),
    )


def dispute_escalated(disputed: arr.FundingDisputed, on: date) -> arr.DisputeEscalated:
    d = disputed.data
    return arr.DisputeEscalated.create(
        source=ARRANGEMENTS_SERVICE,
        subject=disputed.subject,
        time=_at(on),
        data=arr.DisputeEscalatedData(
            dispute_id=d.dispute_id,
            arrangement_id=d.arrangement_id,
            region=REGION,
            holders=[
                arr.Holder(
                    partner="gemeente-lingewaard", function="wethouder", contact="w@g.example"
                )
            ],
            escalated_on=on,
            deadline=date(on.year + 1, 1, 1),
        ),
    )


def dispute_decided(disputed: arr.FundingDisputed, on: date) -> arr.DisputeDecided:
    d = disputed.data
    return arr.DisputeDecided.create(
        source=ARRANGEMENTS_SERVICE,
        subject=disputed.subject,
        time=_at(on),
        data=arr.DisputeDecidedData(
            dispute_id=d.dispute_id,
            arrangement_id=d.arrangement_id,
            decided_by="gemeente-lingewaard",
            decided_on=on,
            funding=[
                arr.FundingShare(payer="swv", percent=50),
                arr.FundingShare(payer="municipality", percent=50),
            ],
        ),
    )


def regie_changed(opp: arr.OppDrawnUp, to: str, on: date) -> arr.RegieChanged:
    return arr.RegieChanged.create(
        source=ARRANGEMENTS_SERVICE,
        subject=opp.subject,
        time=_at(on),
        data=arr.RegieChangedData(
            domain="opp", ref_id=opp.data.opp_id, regie=party(to, "regisseur"), changed_on=on
        ),
    )


def reduced_teaching_time(opp: arr.OppDrawnUp, on: date) -> arr.ReducedTeachingTimeRequested:
    event_id = uuid.uuid4()
    return arr.ReducedTeachingTimeRequested.create(
        id=event_id,
        source=ARRANGEMENTS_SERVICE,
        subject=opp.subject,
        time=_at(on),
        data=arr.ReducedTeachingTimeRequestedData(
            request_id=uuid.uuid4(),
            school=PO,
            opp_id=opp.data.opp_id,
            requested_on=on,
            hours_per_week=12,
            start_on=on,
            end_on=date(on.year + 1, 2, 1),
            back_to_full_time=[
                arr.ScheduleStep(from_on=date(on.year + 1, 1, 4), hours_per_week=18)
            ],
            sealed=sealed_for(event_id, opp.subject, Purpose.SUPPORT),
        ),
    )


# truancy


def enrolled(school: str, on: date, child: str = CHILD) -> tr.PupilEnrolled:
    return tr.PupilEnrolled.create(
        source=school,
        subject=child,
        time=_at(on),
        data=tr.PupilEnrolledData(school=school, brin=BRIN, region=REGION, enrolled_on=on),
    )


def resident_registered(municipality: str, on: date, child: str = CHILD) -> tr.ResidentRegistered:
    """The population feed: the child lives in `municipality` (of the region) from `on`."""
    return tr.ResidentRegistered.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(on),
        data=tr.ResidentRegisteredData(
            municipality=municipality,
            region=REGION,
            registered_on=on,
            compulsory_until=date(2032, 7, 31),
        ),
    )


def de_enrolled(school: str, on: date, child: str = CHILD) -> tr.PupilDeEnrolled:
    return tr.PupilDeEnrolled.create(
        source=school,
        subject=child,
        time=_at(on),
        data=tr.PupilDeEnrolledData(school=school, brin=BRIN, region=REGION, de_enrolled_on=on),
    )


def verzuim_report(on: date, child: str = CHILD) -> tr.VerzuimReportDue:
    return tr.VerzuimReportDue.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(on),
        data=tr.VerzuimReportDueData(
            report_id=uuid.uuid4(),
            school=PO,
            brin=BRIN,
            region=REGION,
            leerplicht=LEERPLICHT,
            begin_on=date(on.year, on.month, 1),
            end_on=on,
            kind="16-uur",
            hours_unauthorised=16,
            hours_absent=16,
            lessons_missed=20,
            action_taken="gesprek met ouders",
            municipal_action_wanted=True,
            contact="ib@regenboog.example",
            absence_ids=[uuid.uuid4()],
        ),
    )


def thuiszitter_registered(since: date, child: str = CHILD) -> tr.ThuiszitterRegistered:
    return tr.ThuiszitterRegistered.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(since),
        data=tr.ThuiszitterRegisteredData(
            region=REGION, category=1, since=since, absolute=True, school=PO
        ),
    )


def thuiszitter_ended(on: date, child: str = CHILD) -> tr.ThuiszitterEnded:
    return tr.ThuiszitterEnded.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(on),
        data=tr.ThuiszitterEndedData(
            region=REGION, category=1, ended_on=on, reason="terug-naar-school"
        ),
    )


def three_month_rule(since: date, on: date, child: str = CHILD) -> tr.ThreeMonthRuleReached:
    return tr.ThreeMonthRuleReached.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(on),
        data=tr.ThreeMonthRuleReachedData(
            region=REGION,
            stage="escalated",
            since=since,
            days_at_home=(on - since).days,
            deadline=date.fromordinal(since.toordinal() + 91),
            notify=[LEERPLICHT, SWV],
        ),
    )


def exemption_granted(on: date, child: str = CHILD) -> tr.ExemptionGranted:
    event_id = uuid.uuid4()
    return tr.ExemptionGranted.create(
        id=event_id,
        source=LEERPLICHT,
        subject=child,
        time=_at(on),
        data=tr.ExemptionGrantedData(
            exemption_id=uuid.uuid4(),
            leerplicht=LEERPLICHT,
            region=REGION,
            article="5a",
            swv_advice="positief",
            valid_from=on,
            sealed=sealed_for(event_id, child, Purpose.ATTENDANCE),
        ),
    )


def offer_made(on: date, by: str = SWV, child: str = CHILD) -> tr.OfferMade:
    return tr.OfferMade.create(
        source=by,
        subject=child,
        time=_at(on),
        data=tr.OfferMadeData(offer_id=uuid.uuid4(), by=by, offered_on=on),
    )


def offer_failed(offer: tr.OfferMade, on: date) -> tr.OfferFailed:
    return tr.OfferFailed.create(
        source=offer.data.by,
        subject=offer.subject,
        time=_at(on),
        data=tr.OfferFailedData(offer_id=offer.data.offer_id, by=offer.data.by, failed_on=on),
    )


def integral_meeting_due(since: date, on: date, child: str = CHILD) -> tr.IntegralMeetingDue:
    return tr.IntegralMeetingDue.create(
        source="ketenbus.truancy",
        subject=child,
        time=_at(on),
        data=tr.IntegralMeetingDueData(
            region=REGION,
            since=since,
            days_at_home=(on - since).days,
            deadline=date.fromordinal(since.toordinal() + 91),
            notify=[LEERPLICHT, WIJKTEAM_ID, SWV],
        ),
    )


def every_kind(on: date, child: str = CHILD) -> list[Any]:
    """One of each event the plan notes from the three domains, in a plausible order."""
    started = handover_started(on, on, child)
    agreed = arrangement_agreed(on, child)
    disputed = funding_disputed(agreed, on)
    opp = opp_drawn_up(on, child)
    return [
        enrolled(PO, on, child),
        started,
        continuity_gap(started, on),
        handover_escalated(started, on),
        dossier_delivered(started, on),
        warm_conversation(started, on),
        handover_closed(started, on),
        support_requested(on, child),
        tlv_issued(on, child),
        opp,
        youth_care_decided(on, child),
        agreed,
        disputed,
        dispute_escalated(disputed, on),
        dispute_decided(disputed, on),
        regie_changed(opp, WIJKTEAM_ID, on),
        reduced_teaching_time(opp, on),
        verzuim_report(on, child),
        thuiszitter_registered(on, child),
        three_month_rule(on, on, child),
        offer_made(on, child=child),
        thuiszitter_ended(on, child),
        exemption_granted(on, child),
        de_enrolled(PO, on, child),
    ]

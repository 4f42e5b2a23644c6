"""The handover protocol on an in-memory store: every step, every refusal, the disclosure
rules, continuity, escalation by an injected clock, and the outbound contracts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import (
    Aanmelding,
    ConsentRecorded,
    ConsentRecordedData,
    ContinuityGapFound,
    DossierDelivered,
    DossierPrepared,
    DossierPreparedData,
    DossierPreparedInfoV2,
    DossierProcessingRecorded,
    DossierReleased,
    DossierReleasedData,
    DossierRequested,
    DossierRequestedData,
    DossierSection,
    EarlyEducationForm,
    Enrolment,
    HandoverClosed,
    HandoverClosedData,
    HandoverEscalated,
    HandoverStarted,
    HandoverStartedData,
    Organisation,
    ParentsViewed,
    ParentsViewedData,
    Participant,
    RunningSupport,
    Transition,
    WarmConversationHeld,
    WarmConversationHeldData,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import fields_by_purpose
from services.handover.application import HandoverApplication
from services.handover.domain import (
    AlreadyDeliveredError,
    AlreadyRequestedError,
    ChildMismatchError,
    ConsentMissingError,
    ConsentNotRequiredError,
    ConversationNotHeldError,
    DossierAlreadyPreparedError,
    DossierNotPreparedError,
    ForbiddenCategoryError,
    HandoverAlreadyStartedError,
    HandoverClosedError,
    NotAPartyError,
    NotDeliveredError,
    NotEnrolledError,
    NotRequestedError,
    NotTheSenderError,
    OptOutNotAllowedError,
    ParentsCopyMissingError,
    ParentsNotViewedError,
    PlannedDateInvalidError,
    ReasonRequiredError,
    UnknownCategoryError,
    UnknownHandoverError,
    WrongConsenterError,
    WrongReceiverError,
)
from services.handover.translation import apply_inbound, to_contract
from services.runtime.outbox import outbound_event_id
from tests.events import sealed_for, section_for

CHILD = "c" * 32
OTHER_CHILD = "d" * 32
SENDER = "bs-de-regenboog"
RECEIVER = "vo-het-lyceum"
SWV = "swv-po-lingewaard"
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
PLANNED = date(2026, 6, 1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def application(clock: Clock | None = None) -> HandoverApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    return HandoverApplication(env=env, clock=clock or Clock(NOW))


class Story:
    """One handover told as the partners' inbound events."""

    def __init__(self, transition: Transition = "po-vo", *, pupil_decides: bool = False) -> None:
        self.id = uuid.uuid4()
        self.transition = transition
        self.pupil_decides = pupil_decides

    def started(self, receiver: str | None = None, planned_on: date = PLANNED) -> HandoverStarted:
        return HandoverStarted.create(
            source=SENDER,
            subject=CHILD,
            data=HandoverStartedData(
                handover_id=self.id,
                transition=self.transition,
                sender=Organisation(partner=SENDER, contact="ib-er groep 8"),
                receiver=receiver,
                swv=SWV,
                planned_on=planned_on,
                pupil_decides=self.pupil_decides,
            ),
        )

    def prepared(
        self,
        categories: dict[str, str] | None = None,
        running: list[RunningSupport] | None = None,
        source: str = SENDER,
    ) -> DossierPrepared:
        categories = categories or {
            "leerling": "VERPLICHT",
            "schoolloopbaan": "VERPLICHT",
            "verzuim": "OPT-UIT",
            "onderwijsondersteuning": "OPT-UIT",
        }
        event_id = uuid.uuid4()
        token = section_for(event_id, CHILD, Purpose.HANDOVER)
        return DossierPrepared.create(
            id=event_id,
            source=source,
            subject=CHILD,
            data=DossierPreparedData(
                handover_id=self.id,
                sections=[
                    DossierSection(category=c, rule=rule, sealed=token)  # type: ignore[arg-type]
                    for c, rule in categories.items()
                ],
                running=running or [],
            ),
        )

    def viewed(
        self, agreed: bool = True, opted_out: list[str] | None = None, reason: bool = False
    ) -> ParentsViewed:
        event_id = uuid.uuid4()
        return ParentsViewed.create(
            id=event_id,
            source=SENDER,
            subject=CHILD,
            data=ParentsViewedData(
                handover_id=self.id,
                viewed_on=date(2026, 5, 2),
                agreed=agreed,
                opted_out=opted_out or [],
                sealed=sealed_for(event_id, CHILD, Purpose.HANDOVER) if reason else {},
            ),
        )

    def consent(self, given_by: str = "parents", granted: bool = True) -> ConsentRecorded:
        return ConsentRecorded.create(
            source=SENDER,
            subject=CHILD,
            data=ConsentRecordedData(
                handover_id=self.id,
                given_by=given_by,  # type: ignore[arg-type]
                granted=granted,
                recorded_on=date(2026, 5, 2),
            ),
        )

    def requested(
        self,
        receiver: str = RECEIVER,
        enrolled_at: str | None = RECEIVER,
        enrolled_on: date = date(2026, 5, 3),
        source: str | None = None,
        aangemeld_at: str | None = None,
    ) -> DossierRequested:
        enrolment = Enrolment(partner=enrolled_at, enrolled_on=enrolled_on) if enrolled_at else None
        aanmelding = (
            Aanmelding(partner=aangemeld_at, aangemeld_on=date(2026, 3, 1))
            if aangemeld_at
            else None
        )
        return DossierRequested.create(
            source=source or receiver,
            subject=CHILD,
            data=DossierRequestedData(
                handover_id=self.id,
                receiver=Organisation(partner=receiver, contact="zorgcoordinator"),
                enrolment=enrolment,
                aanmelding=aanmelding,
                requested_on=date(2026, 5, 4),
            ),
        )

    def released(
        self, source: str = SENDER, parents_copy_on: date | None = date(2026, 5, 5)
    ) -> DossierReleased:
        return DossierReleased.create(
            source=source,
            subject=CHILD,
            data=DossierReleasedData(
                handover_id=self.id, released_on=date(2026, 5, 5), parents_copy_on=parents_copy_on
            ),
        )

    def conversation(self, source: str = RECEIVER) -> WarmConversationHeld:
        return WarmConversationHeld.create(
            source=source,
            subject=CHILD,
            data=WarmConversationHeldData(
                handover_id=self.id,
                held_on=date(2026, 5, 10),
                participants=[
                    Participant(partner=SENDER, role="leerkracht groep 8"),
                    Participant(partner=RECEIVER, role="mentor"),
                ],
            ),
        )

    def closed(self) -> HandoverClosed:
        return HandoverClosed.create(
            source=SENDER,
            subject=CHILD,
            data=HandoverClosedData(handover_id=self.id, closed_on=date(2026, 5, 11)),
        )


def apply(app: HandoverApplication, *events: CloudEvent[Any]) -> None:
    for event in events:
        apply_inbound(app, event)  # type: ignore[arg-type]


def published(app: HandoverApplication) -> list[CloudEvent[Any]]:
    notifications = app.recorder.select_notifications(1, 1000)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    return [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]


def of_type(app: HandoverApplication, cls: type[CloudEvent[Any]]) -> list[Any]:
    return [e for e in published(app) if isinstance(e, cls)]


def test_the_whole_protocol_ends_closed_and_publishes_each_step() -> None:
    app, story = application(), Story("po-vo")
    apply(
        app,
        story.started(),
        story.prepared(),
        story.viewed(),
        story.requested(),
        story.released(),
        story.conversation(),
        story.closed(),
    )

    expected = [
        "handover-started",
        "dossier-prepared-info",
        "parents-viewed",
        "dossier-requested",
        "dossier-processing-recorded",
        "dossier-processing-recorded",
        "dossier-delivered",
        "warm-conversation-held",
        "handover-closed",
    ]
    assert expected == [type(e).name for e in published(app)]
    assert "closed" == app.handover_of(story.id).state


def test_delivery_gives_the_receiver_a_relation_and_the_started_event_the_sender() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())
    apply(app, story.released())

    started = of_type(app, HandoverStarted)[0]
    delivered = of_type(app, DossierDelivered)[0]
    assert [(SENDER, "handover-sender", str(story.id), True)] == [
        (r.partner, r.basis, r.basis_id, r.active) for r in started.relation_changes()
    ]
    assert [(RECEIVER, "handover-receiver", str(story.id), True)] == [
        (r.partner, r.basis, r.basis_id, r.active) for r in delivered.relation_changes()
    ]


def test_verplicht_always_leaves_opt_uit_unless_opted_out() -> None:
    app, story = application(), Story("po-vo")
    prepared = story.prepared()
    apply(app, story.started(), prepared, story.viewed(opted_out=["verzuim"]))
    apply(app, story.requested(), story.released())

    delivered = of_type(app, DossierDelivered)[0]
    expected_leaving = ["leerling", "schoolloopbaan", "onderwijsondersteuning"]
    assert expected_leaving == [s.category for s in delivered.data.sections]
    assert [("verzuim", "OPT-UIT")] == [(s.category, s.rule) for s in delivered.data.withheld]
    assert {prepared.id} == {s.sealed_in for s in delivered.data.sections}


def test_a_verboden_category_never_enters_the_dossier() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started())

    # vve is VERBODEN in po-vo by the register, whatever the dossier declares.
    with pytest.raises(ForbiddenCategoryError):
        apply(app, story.prepared({"leerling": "VERPLICHT", "vve": "OPT-UIT"}))


def test_the_stricter_of_the_register_and_the_dossier_rule_applies() -> None:
    app, story = application(), Story("po-po")
    apply(app, story.started(), story.prepared({"leerling": "VERPLICHT", "verzuim": "VERPLICHT"}))

    info = of_type(app, DossierPreparedInfoV2)[0]
    assert [("leerling", "VERPLICHT"), ("verzuim", "OPT-UIT")] == [
        (s.category, s.rule) for s in info.data.sections
    ]


def test_the_prepared_dossier_is_told_with_its_sections_still_sealed_for_the_parents() -> None:
    app, story = application(), Story("po-po")
    prepared = story.prepared({"leerling": "VERPLICHT", "verzuim": "OPT-UIT"})
    apply(app, story.started(), prepared)

    info = of_type(app, DossierPreparedInfoV2)[0]
    token = prepared.data.sections[0].sealed
    assert [("leerling", token, prepared.id), ("verzuim", token, prepared.id)] == [
        (s.category, s.sealed, s.sealed_in) for s in info.data.sections
    ]


def test_a_dossier_declaring_verboden_is_refused() -> None:
    app, story = application(), Story("po-po")
    apply(app, story.started())

    with pytest.raises(ForbiddenCategoryError):
        apply(app, story.prepared({"leerling": "VERPLICHT", "verzuim": "VERBODEN"}))


def test_parents_cannot_opt_out_of_a_verplicht_category() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared())

    with pytest.raises(OptOutNotAllowedError):
        apply(app, story.viewed(opted_out=["schoolloopbaan"]))


def test_parents_who_do_not_agree_give_a_sealed_reason() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared())

    with pytest.raises(ReasonRequiredError):
        apply(app, story.viewed(agreed=False))
    apply(app, story.viewed(agreed=False, reason=True))
    viewed = of_type(app, ParentsViewed)[0]
    assert (False, [Purpose.HANDOVER]) == (viewed.data.agreed, viewed.purposes)


def test_the_parents_not_agreeing_does_not_stop_the_delivery() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed(agreed=False, reason=True))
    apply(app, story.requested(), story.released())

    assert 1 == len(of_type(app, DossierDelivered))


def test_from_secondary_to_special_the_dossier_goes_only_with_consent() -> None:
    app, story = application(), Story("vo-so")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    apply(app, story.consent("parents"), story.released())
    assert 1 == len(of_type(app, DossierDelivered))


def test_refused_consent_stops_the_delivery() -> None:
    app, story = application(), Story("vo-so")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())
    apply(app, story.consent("parents", granted=False))

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())


def test_a_pupil_of_sixteen_consents_not_the_parents() -> None:
    app, story = application(), Story("vo-so", pupil_decides=True)
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(WrongConsenterError):
        apply(app, story.consent("parents"))
    apply(app, story.consent("pupil"))
    assert "pupil" == of_type(app, ConsentRecorded)[0].data.given_by


def test_primary_to_secondary_needs_no_consent() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(ConsentNotRequiredError):
        apply(app, story.consent())


def test_consent_follows_the_parents_view() -> None:
    app, story = application(), Story("ko-po")
    apply(app, story.started(), story.prepared())

    with pytest.raises(ParentsNotViewedError):
        apply(app, story.consent())


@pytest.mark.parametrize("transition", ["po-vo", "so-vo", "so-mbo", "vo-vo", "vo-mbo"])
def test_consent_only_where_the_law_asks_it_a_school_report_is_a_legal_duty(
    transition: Transition,
) -> None:
    # WPO art. 42 / WEC art. 43: the onderwijskundig rapport goes by law, with the parents'
    # view (recorded when they viewed it), not with their consent.
    app, story = application(), Story(transition)
    apply(app, story.started(), story.prepared(), story.viewed(agreed=False, reason=True))

    with pytest.raises(ConsentNotRequiredError):
        apply(app, story.consent())
    apply(app, story.requested(), story.released())
    assert 1 == len(of_type(app, DossierDelivered))
    assert [False] == [e.data.agreed for e in of_type(app, ParentsViewed)]


def test_consent_only_where_the_law_asks_it_childcare_hands_over_with_consent() -> None:
    # AVG art. 6 lid 1 sub a: childcare has no legal duty to hand over.
    app, story = application(), Story("ko-po")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    apply(app, story.consent("parents"), story.released())
    assert 1 == len(of_type(app, DossierDelivered))


def test_every_transition_names_its_legal_ground_in_the_rules() -> None:
    rules = application().rules

    grounds = {t: rules.basis(t) for t in ("ko-po", "po-vo", "so-vo", "so-mbo")}
    assert {"ko-po": "consent", "po-vo": "legal-duty", "so-vo": "legal-duty"} | {
        "so-mbo": "legal-duty"
    } == {t: g.basis for t, g in grounds.items()}
    assert all("art." in g.source for g in grounds.values())


def test_the_parents_get_a_copy_of_the_dossier_that_leaves() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    with pytest.raises(ParentsCopyMissingError):
        apply(app, story.released(parents_copy_on=None))
    apply(app, story.released(parents_copy_on=date(2026, 5, 5)))
    assert [date(2026, 5, 5)] == [e.data.parents_copy_on for e in of_type(app, DossierDelivered)]


def test_a_handover_request_may_follow_aanmelding_so_vo_can_meet_its_zorgplicht() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(NotEnrolledError):
        apply(app, story.requested(enrolled_at=None, aangemeld_at="vo-andere-school"))
    apply(app, story.requested(enrolled_at=None, aangemeld_at=RECEIVER))
    requested = of_type(app, DossierRequested)[0].data
    assert (None, RECEIVER) == (requested.enrolment, requested.aanmelding.partner)


def test_a_dossier_is_requested_only_after_aanmelding_or_enrolment_there() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(NotEnrolledError):
        apply(app, story.requested(enrolled_at=None))
    with pytest.raises(NotEnrolledError):
        apply(app, story.requested(enrolled_at="vo-andere-school"))
    with pytest.raises(NotEnrolledError):
        apply(app, story.requested(enrolled_on=date(2026, 5, 20)))
    apply(app, story.requested())
    assert RECEIVER == of_type(app, DossierRequested)[0].data.enrolment.partner


def test_only_the_known_receiver_may_request() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(receiver=RECEIVER), story.prepared())

    with pytest.raises(WrongReceiverError):
        apply(app, story.requested(receiver="vo-andere-school", enrolled_at="vo-andere-school"))
    with pytest.raises(WrongReceiverError):
        apply(app, story.requested(source="vo-andere-school"))


def test_a_second_request_is_refused() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.requested())

    with pytest.raises(AlreadyRequestedError):
        apply(app, story.requested())


def test_release_needs_a_prepared_viewed_and_requested_dossier() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started())
    with pytest.raises(DossierNotPreparedError):
        apply(app, story.released())
    apply(app, story.prepared())
    with pytest.raises(ParentsNotViewedError):
        apply(app, story.released())
    apply(app, story.viewed())
    with pytest.raises(NotRequestedError):
        apply(app, story.released())
    apply(app, story.requested(), story.released())
    with pytest.raises(AlreadyDeliveredError):
        apply(app, story.released())


def test_only_the_sender_prepares_and_releases() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started())

    with pytest.raises(NotTheSenderError):
        apply(app, story.prepared(source=RECEIVER))
    apply(app, story.prepared(), story.viewed(), story.requested())
    with pytest.raises(NotTheSenderError):
        apply(app, story.released(source=RECEIVER))


def test_the_warm_conversation_follows_delivery_and_the_close_follows_the_conversation() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    with pytest.raises(NotDeliveredError):
        apply(app, story.conversation())
    apply(app, story.released())
    with pytest.raises(ConversationNotHeldError):
        apply(app, story.closed())
    with pytest.raises(NotAPartyError):
        apply(app, story.conversation(source="kdv-het-speelhuis"))
    apply(app, story.conversation(), story.closed())
    with pytest.raises(HandoverClosedError):
        apply(app, story.conversation())


def test_illegal_starts_and_unknown_handovers_are_refused() -> None:
    app, story = application(), Story("po-vo")
    with pytest.raises(UnknownHandoverError):
        apply(app, story.prepared())
    with pytest.raises(PlannedDateInvalidError):
        apply(app, story.started(planned_on=date(2026, 4, 1)))
    apply(app, story.started())
    with pytest.raises(HandoverAlreadyStartedError):
        apply(app, story.started())
    with pytest.raises(UnknownCategoryError):
        apply(app, story.prepared({"horoscoop": "OPT-UIT"}))
    apply(app, story.prepared())
    with pytest.raises(DossierAlreadyPreparedError):
        apply(app, story.prepared())


def test_an_event_about_another_child_is_refused() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started())
    other = story.prepared().model_copy(update={"subject": OTHER_CHILD})

    with pytest.raises(ChildMismatchError):
        apply(app, other)


def test_running_support_not_carried_is_a_continuity_gap() -> None:
    app, story = application(), Story("po-so")
    running = [
        RunningSupport(ref="arr-17", kind="arrangement", carried=True),
        RunningSupport(ref="jh-2026-004", kind="youth-care", carried=False),
    ]
    apply(app, story.started(), story.prepared(running=running))

    gaps = of_type(app, ContinuityGapFound)
    assert [["jh-2026-004"]] == [[g.ref for g in gap.data.gaps] for gap in gaps]
    assert running == of_type(app, DossierPreparedInfoV2)[0].data.running


def test_carried_support_makes_no_gap_and_travels_with_the_delivery() -> None:
    app, story = application(), Story("po-vo")
    running = [RunningSupport(ref="arr-17", kind="arrangement", carried=True)]
    apply(app, story.started(), story.prepared(running=running), story.viewed())
    apply(app, story.requested(), story.released())

    assert [] == of_type(app, ContinuityGapFound)
    assert running == of_type(app, DossierDelivered)[0].data.running


def test_an_undelivered_handover_escalates_to_the_sender_then_the_swv() -> None:
    clock = Clock(NOW)
    app, story = application(clock), Story("po-vo")
    apply(app, story.started(), story.prepared())

    app.tick(datetime(2026, 6, 1, 12, tzinfo=UTC))  # on the planned date: not late yet
    assert [] == of_type(app, HandoverEscalated)
    app.tick(datetime(2026, 6, 2, 0, 5, tzinfo=UTC))
    app.tick(datetime(2026, 6, 3, tzinfo=UTC))  # nothing new: level 1 was done
    app.tick(datetime(2026, 6, 16, tzinfo=UTC))
    app.tick(datetime(2026, 6, 30, tzinfo=UTC))

    escalated = of_type(app, HandoverEscalated)
    expected = [(1, "sending-contact", SENDER, "ib-er groep 8"), (2, "swv", SWV, None)]
    assert expected == [
        (e.data.level, e.data.to, e.data.partner, e.data.contact) for e in escalated
    ]


def test_a_delivered_handover_does_not_escalate() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed())
    apply(app, story.requested(), story.released())

    assert 0 == app.escalate_overdue(datetime(2026, 12, 1, tzinfo=UTC))


def test_escalation_times_are_data() -> None:
    app = application()
    assert [(1, 0, "sending-contact"), (2, 14, "swv")] == [
        (s.level, s.after_days, s.to) for s in app.rules.escalation
    ]
    assert PLANNED + timedelta(days=15) > PLANNED


def test_who_requested_and_who_released_is_recorded() -> None:
    app, story = application(), Story("po-vo")
    started = story.started()
    apply(app, started, story.prepared(), story.viewed())
    request = story.requested().model_copy(
        update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )
    apply(app, request, story.released())

    records = of_type(app, DossierProcessingRecorded)
    assert [("requested", RECEIVER, "pa-handover"), ("released", SENDER, "pa-handover")] == [
        (r.data.action, r.data.actor, r.data.activity) for r in records
    ]
    assert request.traceparent == records[0].data.traceparent
    assert NOW == records[1].data.at


def test_the_early_education_form_is_sealed_under_handover() -> None:
    form = EarlyEducationForm(
        domains=[{"domain": "taal", "level": "aandacht", "notes": "weinig woorden"}],  # type: ignore[list-item]
        vve_programme="Piramide",
        what_helps="vaste begeleider, plaatjes bij de dagindeling",
    )

    sealed = fields_by_purpose(EarlyEducationForm)
    assert {Purpose.HANDOVER} == set(sealed)
    assert set(EarlyEducationForm.model_fields) == set(sealed[Purpose.HANDOVER])
    assert "Piramide" == form.vve_programme


def test_childcare_to_primary_hands_over_the_early_education_form_with_consent() -> None:
    app, story = application(), Story("ko-po")
    apply(app, story.started(), story.prepared({"early-education": "OPT-UIT"}), story.viewed())
    apply(app, story.requested())

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    apply(app, story.consent("parents"), story.released())
    delivered = of_type(app, DossierDelivered)[0]
    assert [("early-education", "OPT-UIT")] == [
        (s.category, s.rule) for s in delivered.data.sections
    ]


def test_only_the_sender_puts_attachments_and_the_receiver_gets_them_once_delivered() -> None:
    app, story = application(), Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    def who(op: str) -> list[str | None]:
        return [
            app.attachment_refusal(story.id, partner, op)
            for partner in (SENDER, RECEIVER, "vo-andere-school")
        ]

    before = (who("put"), who("get"))
    apply(app, story.released())
    after = (who("put"), who("get"))

    assert (
        [None, "not-the-sender", "not-the-sender"],
        [None, "not-a-party", "not-a-party"],
    ) == before
    assert [None, None, "not-a-party"] == after[1]
    assert "unknown-handover" == app.attachment_refusal(uuid.uuid4(), SENDER, "get")


def test_a_partner_cannot_claim_its_handover_started_by_itself() -> None:
    app, story = application(), Story("po-vo")
    started = story.started()
    claimed = started.model_copy(
        update={"data": started.data.model_copy(update={"automatic": True})}
    )
    apply(app, claimed)

    assert (False, [False]) == (
        app.handover_of(story.id).automatic,
        [e.data.automatic for e in of_type(app, HandoverStarted)],
    )


@pytest.mark.parametrize("transition", ["vo-vo", "vo-mbo"])
def test_vo_to_vo_and_to_mbo_is_a_legal_duty_with_the_parents_view_not_consent(
    transition: Transition,
) -> None:
    # The WVO since the Wet sterk beroepsonderwijs (1 August 2020): no consent asked.
    app, story = application(), Story(transition)
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())

    with pytest.raises(ConsentNotRequiredError):
        apply(app, story.consent("parents"))
    apply(app, story.released())
    assert 1 == len(of_type(app, DossierDelivered))

"""The linked parents give and withdraw their consent on a handover themselves (their account,
role parent), where the law asks it: the handover service takes it only from an account a
school or the municipality linked to the child (the plan's `parent-linked`), only as the
parents' consent, and a dossier not yet delivered does not go on consent withdrawn."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    ConsentWithdrawn,
    ConsentWithdrawnData,
    DossierDelivered,
)
from ketenbus_contracts.plan import ParentLinked, ParentUnlinked, ParentUnlinkedData
from services.handover.application import HandoverApplication
from services.handover.domain import (
    AlreadyDeliveredError,
    ConsentAlreadyRecordedError,
    ConsentMissingError,
    ConsentNotRequiredError,
    NoConsentToWithdrawError,
    NotALinkedParentError,
    NotTheSenderError,
)
from tests.events import PARENT, parent_linked
from tests.unit.test_handover_application import (
    CHILD,
    OTHER_CHILD,
    SENDER,
    Story,
    application,
    apply,
    of_type,
)

ON = date(2026, 5, 2)


def consent(
    story: Story, by: str = PARENT, granted: bool = True, child: str = CHILD
) -> ConsentRecorded:
    return ConsentRecorded.create(
        source=by,
        subject=child,
        data=ConsentRecordedData(
            handover_id=story.id, given_by="parents", granted=granted, recorded_on=ON
        ),
    )


def withdrawal(story: Story, by: str = PARENT, given_by: str = "parents") -> ConsentWithdrawn:
    return ConsentWithdrawn.create(
        source=by,
        subject=CHILD,
        data=ConsentWithdrawnData(
            handover_id=story.id,
            given_by=given_by,  # type: ignore[arg-type]
            withdrawn_on=ON,
        ),
    )


def linked(child: str = CHILD) -> ParentLinked:
    """The plan's parent-linked, as the handover service reads it from the PLAN stream."""
    return parent_linked(SENDER, consent_on=date(2026, 4, 1), child=child)


def viewed_ko_po(app: HandoverApplication, *, link: bool = True) -> Story:
    """Childcare to primary (consent: AVG art. 6 lid 1 sub a), viewed and requested."""
    story = Story("ko-po")
    if link:
        apply(app, linked())
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())
    return story


def test_a_linked_parent_gives_consent_themselves_and_the_dossier_goes() -> None:
    app = application()
    story = viewed_ko_po(app)

    apply(app, consent(story), story.released())

    assert 1 == len(of_type(app, DossierDelivered))
    assert [("parents", True)] == [
        (e.data.given_by, e.data.granted) for e in of_type(app, ConsentRecorded)
    ]


def test_a_dossier_does_not_go_on_withdrawn_consent_until_given_again() -> None:
    app = application()
    story = viewed_ko_po(app)
    apply(app, consent(story), withdrawal(story))

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    apply(app, consent(story), story.released())
    assert 1 == len(of_type(app, DossierDelivered))
    assert 1 == len(of_type(app, ConsentWithdrawn))


def test_the_sender_records_a_withdrawal_the_parents_told_it_of() -> None:
    app = application()
    story = viewed_ko_po(app, link=False)
    apply(app, story.consent("parents"), withdrawal(story, by=SENDER))

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())


def test_a_parent_not_linked_to_the_child_can_neither_give_nor_withdraw_consent() -> None:
    # The attack: a parent's account linked to another child consents for this one.
    app = application()
    apply(app, linked(OTHER_CHILD))
    story = viewed_ko_po(app, link=False)

    with pytest.raises(NotALinkedParentError):
        apply(app, consent(story))
    apply(app, story.consent("parents"))
    with pytest.raises(NotALinkedParentError):
        apply(app, withdrawal(story))


def test_a_parent_whose_link_ended_no_longer_consents() -> None:
    app = application()
    link = linked()
    apply(app, link)
    apply(
        app,
        ParentUnlinked.create(
            source=SENDER,
            subject=CHILD,
            data=ParentUnlinkedData(
                link_id=link.data.link_id, parent=PARENT, recorded_by=SENDER, unlinked_on=ON
            ),
        ),
    )
    story = viewed_ko_po(app, link=False)

    with pytest.raises(NotALinkedParentError):
        apply(app, consent(story))


def test_another_partner_cannot_give_the_parents_consent() -> None:
    app = application()
    story = viewed_ko_po(app)

    with pytest.raises(NotTheSenderError):
        apply(app, consent(story, by="vo-het-lyceum"))


def test_a_parents_account_does_not_give_the_pupils_consent_from_sixteen() -> None:
    app = application()
    apply(app, linked())
    story = Story("vo-mbo", pupil_decides=True)
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(NotALinkedParentError):
        apply(
            app,
            ConsentRecorded.create(
                source=PARENT,
                subject=CHILD,
                data=ConsentRecordedData(
                    handover_id=story.id, given_by="pupil", granted=True, recorded_on=ON
                ),
            ),
        )


def test_consent_is_not_asked_where_the_law_does_not_ask_it() -> None:
    app = application()
    apply(app, linked())
    story = Story("po-vo")
    apply(app, story.started(), story.prepared(), story.viewed())

    with pytest.raises(ConsentNotRequiredError):
        apply(app, consent(story))


def test_only_consent_given_can_be_withdrawn_and_only_before_the_dossier_goes() -> None:
    app = application()
    story = viewed_ko_po(app)

    with pytest.raises(NoConsentToWithdrawError):
        apply(app, withdrawal(story))
    apply(app, consent(story))
    with pytest.raises(ConsentAlreadyRecordedError):
        apply(app, consent(story))
    apply(app, story.released())
    with pytest.raises(AlreadyDeliveredError):
        apply(app, withdrawal(story))


def test_a_withdrawal_is_published_for_the_plan_and_the_feed() -> None:
    app = application()
    story = viewed_ko_po(app)
    apply(app, consent(story), withdrawal(story))

    [withdrawn] = of_type(app, ConsentWithdrawn)
    assert (CHILD, story.id, "parents") == (
        withdrawn.subject,
        withdrawn.data.handover_id,
        withdrawn.data.given_by,
    )
    assert isinstance(withdrawn.id, uuid.UUID)

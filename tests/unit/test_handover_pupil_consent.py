"""The pupil from 16 gives, refuses and withdraws their own consent on a handover where the
pupil decides (`pupil_decides`, as the sender stated), as their own account (role pupil) that a
school or the municipality linked to their record with `parent-linked`. The attacks closed: a
pupil's account answering for another child, a pupil's account where the pupil is under 16 (the
parents decide there), a parent's account posing as the pupil, the pupil's account posing as
the parents: each refused with nothing recorded."""

from __future__ import annotations

from datetime import date

import pytest

from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    ConsentWithdrawn,
    ConsentWithdrawnData,
    DossierDelivered,
)
from services.handover.application import HandoverApplication
from services.handover.domain import (
    ConsentMissingError,
    NotALinkedParentError,
    NotTheLinkedPupilError,
    PupilNotDecidingError,
)
from tests.events import PARENT, PUPIL, parent_linked
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


def answer(
    story: Story,
    *,
    by: str = PUPIL,
    given_by: str = "pupil",
    granted: bool = True,
    child: str = CHILD,
) -> ConsentRecorded:
    data = ConsentRecordedData(
        handover_id=story.id,
        given_by=given_by,  # type: ignore[arg-type]
        granted=granted,
        recorded_on=ON,
    )
    return ConsentRecorded.create(source=by, subject=child, data=data, ketenbusactor="mw-1")


def withdrawal(story: Story, *, by: str = PUPIL) -> ConsentWithdrawn:
    data = ConsentWithdrawnData(handover_id=story.id, given_by="pupil", withdrawn_on=ON)
    return ConsentWithdrawn.create(source=by, subject=CHILD, data=data)


def handover(app: HandoverApplication, *, pupil_decides: bool = True, link: str = CHILD) -> Story:
    """vo-so (consent: no legal duty), viewed and requested; the pupil's and a parent's
    accounts linked to `link`'s record by the sending school."""
    for account in (PUPIL, PARENT):
        apply(app, parent_linked(SENDER, account, consent_on=date(2026, 4, 1), child=link))
    story = Story("vo-so", pupil_decides=pupil_decides)
    apply(app, story.started(), story.prepared(), story.viewed(), story.requested())
    return story


def test_the_linked_pupil_from_sixteen_consents_themselves_and_the_dossier_goes() -> None:
    app = application()
    story = handover(app)

    apply(app, answer(story), story.released())

    assert [("pupil", True)] == [
        (e.data.given_by, e.data.granted) for e in of_type(app, ConsentRecorded)
    ]
    assert 1 == len(of_type(app, DossierDelivered))


def test_the_pupil_refuses_or_withdraws_and_the_dossier_does_not_go() -> None:
    app = application()
    story = handover(app)
    apply(app, answer(story, granted=False))

    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    apply(app, answer(story), withdrawal(story))
    with pytest.raises(ConsentMissingError):
        apply(app, story.released())
    assert ["pupil"] == [e.data.given_by for e in of_type(app, ConsentWithdrawn)]


def test_a_pupils_account_cannot_answer_for_another_child() -> None:
    app = application()
    story = handover(app, link=OTHER_CHILD)

    with pytest.raises(NotTheLinkedPupilError):
        apply(app, answer(story))
    assert [] == of_type(app, ConsentRecorded)


def test_a_pupil_under_sixteen_cannot_consent_the_parents_do() -> None:
    app = application()
    story = handover(app, pupil_decides=False)

    with pytest.raises(PupilNotDecidingError):
        apply(app, answer(story))
    with pytest.raises(NotTheLinkedPupilError):
        apply(app, answer(story, given_by="parents"))
    apply(app, answer(story, by=PARENT, given_by="parents"))
    assert ["parents"] == [e.data.given_by for e in of_type(app, ConsentRecorded)]


def test_a_parent_cannot_pose_as_the_pupil() -> None:
    app = application()
    story = handover(app)

    with pytest.raises(NotALinkedParentError):
        apply(app, answer(story, by=PARENT))
    assert [] == of_type(app, ConsentRecorded)


def test_the_pupils_account_does_not_give_the_parents_consent() -> None:
    app = application()
    story = handover(app)

    with pytest.raises(NotTheLinkedPupilError):
        apply(app, answer(story, given_by="parents"))
    assert [] == of_type(app, ConsentRecorded)

"""Builders of plan and signalling contract events for the integral-plan tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionAgreedData,
    ActionDone,
    ActionDoneData,
    AgreementMade,
    AgreementMadeData,
    GoalSet,
    GoalSetData,
    ParentLinked,
    ParentLinkedData,
    Party,
    PartyJoined,
    PartyJoinedData,
    RegieAssigned,
    RegieAssignedData,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
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
SEALED = {Purpose.PLAN: "sealed-token"}


def signal(party: Party, on: date, child: str = CHILD, sealed: Any = None) -> SignalRegistered:
    return SignalRegistered.create(
        source=party.partner,
        subject=child,
        data=SignalRegisteredData(
            signal_id=uuid.uuid4(),
            signaller=Signaller(**party.model_dump()),
            registered_on=on,
            planned_removal_on=date(on.year + 2, on.month, on.day),
            sealed=sealed or {},
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


def joined(by: Party, party: Party, on: date, child: str = CHILD) -> PartyJoined:
    return PartyJoined.create(
        source=by.partner, subject=child, data=PartyJoinedData(party=party, joined_on=on)
    )


def regie(by: Party, regisseur: Party, on: date, child: str = CHILD) -> RegieAssigned:
    return RegieAssigned.create(
        source=by.partner,
        subject=child,
        data=RegieAssignedData(domain="integraal", regisseur=regisseur.partner, assigned_on=on),
    )


def goal(by: Party, on: date, child: str = CHILD, sealed: Any = None) -> GoalSet:
    return GoalSet.create(
        source=by.partner,
        subject=child,
        data=GoalSetData(
            goal_id=uuid.uuid4(), domain="onderwijs", set_on=on, sealed=sealed or SEALED
        ),
        purposes=[Purpose.PLAN],
    )


def agreement(
    by: Party, parties: list[Party], on: date, child: str = CHILD, sealed: Any = None
) -> AgreementMade:
    return AgreementMade.create(
        source=by.partner,
        subject=child,
        data=AgreementMadeData(
            agreement_id=uuid.uuid4(),
            parties=[p.partner for p in parties],
            made_on=on,
            sealed=sealed or SEALED,
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
    return ActionAgreed.create(
        source=by.partner,
        subject=child,
        data=ActionAgreedData(
            action_id=uuid.uuid4(),
            actor=actor.partner,
            reports_to=reports_to.partner,
            due_on=due,
            agreed_on=agreed,
            sealed=sealed or SEALED,
        ),
    )


def done(actor: Party, agreed: ActionAgreed, on: date, sealed: Any = None) -> ActionDone:
    return ActionDone.create(
        source=actor.partner,
        subject=agreed.subject,
        data=ActionDoneData(action_id=agreed.data.action_id, done_on=on, sealed=sealed or SEALED),
    )


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


PARENT = "ouder-demo-0001"


def parent_linked(
    by: str, parent: str = PARENT, consent_on: date | None = None, child: str = CHILD
) -> ParentLinked:
    """`by` (a school, the municipality, or the parent trying) links the parent's account."""
    return ParentLinked.create(
        source=by,
        subject=child,
        data=ParentLinkedData(
            link_id=uuid.uuid4(),
            parent=parent,
            recorded_by=by,
            linked_on=date(2026, 9, 1),
            consent_on=consent_on,
        ),
    )

"""Translation between contract events and the plan: one small function per contract type.

- `@projects(Contract)`: another domain's recorded event, noted on the child's plan (signals
  and matches now; a domain adds its handovers, arrangements or attendance here with one
  function, its consumer in streams.py and one entry in `bootstrap.FEEDS`).
- `@commands(Contract)`: a party's inbound plan event, checked by the plan's rules.
- `to_contract`: the plan's own recorded events, as the outbound `ketenbus.plan.*` contracts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ketenbus_contracts.envelope import CloudEvent, EventData
from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionAgreedData,
    ActionDone,
    ActionDoneData,
    AgreementMade,
    AgreementMadeData,
    GoalSet,
    GoalSetData,
    Party,
    PartyJoined,
    PartyJoinedData,
    PartyLeft,
    PartyLeftData,
    RegieAssigned,
    RegieAssignedData,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import MatchFound, SignalRegistered, SignalWithdrawn
from services.integral_plan.domain import Plan

SOURCE = "ketenbus.integral-plan"

E = TypeVar("E", bound=CloudEvent[Any])
Apply = Callable[[Plan, Any], None]

PROJECTIONS: dict[type[CloudEvent[Any]], Apply] = {}
COMMANDS: dict[type[CloudEvent[Any]], Apply] = {}


def projects(contract: type[E]) -> Callable[[Callable[[Plan, E], None]], Callable[[Plan, E], None]]:
    def register(func: Callable[[Plan, E], None]) -> Callable[[Plan, E], None]:
        PROJECTIONS[contract] = func
        return func

    return register


def commands(contract: type[E]) -> Callable[[Callable[[Plan, E], None]], Callable[[Plan, E], None]]:
    def register(func: Callable[[Plan, E], None]) -> Callable[[Plan, E], None]:
        COMMANDS[contract] = func
        return func

    return register


def _sealed(data: EventData) -> dict[str, str]:
    return {purpose.value: token for purpose, token in data.sealed.items()}


# other domains' events, noted on the plan


@projects(SignalRegistered)
def _signal_registered(plan: Plan, event: SignalRegistered) -> None:
    plan.note_signal(
        event.data.signal_id,
        event.data.signaller.model_dump(),
        event.data.registered_on,
        event.id,
        _sealed(event.data),
    )


@projects(SignalWithdrawn)
def _signal_withdrawn(plan: Plan, event: SignalWithdrawn) -> None:
    plan.note_withdrawal(event.data.signal_id, event.data.withdrawn_on, event.data.reason)


@projects(MatchFound)
def _match_found(plan: Plan, event: MatchFound) -> None:
    plan.note_match(
        event.data.match_id,
        list(event.data.signal_ids),
        [s.partner for s in event.data.signallers],
        event.data.found_at,
    )


# the parties' plan events (the publisher is `event.source`)


@commands(PartyJoined)
def _party_joined(plan: Plan, event: PartyJoined) -> None:
    plan.join(event.data.party.model_dump(), event.data.joined_on, event.source, event.id)


@commands(PartyLeft)
def _party_left(plan: Plan, event: PartyLeft) -> None:
    plan.leave(event.data.partner, event.data.left_on, event.source, event.id)


@commands(RegieAssigned)
def _regie_assigned(plan: Plan, event: RegieAssigned) -> None:
    d = event.data
    plan.assign_regie(d.domain, d.regisseur, d.assigned_on, event.source, event.id)


@commands(GoalSet)
def _goal_set(plan: Plan, event: GoalSet) -> None:
    d = event.data
    plan.set_goal(d.goal_id, d.domain, d.set_on, d.target_on, event.source, event.id, _sealed(d))


@commands(AgreementMade)
def _agreement_made(plan: Plan, event: AgreementMade) -> None:
    d = event.data
    plan.make_agreement(
        d.agreement_id, list(d.parties), d.made_on, event.source, event.id, _sealed(d)
    )


@commands(ActionAgreed)
def _action_agreed(plan: Plan, event: ActionAgreed) -> None:
    d = event.data
    plan.agree_action(
        d.action_id,
        d.actor,
        d.reports_to,
        d.due_on,
        d.agreed_on,
        d.goal_id,
        event.source,
        event.id,
        _sealed(d),
    )


@commands(ActionDone)
def _action_done(plan: Plan, event: ActionDone) -> None:
    d = event.data
    plan.complete_action(d.action_id, d.done_on, event.source, event.id, _sealed(d))


def applier_for(event: CloudEvent[Any]) -> Apply | None:
    return COMMANDS.get(type(event)) or PROJECTIONS.get(type(event))


# outbound


def _sealed_contract(sealed: dict[str, str]) -> dict[Purpose, str]:
    return {Purpose(purpose): token for purpose, token in sealed.items()}


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract for one of the plan's own recorded events (None: not published).

    Published under the partner's event id (the sealed sections are bound to it) and source
    `ketenbus.integral-plan`; noted events of other domains are not re-published.
    """
    common: dict[str, Any] = {"source": SOURCE, "time": domain_event.timestamp}
    if isinstance(domain_event, Plan.PartyJoined):
        return PartyJoined.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=PartyJoinedData(
                party=Party(**domain_event.party), joined_on=domain_event.joined_on
            ),
            **common,
        )
    if isinstance(domain_event, Plan.PartyLeft):
        return PartyLeft.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=PartyLeftData(partner=domain_event.partner, left_on=domain_event.left_on),
            **common,
        )
    if isinstance(domain_event, Plan.RegieAssigned):
        return RegieAssigned.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=RegieAssignedData.model_validate(
                {
                    "domain": domain_event.domain,
                    "regisseur": domain_event.regisseur,
                    "assigned_on": domain_event.assigned_on,
                }
            ),
            **common,
        )
    sealed = _sealed_contract(getattr(domain_event, "sealed", {}))
    common |= {"purposes": sorted(sealed)}
    if isinstance(domain_event, Plan.GoalSet):
        return GoalSet.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=GoalSetData.model_validate(
                {
                    "goal_id": domain_event.goal_id,
                    "domain": domain_event.domain,
                    "set_on": domain_event.set_on,
                    "target_on": domain_event.target_on,
                    "sealed": sealed,
                }
            ),
            **common,
        )
    if isinstance(domain_event, Plan.AgreementMade):
        return AgreementMade.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=AgreementMadeData(
                agreement_id=domain_event.agreement_id,
                parties=domain_event.parties,
                made_on=domain_event.made_on,
                sealed=sealed,
            ),
            **common,
        )
    if isinstance(domain_event, Plan.ActionAgreed):
        return ActionAgreed.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=ActionAgreedData(
                action_id=domain_event.action_id,
                actor=domain_event.actor,
                reports_to=domain_event.reports_to,
                due_on=domain_event.due_on,
                agreed_on=domain_event.agreed_on,
                goal_id=domain_event.goal_id,
                sealed=sealed,
            ),
            **common,
        )
    if isinstance(domain_event, Plan.ActionDone):
        return ActionDone.create(
            id=domain_event.event_id,
            subject=domain_event.child,
            data=ActionDoneData(
                action_id=domain_event.action_id, done_on=domain_event.done_on, sealed=sealed
            ),
            **common,
        )
    return None

"""ketenbus contract events as thin ZGW notifications: references and codes, nothing more.

`hoofdObject` is the child's plan in the ketenbus API (by pseudonym, `GET /api/plan/{child}`
under `KETENBUS_API_BASE_URL`), `resourceUrl` the same plan with the resource and the event
named in its query (`?resource=actie&event=<id>`), so it resolves too (with a signed query
as for the plan); `kenmerken` are organisation ids and codes a subscription can filter on.
What the event says about the child stays in the sealed sections, which a notification never
carries: the receiver fetches the plan with its own signed query and opens what it may.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from adapters.notificaties.models import BridgeConfig, Notificatie
from ketenbus_contracts import arrangements, handover, truancy
from ketenbus_contracts.plan import (
    ActionAgreed,
    AgreementMade,
    GoalSet,
    PartyJoined,
    RegieAssigned,
)
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.signalling import MatchFound, SignalRegistered, SignalWithdrawn


def kenmerken_of(event: Any) -> dict[str, str]:
    """The filterable characteristics of an event: organisation ids and codes only."""
    if isinstance(event, PartyJoined):
        return {"organisatie": event.data.party.partner}
    if isinstance(event, RegieAssigned):
        return {"regisseur": event.data.regisseur, "domein": event.data.domain}
    if isinstance(event, GoalSet):
        return {"domein": event.data.domain}
    if isinstance(event, ActionAgreed):
        return {"actor": event.data.actor, "terugkoppelingAan": event.data.reports_to}
    if isinstance(event, SignalRegistered):
        return {"bron": event.data.signaller.partner}
    if isinstance(event, ChildErased):
        return {"reden": event.data.reason}
    if isinstance(event, handover.HandoverStarted):
        return {"organisatie": event.data.sender.partner, "overgang": event.data.transition}
    if isinstance(event, handover.DossierDelivered):
        return {"organisatie": event.data.receiver}
    if isinstance(event, arrangements.RegieChanged | arrangements.OppDrawnUp):
        return {"regisseur": event.data.regie.partner}
    if isinstance(event, truancy.VerzuimReportDue):
        return {"organisatie": event.data.school}
    if isinstance(event, truancy.ThreeMonthRuleReached):
        return {"fase": event.data.stage}
    return {}


def involved_of(event: Any) -> set[str]:
    """The partners this event makes involved with the child (told about it from then on)."""
    if isinstance(event, PartyJoined):
        return {event.data.party.partner}
    if isinstance(event, RegieAssigned):
        return {event.data.regisseur}
    if isinstance(event, AgreementMade):
        return set(event.data.parties)
    if isinstance(event, ActionAgreed):
        return {event.data.actor, event.data.reports_to}
    if isinstance(event, SignalRegistered):
        return {event.data.signaller.partner}
    if isinstance(event, MatchFound):
        return {s.partner for s in event.data.signallers} | set(event.data.notify)
    if isinstance(event, truancy.ThreeMonthRuleReached):
        return set(event.data.notify)
    # Handovers, arrangements, enrolments, verzuimmeldingen: whom they give a relation (kluis).
    return {c.partner for c in event.relation_changes() if c.active and c.partner}


def audience_of(event: Any) -> set[str] | None:
    """Whom alone the event's notification may go to (None: every partner involved with the
    child). A signal is its signaller's: no other partner is told of it (Jeugdwet afdeling
    7.1); a match goes to whom it notifies (the signallers, the coordinators)."""
    if isinstance(event, SignalRegistered):
        return {event.data.signaller.partner}
    if isinstance(event, SignalWithdrawn):
        # The event does not name whose signal it was: told to no one rather than to all.
        return set()
    if isinstance(event, MatchFound):
        return set(event.data.notify) or {s.partner for s in event.data.signallers}
    return None


def notificatie_of(event: Any, config: BridgeConfig, base_url: str) -> Notificatie | None:
    """The notification for a contract event, or None when no channel carries its type."""
    mapping = config.events.get(event.type)
    if mapping is None:
        return None
    plan_url = f"{base_url.rstrip('/')}/api/plan/{event.subject}"
    return Notificatie(
        kanaal=mapping.kanaal,
        hoofdObject=plan_url,
        resource=mapping.resource,
        resourceUrl=f"{plan_url}?{urlencode({'resource': mapping.resource, 'event': event.id})}",
        actie=mapping.actie,
        aanmaakdatum=event.time,
        kenmerken=kenmerken_of(event),
    )

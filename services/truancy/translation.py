"""Translation between truancy's contract events and its domain events.

Inbound contracts become commands on the application; recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.truancy.*`. Absences are not
relayed one by one (the highest-volume stream); what the rules make of them is.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, cast

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.truancy import (
    AbsenceRecorded,
    ExemptionArticle,
    ExemptionGranted,
    ExemptionGrantedData,
    OfferMade,
    OfferMadeData,
    PupilDeEnrolled,
    PupilDeEnrolledData,
    PupilEnrolled,
    PupilEnrolledData,
    ReportAnswered,
    ReportAnsweredData,
    ReportStatus,
    ResidentRegistered,
    ResidentRegisteredData,
    SwvAdvice,
    ThreeMonthRuleReached,
    ThreeMonthRuleReachedData,
    ThreeMonthStage,
    ThuiszitterCategory,
    ThuiszitterEnded,
    ThuiszitterEndedData,
    ThuiszitterRegistered,
    ThuiszitterRegisteredData,
    VerzuimKind,
    VerzuimReportDue,
    VerzuimReportDueData,
)
from services.runtime.store import Batch
from services.truancy.application import PublisherMismatchError, TruancyApplication
from services.truancy.domain import ChildAttendance
from services.truancy.rules import load_regions

SOURCE = "ketenbus.truancy"

InboundTruancy = (
    PupilEnrolled
    | PupilDeEnrolled
    | AbsenceRecorded
    | ResidentRegistered
    | ExemptionGranted
    | ReportAnswered
    | OfferMade
)


def _relayed(event: CloudEvent[Any]) -> dict[str, Any]:
    sealed = {purpose.value: token for purpose, token in event.data.sealed.items()}
    return {"event_id": event.id, "source": event.source, "sealed": sealed}


def _own(event: CloudEvent[Any], partner: str) -> None:
    if partner != event.source:
        raise PublisherMismatchError(f"{event.source} may not publish in the name of {partner}")


def apply_inbound(
    app: TruancyApplication, event: InboundTruancy, batch: Batch | None = None
) -> None:
    """Turn an inbound partner event into the application command it asks for."""
    child, relayed = event.subject, _relayed(event)
    if isinstance(event, PupilEnrolled):
        d = event.data
        _own(event, d.school)
        app.rules(d.region)
        app.command(
            child, lambda a: a.enrol(d.school, d.brin, d.region, d.enrolled_on, relayed), batch
        )
    elif isinstance(event, PupilDeEnrolled):
        e = event.data
        _own(event, e.school)
        app.command(
            child,
            lambda a: a.de_enrol(e.school, e.brin, e.region, e.de_enrolled_on, relayed),
            batch,
        )
    elif isinstance(event, AbsenceRecorded):
        r = event.data
        _own(event, r.school)
        rules = app.rules(r.region)
        app.command(
            child,
            lambda a: a.record_absence(
                rules,
                absence_id=r.absence_id,
                school=r.school,
                on=r.on,
                hours=r.hours,
                lessons=r.lessons,
                authorised=r.authorised,
            ),
            batch,
        )
    elif isinstance(event, ResidentRegistered):
        p = event.data
        _own(event, p.municipality)
        app.rules(p.region)
        app.command(
            child,
            lambda a: a.register_resident(
                p.municipality, p.region, p.registered_on, p.compulsory_until, relayed
            ),
            batch,
        )
    elif isinstance(event, ExemptionGranted):
        x = event.data
        _own(event, x.leerplicht)
        xrules = app.rules(x.region)
        app.command(
            child,
            lambda a: a.grant_exemption(
                xrules,
                exemption_id=x.exemption_id,
                leerplicht=x.leerplicht,
                article=x.article,
                swv_advice=x.swv_advice,
                valid_from=x.valid_from,
                valid_until=x.valid_until,
                relayed=relayed,
            ),
            batch,
        )
    elif isinstance(event, ReportAnswered):
        q = event.data
        _own(event, q.leerplicht)

        def answer(a: ChildAttendance) -> None:
            a.answer_report(
                app.rules(a.region or ""),
                report_id=q.report_id,
                leerplicht=q.leerplicht,
                status=q.status,
                answered_on=q.answered_on,
                closed_reason=q.closed_reason,
                home_reason=q.home_reason,
                relayed=relayed,
            )

        app.command(child, answer, batch)
    else:
        o = event.data
        _own(event, o.by)
        app.command(child, lambda a: a.make_offer(o.offer_id, o.by, o.offered_on, relayed), batch)


@functools.cache
def _leerplicht_of(region: str) -> list[str]:
    """The region's leerplicht (infra/truancy), told of its thuiszitters on its feed."""
    rules = load_regions().get(region)
    return [] if rules is None else [rules.leerplicht]


def _sealed(domain_event: Any) -> dict[Purpose, str]:
    return {Purpose(purpose): token for purpose, token in domain_event.sealed.items()}


def _relay(domain_event: Any) -> dict[str, Any]:
    """A relayed partner event keeps its id (the sealed sections are bound to it)."""
    sealed = _sealed(domain_event)
    return {
        "id": domain_event.event_id,
        "source": domain_event.source,
        "time": domain_event.timestamp,
        "subject": domain_event.child,
        "purposes": sorted(sealed),
    }


def to_contract(domain_event: Any, event_id: uuid.UUID) -> CloudEvent[Any] | None:
    """The outbound contract event for a recorded domain event (None: not published)."""
    own = {"id": event_id, "source": SOURCE, "time": domain_event.timestamp}
    e = domain_event
    if isinstance(e, ChildAttendance.Enrolled):
        return PupilEnrolled.create(
            data=PupilEnrolledData(
                school=e.school,
                brin=e.brin,
                region=e.region,
                enrolled_on=e.enrolled_on,
                sealed=_sealed(e),
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.DeEnrolled):
        return PupilDeEnrolled.create(
            data=PupilDeEnrolledData(
                school=e.school,
                brin=e.brin,
                region=e.region,
                de_enrolled_on=e.de_enrolled_on,
                sealed=_sealed(e),
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.ResidentRegistered):
        return ResidentRegistered.create(
            data=ResidentRegisteredData(
                municipality=e.municipality,
                region=e.region,
                registered_on=e.registered_on,
                compulsory_until=e.compulsory_until,
                sealed=_sealed(e),
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.ExemptionGranted):
        return ExemptionGranted.create(
            data=ExemptionGrantedData(
                exemption_id=e.exemption_id,
                leerplicht=e.leerplicht,
                region=e.region,
                article=cast(ExemptionArticle, e.article),
                swv_advice=cast(SwvAdvice | None, e.swv_advice),
                valid_from=e.valid_from,
                valid_until=e.valid_until,
                sealed=_sealed(e),
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.ReportAnswered):
        return ReportAnswered.create(
            data=ReportAnsweredData(
                report_id=e.report_id,
                leerplicht=e.leerplicht,
                status=cast(ReportStatus, e.status),
                answered_on=e.answered_on,
                closed_reason=e.closed_reason,
                home_reason=e.home_reason,
                sealed=_sealed(e),
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.OfferMade):
        return OfferMade.create(
            data=OfferMadeData(
                offer_id=e.offer_id, by=e.by, offered_on=e.offered_on, sealed=_sealed(e)
            ),
            **_relay(e),
        )
    if isinstance(e, ChildAttendance.ReportDue):
        return VerzuimReportDue.create(
            subject=e.child,
            data=VerzuimReportDueData(
                report_id=e.report_id,
                school=e.school,
                brin=e.brin,
                region=e.region,
                leerplicht=e.leerplicht,
                begin_on=e.begin_on,
                end_on=e.end_on,
                kind=cast(VerzuimKind, e.kind),
                hours_unauthorised=e.hours_unauthorised,
                hours_absent=e.hours_absent,
                lessons_missed=e.lessons_missed,
                action_taken=e.action_taken,
                municipal_action_wanted=e.municipal_action_wanted,
                contact=e.contact,
                absence_ids=e.absence_ids,
            ),
            **own,
        )
    if isinstance(e, ChildAttendance.ThuiszitterRegistered):
        return ThuiszitterRegistered.create(
            subject=e.child,
            data=ThuiszitterRegisteredData(
                region=e.region,
                category=cast(ThuiszitterCategory, e.category),
                since=e.since,
                absolute=e.absolute,
                school=e.school,
                home_reason=e.home_reason,
                notify=_leerplicht_of(e.region),
            ),
            **own,
        )
    if isinstance(e, ChildAttendance.ThuiszitterEnded):
        return ThuiszitterEnded.create(
            subject=e.child,
            data=ThuiszitterEndedData(
                region=e.region,
                category=cast(ThuiszitterCategory, e.category),
                ended_on=e.ended_on,
                reason=e.reason,
            ),
            **own,
        )
    if isinstance(e, ChildAttendance.ThreeMonthRuleReached):
        return ThreeMonthRuleReached.create(
            subject=e.child,
            data=ThreeMonthRuleReachedData(
                region=e.region,
                stage=cast(ThreeMonthStage, e.stage),
                since=e.since,
                days_at_home=e.days_at_home,
                deadline=e.deadline,
                notify=e.notify,
            ),
            **own,
        )
    return None

"""Translation between truancy's contract events and its domain events.

Inbound contracts become commands on the application; recorded domain events become the
outbound contracts the outbox relay publishes on `ketenbus.truancy.*`. Absences are not
relayed one by one (the highest-volume stream); what the rules make of them is.
"""

from __future__ import annotations

import functools
from typing import Any

from ketenbus_contracts.arrangements import ReducedTeachingTimeRequested
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.truancy import (
    AbsenceRecorded,
    ExemptionGranted,
    ExemptionGrantedV2,
    InboundTruancy,
    IntegralMeetingDue,
    JgzReferralDue,
    OfferFailed,
    OfferMade,
    PupilDeEnrolled,
    PupilEnrolled,
    ReportAnswered,
    ResidentRegistered,
    SwvAdviceGiven,
    ThreeMonthRuleReached,
    ThuiszitterDecisionRecorded,
    ThuiszitterEnded,
    ThuiszitterRegistered,
    VerzuimFiled,
    VerzuimReportDue,
)
from services.policy.regions import load_regions
from services.runtime.outbound import Outbound
from services.runtime.store import Batch
from services.truancy.application import PublisherMismatchError, TruancyApplication
from services.truancy.domain import ChildAttendance

SOURCE = "ketenbus.truancy"

# Besides what partners publish, arrangements' reduced teaching time (it excuses absences).
Inbound = InboundTruancy | ReducedTeachingTimeRequested


def _relayed(event: CloudEvent[Any]) -> dict[str, Any]:
    sealed = {purpose.value: token for purpose, token in event.data.sealed.items()}
    return {"event_id": event.id, "source": event.source, "sealed": sealed}


def _own(event: CloudEvent[Any], partner: str) -> None:
    if partner != event.source:
        raise PublisherMismatchError(f"{event.source} may not publish in the name of {partner}")


def apply_inbound(app: TruancyApplication, event: Inbound, batch: Batch | None = None) -> None:
    """Turn an inbound partner event into the application command it asks for."""
    child, relayed = event.subject, _relayed(event)
    if isinstance(event, ReducedTeachingTimeRequested):
        # Arrangements' record of the school board's Variawet decision (read from its stream,
        # not a partner's publish): the hours a week still required, stepping back to full.
        varia = event.data
        schedule = [(step.from_on, step.hours_per_week) for step in varia.back_to_full_time]
        app.command(
            child,
            lambda a: a.reduce_teaching_time(
                varia.request_id,
                varia.school,
                varia.hours_per_week,
                varia.start_on,
                varia.end_on,
                schedule,
            ),
            batch,
        )
    elif isinstance(event, PupilEnrolled):
        d = event.data
        _own(event, d.school)
        app.rules(d.region)
        app.command(
            child,
            lambda a: a.enrol(d.school, d.brin, d.region, d.enrolled_on, relayed, d.transition),
            batch,
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
    elif isinstance(event, VerzuimFiled):
        f = event.data
        _own(event, f.school)
        frules = app.rules(f.region)
        app.command(
            child,
            lambda a: a.file_report(
                frules,
                report_id=f.report_id,
                school=f.school,
                kind=f.kind,
                begin_on=f.begin_on,
                end_on=f.end_on,
                hours_unauthorised=f.hours_unauthorised,
                lessons_missed=f.lessons_missed,
                action_taken=f.action_taken,
                municipal_action_wanted=f.municipal_action_wanted,
                absence_ids=f.absence_ids,
            ),
            batch,
        )
    elif isinstance(event, SwvAdviceGiven):
        v = event.data
        _own(event, v.swv)
        vrules = app.rules(v.region)
        app.command(
            child,
            lambda a: a.give_advice(
                vrules,
                advice_id=v.advice_id,
                swv=v.swv,
                article=v.article,
                advice=v.advice,
                given_on=v.given_on,
                relayed=relayed,
            ),
            batch,
        )
    elif isinstance(event, ExemptionGrantedV2):
        x = event.data
        _own(event, x.leerplicht)
        xrules = app.rules(x.region)
        statement = None if x.statement is None else x.statement.model_dump(mode="json")
        app.command(
            child,
            lambda a: a.grant_exemption(
                xrules,
                exemption_id=x.exemption_id,
                leerplicht=x.leerplicht,
                article=x.article,
                statement=statement,
                hours_per_week=x.hours_per_week,
                valid_from=x.valid_from,
                valid_until=x.valid_until,
                relayed=relayed,
            ),
            batch,
        )
    elif isinstance(event, ExemptionGranted):
        # v1, as a stream or store published before v2 holds it: taken by v1's checks only
        # when published before the region's cut-over (its signed time), refused after.
        old = event.data
        _own(event, old.leerplicht)
        orules = app.rules(old.region)
        app.command(
            child,
            lambda a: a.grant_superseded_exemption(
                orules,
                exemption_id=old.exemption_id,
                leerplicht=old.leerplicht,
                article=old.article,
                swv_advice=old.swv_advice,
                valid_from=old.valid_from,
                valid_until=old.valid_until,
                published_on=event.time.date(),
                relayed=relayed,
            ),
            batch,
        )
    elif isinstance(event, OfferFailed):
        failed = event.data
        _own(event, failed.by)
        app.command(
            child,
            lambda a: a.fail_offer(failed.offer_id, failed.by, failed.failed_on, relayed),
            batch,
        )
    elif isinstance(event, ThuiszitterDecisionRecorded):
        decided = event.data
        _own(event, decided.by)
        drules = app.rules(decided.region)
        app.command(
            child,
            lambda a: a.record_decision(
                drules,
                decision_id=decided.decision_id,
                by=decided.by,
                forum=decided.forum,
                outcome=decided.outcome,
                decided_on=decided.decided_on,
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


to_contract = Outbound(
    SOURCE,
    {
        # Relayed partner events keep the partner's id and source (their sealed sections are
        # bound to the id); the rest are truancy's own.
        ChildAttendance.Enrolled: PupilEnrolled,
        ChildAttendance.DeEnrolled: PupilDeEnrolled,
        ChildAttendance.ResidentRegistered: ResidentRegistered,
        ChildAttendance.ExemptionGranted: ExemptionGranted,
        ChildAttendance.ExemptionGrantedV2: ExemptionGrantedV2,
        ChildAttendance.AdviceGiven: SwvAdviceGiven,
        ChildAttendance.ReportAnswered: ReportAnswered,
        ChildAttendance.OfferMade: OfferMade,
        ChildAttendance.OfferFailed: OfferFailed,
        ChildAttendance.DecisionRecorded: ThuiszitterDecisionRecorded,
        ChildAttendance.ReportDue: VerzuimReportDue,
        ChildAttendance.JgzReferralDue: JgzReferralDue,
        ChildAttendance.IntegralMeetingDue: IntegralMeetingDue,
        ChildAttendance.ThuiszitterRegistered: (
            ThuiszitterRegistered,
            lambda e: {"notify": _leerplicht_of(e.region)},
        ),
        ChildAttendance.ThuiszitterEnded: ThuiszitterEnded,
        ChildAttendance.ThreeMonthRuleReached: ThreeMonthRuleReached,
    },
)
"""The outbound contract event for a recorded domain event (None: not published)."""

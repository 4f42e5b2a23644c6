"""Passend onderwijs on the plan and the werklijst: what the arrangements service records (the
school's zorgplicht after an aanmelding, the OPP after a placement and its handelingsdeel, a TLV
waiting for a place) is work for the school or the SWV until it is done (docs/domain.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from demo import arrangements as ev
from ketenbus_contracts.arrangements import HandoverNeeded
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import (
    DossierPrepared,
    DossierPreparedData,
    DossierSection,
    HandoverStarted,
    HandoverStartedData,
    RunningSupport,
)
from ketenbus_contracts.handover import Organisation as HandoverParty
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.truancy import PupilEnrolled, PupilEnrolledData
from services.arrangements.application import ArrangementsApplication
from services.arrangements.bootstrap import service_spec as arrangements_spec
from services.arrangements.translation import apply_inbound, to_contract
from services.handover.application import HandoverApplication
from services.handover.domain import Organisation
from services.handover.translation import apply_inbound as handover_inbound
from services.handover.translation import to_contract as handover_outbound
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.query import takes_part
from services.policy.loading import load_relations
from services.runtime.outbox import outbound_event_id

CHILD = "c" * 32
TODAY = date(2026, 11, 24)
SCHOOL, SWV = ev.SCHOOL.partner, ev.SWV.partner
TRACKING = "INBOUND:arrangements"


class Backbone:
    """The arrangements service and the plan on in-memory stores, on one clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 11, tzinfo=UTC)
        memory = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        self.arrangements = ArrangementsApplication(
            env=memory, clock=lambda: self.now, inbound=apply_inbound
        )
        self.plan = IntegralPlanApplication(env=memory, clock=lambda: self.now)
        self.relayed = 0

    def publish(self, *events: CloudEvent[Any]) -> list[str]:
        """The partners' events through arrangements; what it records onto the plan."""
        start = self.arrangements.position(TRACKING)
        batch = [(start + i + 1, e) for i, e in enumerate(events)]
        refused = [str(r) for _, r in self.arrangements.process_batch(TRACKING, batch)]
        self.relay()
        return refused

    def relay(self) -> None:
        app = self.arrangements
        for notification in app.recorder.select_notifications(self.relayed + 1, 1000):
            event = app.mapper.to_domain_event(notification)
            if contract := to_contract(event, outbound_event_id(app.name, event)):
                self.plan.apply(contract)
            self.relayed = notification.id

    def later(self, days: int) -> None:
        self.now += timedelta(days=days)
        self.arrangements.tick(self.now)
        self.relay()

    def work(self, partner: str) -> list[tuple[str, str | None]]:
        items = self.plan.worklist(partner, self.now)["items"]
        return [(i["kind"], i.get("deadline")) for i in items]


def test_zorgplicht_an_undecided_aanmelding_is_on_the_schools_werklijst_with_its_deadline() -> None:
    backbone = Backbone()
    aanmelding = ev.aanmelding(CHILD, TODAY)
    ref = aanmelding.data.aanmelding_id
    backbone.publish(aanmelding)
    open_work = backbone.work(SCHOOL)
    backbone.later(40)
    backbone.publish(ev.extension(CHILD, ref, TODAY + timedelta(days=40)))
    extended = backbone.work(SCHOOL)
    backbone.later(1)
    placed = ev.placement(CHILD, ref, TODAY + timedelta(days=41), placed_on=date(2027, 1, 4))
    assert [] == backbone.publish(placed)

    assert [("zorgplicht-decision", "2027-01-05")] == open_work
    assert [("zorgplicht-decision", "2027-02-02")] == extended
    # Placed with extra support: the OPP is due within six weeks of the placement.
    assert [("opp-due", "2027-02-15")] == backbone.work(SCHOOL)
    backbone.publish(ev.opp(CHILD, TODAY + timedelta(days=41), [date(2027, 6, 1)]))
    assert [] == backbone.work(SCHOOL)


def test_opp_handelingsdeel_without_the_parents_consent_is_on_the_schools_werklijst() -> None:
    backbone = Backbone()
    plan = ev.opp(CHILD, TODAY, [date(2027, 3, 1)], consent="pending")
    backbone.publish(plan)
    pending = backbone.work(SCHOOL)

    backbone.publish(ev.handelingsdeel(CHILD, plan.data.opp_id, TODAY))

    assert [("opp-consent-pending", None)] == pending
    assert [] == backbone.work(SCHOOL)
    [opp] = [a for a in backbone.plan.plan_of(CHILD)["arrangements"] if a["kind"] == "opp-drawn-up"]
    assert ("granted", TODAY.isoformat()) == (
        opp["details"]["handelingsdeel_consent"],
        opp["details"]["parents_consulted_on"],
    )


def test_a_tlv_issued_with_no_place_is_waiting_on_the_swvs_werklijst_until_placed() -> None:
    backbone = Backbone()
    tlv = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365))
    backbone.publish(tlv)
    backbone.later(30)
    waiting = backbone.plan.worklist(SWV, backbone.now)["items"]

    special = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    aanmelding = ev.aanmelding(CHILD, backbone.now.date(), school=special, tlv_id=tlv.data.tlv_id)
    backbone.publish(aanmelding)
    aanmelding_id = aanmelding.data.aanmelding_id
    placed = ev.placement(
        CHILD, aanmelding_id, backbone.now.date(), placed_on=backbone.now.date(), school=special
    )
    assert [] == backbone.publish(placed)

    assert [("tlv-waiting", 30)] == [(i["kind"], i["days_waiting"]) for i in waiting]
    assert [] == backbone.work(SWV)


def test_a_child_with_an_opp_or_arrangement_changing_school_starts_its_handover_by_itself() -> None:
    backbone = Backbone()
    plan = ev.opp(CHILD, TODAY, [date(2027, 3, 1)])
    vo = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    aanmelding = ev.aanmelding(CHILD, TODAY, school=vo, transition="po-vo")
    backbone.publish(plan, aanmelding)
    handover = HandoverApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: backbone.now
    )

    [needed] = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    handover_inbound(handover, needed)

    started = handover.handover_of(needed.data.handover_id)
    assert (
        "po-vo",
        Organisation(SCHOOL, ev.SCHOOL.contact),
        "vo-het-lyceum",
        date(2027, 1, 5),
        True,
    ) == (
        started.transition,
        started.sender,
        started.receiver,
        started.planned_on,
        started.automatic,
    )
    assert ["opp"] == needed.data.because


def test_no_handover_starts_by_itself_without_an_opp_or_arrangement_elsewhere() -> None:
    backbone = Backbone()
    vo = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    running = ev.arrangement(CHILD, TODAY - timedelta(days=400), TODAY - timedelta(days=30))
    backbone.publish(running, ev.aanmelding(CHILD, TODAY, school=vo, transition="po-vo"))

    assert [] == [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]


def relayed(backbone: Backbone) -> list[CloudEvent[Any]]:
    app = backbone.arrangements
    events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 1000)]
    return [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]


def handover_relay(handover: HandoverApplication, plan: IntegralPlanApplication) -> None:
    for notification in handover.recorder.select_notifications(1, 1000):
        event = handover.mapper.to_domain_event(notification)
        if contract := handover_outbound(event, outbound_event_id(handover.name, event)):
            plan.apply(contract)


def prepared(handover_id: uuid.UUID, running: list[RunningSupport]) -> DossierPrepared:
    section = DossierSection(category="leerling", rule="VERPLICHT", sealed="x" * 20)
    return DossierPrepared.create(
        source=SCHOOL,
        subject=CHILD,
        data=DossierPreparedData(handover_id=handover_id, sections=[section], running=running),
    )


@pytest.mark.parametrize("carried", [False, True])
def test_continuity_of_care_is_checked_against_the_arrangements_actually_running(
    carried: bool,
) -> None:
    backbone = Backbone()
    care = ev.youth_care(CHILD, TODAY - timedelta(days=60), TODAY + timedelta(days=300))
    ended = ev.arrangement(CHILD, TODAY - timedelta(days=400), TODAY - timedelta(days=30))
    vo = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    aanmelding = ev.aanmelding(CHILD, TODAY, school=vo, transition="po-vo")
    backbone.publish(care, ended, ev.opp(CHILD, TODAY, [date(2027, 3, 1)]), aanmelding)
    handover = HandoverApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: backbone.now
    )
    [needed] = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    handover_inbound(handover, needed)

    # The sender names the youth care in its dossier, carried or not; it says nothing of the
    # arrangement that ended: only what runs at the planned date counts.
    care_id = str(care.data.decision_id)
    named = RunningSupport(ref=care_id, kind="youth-care", carried=carried)
    handover_inbound(handover, prepared(needed.data.handover_id, [named]))
    handover_relay(handover, backbone.plan)

    def gaps(partner: str) -> list[list[str]]:
        items = backbone.plan.worklist(partner, backbone.now)["items"]
        return [[g["ref"] for g in i["gaps"]] for i in items if i["kind"] == "continuity-gap"]

    expected = [] if carried else [[care_id]]
    for partner in (SCHOOL, "vo-het-lyceum", ev.WIJKTEAM.partner):
        assert expected == gaps(partner)


def test_an_opp_not_evaluated_within_a_year_is_on_the_schools_werklijst_until_revised() -> None:
    backbone = Backbone()
    plan = ev.opp(CHILD, TODAY, [date(2027, 6, 1)])
    backbone.publish(plan)
    backbone.later(366)
    overdue = backbone.work(SCHOOL)

    revised = ev.opp(CHILD, backbone.now.date(), [date(2028, 6, 1)], opp_id=plan.data.opp_id)
    assert [] == backbone.publish(revised)

    assert [("opp-evaluation-overdue", "2027-11-24")] == overdue
    assert [] == backbone.work(SCHOOL)


def test_the_plan_shows_on_what_ground_the_dossier_goes() -> None:
    backbone = Backbone()
    vo = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    aanmelding = ev.aanmelding(CHILD, TODAY, school=vo, transition="po-vo")
    backbone.publish(ev.opp(CHILD, TODAY, [date(2027, 3, 1)]), aanmelding)
    handover = HandoverApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: backbone.now
    )
    [needed] = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    handover_inbound(handover, needed)
    handover_relay(handover, backbone.plan)

    [shown] = backbone.plan.plan_of(CHILD)["handovers"]
    assert ("legal-duty", True) == (shown["basis"], shown["automatic"])
    assert "WPO art. 42" in shown["basis_source"]


def test_an_automatic_handover_is_visible_to_the_school_the_child_is_aangemeld_at() -> None:
    backbone = Backbone()
    vo = aangemeld_at_vo_with_an_opp(backbone)
    handover = HandoverApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: backbone.now
    )
    [needed] = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    handover_inbound(handover, needed)
    handover_relay(handover, backbone.plan)
    recorded = [
        handover.mapper.to_domain_event(n) for n in handover.recorder.select_notifications(1, 10)
    ]
    contracts = [handover_outbound(e, outbound_event_id(handover.name, e)) for e in recorded]
    [started] = [c for c in contracts if isinstance(c, HandoverStarted)]
    relations = [
        Relation(r.partner or "", r.basis, r.basis_id, backbone.now)
        for r in started.relation_changes()
    ]

    # The new school takes part in the plan (its zorgplicht on the aanmelding) ...
    assert takes_part(backbone.plan.plan_of(CHILD), vo.partner)
    assert ("vo-het-lyceum", "handover-aanmelding") == (relations[1].partner, relations[1].basis)
    # ... and that relation opens nothing of the dossier before it is delivered.
    access = load_relations().evaluate(
        relations,
        partner=vo.partner,
        purpose=Purpose.HANDOVER,
        scope=str(started.data.handover_id),
        now=backbone.now,
    )
    assert (False, "no-relation") == (access.granted, access.code)


def test_a_handover_a_partner_starts_gives_no_relation_to_the_school_it_names() -> None:
    started = HandoverStarted.create(
        source=SCHOOL,
        subject=CHILD,
        data=HandoverStartedData(
            handover_id=uuid.uuid4(),
            transition="po-vo",
            sender=HandoverParty(partner=SCHOOL, contact="IB"),
            receiver="vo-het-lyceum",
            planned_on=TODAY,
        ),
    )

    assert [SCHOOL] == [r.partner for r in started.relation_changes()]


@dataclass(frozen=True)
class Relation:
    partner: str
    basis: str
    basis_id: str
    since: datetime
    active: bool = True
    ended: datetime | None = None
    until: datetime | None = None


def aangemeld_at_vo_with_an_opp(backbone: Backbone) -> ev.Party:
    """The child has an OPP at its primary school and is aangemeld at the vo school."""
    vo = ev.Party(partner="vo-het-lyceum", role="zorgcoordinator", contact="Zorgcoordinator")
    backbone.publish(
        ev.opp(CHILD, TODAY, [date(2027, 3, 1)]),
        ev.aanmelding(CHILD, TODAY, school=vo, transition="po-vo"),
    )
    return vo


def enrolled_at(school: str, on: date, transition: str | None) -> PupilEnrolled:
    """The school's enrolment as truancy records and relays it."""
    return PupilEnrolled.create(
        source=school,
        subject=CHILD,
        data=PupilEnrolledData(
            school=school,
            brin="99YY",
            region="lingewaard",
            enrolled_on=on,
            transition=transition,  # type: ignore[arg-type]
        ),
    )


def test_an_enrolment_at_another_school_starts_the_handover_of_a_child_with_an_opp() -> None:
    backbone = Backbone()
    backbone.publish(ev.opp(CHILD, TODAY, [date(2027, 3, 1)]))

    backbone.publish(enrolled_at("vo-het-lyceum", TODAY, None))  # no transition named: none
    none_yet = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    backbone.publish(enrolled_at("vo-het-lyceum", TODAY, "po-vo"))

    [needed] = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    assert [] == none_yet
    assert ("po-vo", SCHOOL, "vo-het-lyceum", None, TODAY) == (
        needed.data.transition,
        needed.data.sender.partner,
        needed.data.receiver,
        needed.data.aanmelding_id,
        needed.data.planned_on,
    )


def test_an_enrolment_after_the_aanmelding_starts_no_second_handover() -> None:
    backbone = Backbone()
    vo = aangemeld_at_vo_with_an_opp(backbone)

    backbone.publish(enrolled_at(vo.partner, TODAY + timedelta(days=30), "po-vo"))

    needed = [e for e in relayed(backbone) if isinstance(e, HandoverNeeded)]
    assert [needed[0].data.aanmelding_id] == [n.data.aanmelding_id for n in needed]


def test_arrangements_reads_the_enrolments_from_the_truancy_stream() -> None:
    [reader] = [c for c in arrangements_spec().consumers if c.stream.name == "TRUANCY"]

    assert (PupilEnrolled.outbound_subject(),) == reader.filter_subjects

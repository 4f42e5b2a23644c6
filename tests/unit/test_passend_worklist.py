"""Passend onderwijs on the plan and the werklijst: what the arrangements service records (the
school's zorgplicht after an aanmelding, the OPP after a placement and its handelingsdeel, a TLV
waiting for a place) is work for the school or the SWV until it is done (docs/domain.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from demo import arrangements as ev
from ketenbus_contracts.envelope import CloudEvent
from services.arrangements.application import ArrangementsApplication
from services.arrangements.translation import apply_inbound, to_contract
from services.integral_plan.application import IntegralPlanApplication
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

"""The plan ties the domains together: handovers, arrangements and attendance noted on the
child's plan, the worklists they feed, and what each reader gets of them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ketenbus_contracts import truancy as tr
from ketenbus_contracts.plan import sealed_items
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import Signaller
from ketenbus_partner.keyring import KeyRefusedError
from ketenbus_partner.plan import open_plan
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.bootstrap import service_spec
from services.integral_plan.domain import Plan
from services.integral_plan.query import PlanAccess, takes_part
from services.integral_plan.rebuild import SOURCES
from services.integral_plan.translation import to_contract
from services.runtime.outbox import outbound_event_id
from services.runtime.streams import CONSUMERS as STREAM_CONSUMERS
from tests.events import (
    CHILD,
    JGZ,
    LEERPLICHT,
    NOW,
    PO,
    PROVIDER,
    SCHOOL,
    SWV,
    VO,
    arrangement_agreed,
    continuity_gap,
    coordinator_assigned,
    de_enrolled,
    dispute_decided,
    dispute_escalated,
    dossier_delivered,
    enrolled,
    every_kind,
    exemption_granted,
    funding_disputed,
    handover_closed,
    handover_escalated,
    handover_started,
    integral_meeting_due,
    joined,
    left,
    match,
    offer_failed,
    offer_made,
    opp_drawn_up,
    reduced_teaching_time,
    regie,
    regie_changed,
    signal,
    support_requested,
    three_month_rule,
    thuiszitter_ended,
    thuiszitter_registered,
    tlv_issued,
    verzuim_report,
    warm_conversation,
    youth_care_decided,
)
from tests.events import WIJKTEAM as WIJKTEAM_PARTY
from tests.events import (
    WIJKTEAM_ID as WIJKTEAM,
)

D = date(2026, 11, 2)


def application() -> IntegralPlanApplication:
    return IntegralPlanApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW
    )


def applied(*events: Any) -> IntegralPlanApplication:
    app = application()
    for e in events:
        app.apply(e)
    return app


def parties(app: IntegralPlanApplication) -> dict[str, tuple[str, bool]]:
    return {p["partner"]: (p["role"], p["active"]) for p in app.plan_of(CHILD)["parties"]}


def kinds(app: IntegralPlanApplication, partner: str, days_later: int = 0) -> list[str]:
    worklist = app.worklist(partner, NOW + timedelta(days=days_later))
    return [i["kind"] for i in worklist["items"]]


# handover


def test_a_handover_shows_from_to_transition_planned_date_status_and_escalations() -> None:
    started = handover_started(D + timedelta(days=10), D)
    app = applied(started, handover_escalated(started, D + timedelta(days=12)))
    escalated = app.plan_of(CHILD)["handovers"][0]
    app.apply(dossier_delivered(started, D + timedelta(days=13)))
    delivered = app.plan_of(CHILD)["handovers"][0]["status"]
    app.apply(warm_conversation(started, D + timedelta(days=14)))
    app.apply(handover_closed(started, D + timedelta(days=15)))

    handover = app.plan_of(CHILD)["handovers"][0]

    assert (PO, None, SWV, "po-vo", "2026-11-12", "started") == (
        escalated["from"],
        escalated["to"],
        escalated["swv"],
        escalated["transition"],
        escalated["planned_on"],
        escalated["status"],
    )
    assert [{"level": 2, "to": "swv", "partner": SWV, "at": "2026-11-14T09:00:00+00:00"}] == (
        escalated["escalations"]
    )
    assert "delivered" == delivered
    assert ("closed", VO, "2026-11-16", "2026-11-17") == (
        handover["status"],
        handover["to"],
        handover["conversation_on"],
        handover["closed_on"],
    )
    assert str(started.id) == handover["event_id"]


def test_a_continuity_gap_is_kept_on_the_handover_as_references_only() -> None:
    started = handover_started(D, D)
    app = applied(started, continuity_gap(started, D))

    assert [{"ref": "opp-2026-1", "kind": "arrangement"}] == (
        app.plan_of(CHILD)["handovers"][0]["gaps"]
    )


def test_the_sender_and_the_receiver_of_a_handover_become_parties_with_their_role() -> None:
    started = handover_started(D, D)
    app = applied(started, dossier_delivered(started, D + timedelta(days=1)))

    assert {
        PO: ("overdragende organisatie", True),
        VO: ("ontvangende organisatie", True),
    } == parties(app)
    assert "ib@regenboog.example" == app.plan_of(CHILD)["parties"][0]["contact"]


def test_a_partner_already_on_the_plan_keeps_its_role_there() -> None:
    app = applied(joined(SCHOOL, SCHOOL, D), handover_started(D, D))

    assert {PO: ("ib-er", True)} == parties(app)


# arrangements


def test_arrangements_hold_clear_fields_and_sealed_sections_bound_to_their_event() -> None:
    tlv = tlv_issued(D)
    yc = youth_care_decided(D + timedelta(days=1))
    app = applied(support_requested(D), tlv, yc)

    items = {a["kind"]: a for a in app.plan_of(CHILD)["arrangements"]}

    assert ["support-requested", "tlv-issued", "youth-care-decided"] == sorted(items)
    expected_tlv = {"categorie": "L", "school": PO, "expert_opinions": []}
    assert expected_tlv == items["tlv-issued"]["details"]
    assert ("2026-11-02", "2028-07-31") == (items["tlv-issued"]["on"], items["tlv-issued"]["until"])
    assert (str(tlv.id), {"support": tlv.data.sealed[Purpose.SUPPORT]}) == (
        items["tlv-issued"]["event_id"],
        items["tlv-issued"]["sealed"],
    )
    assert {"youth_care": yc.data.sealed[Purpose.YOUTH_CARE]} == items["youth-care-decided"][
        "sealed"
    ]
    assert "TLV-2026-0042" not in str(app.plan_of(CHILD))
    assert {
        PO: ("ib-er", True),
        SWV: ("betrokken bij arrangement", True),  # the request names it first, without a role
        WIJKTEAM: ("regisseur", True),
        PROVIDER: ("behandelaar", True),
    } == parties(app)


def test_a_funding_dispute_is_followed_until_it_is_decided_and_the_split_is_the_decided_one() -> (
    None
):
    agreed = arrangement_agreed(D)
    disputed = funding_disputed(agreed, D + timedelta(days=3))
    app = applied(agreed, disputed, dispute_escalated(disputed, D + timedelta(days=20)))
    escalated = app.plan_of(CHILD)["arrangements"][0]["dispute"]
    app.apply(dispute_decided(disputed, D + timedelta(days=30)))

    arrangement = app.plan_of(CHILD)["arrangements"][0]

    assert ("dispute-escalated", "2027-01-01", ["gemeente-lingewaard"]) == (
        escalated["status"],
        escalated["deadline"],
        escalated["holders"],
    )
    assert ("dispute-decided", "gemeente-lingewaard") == (
        arrangement["dispute"]["status"],
        arrangement["dispute"]["decided_by"],
    )
    assert [{"payer": "swv", "percent": 50}, {"payer": "municipality", "percent": 50}] == (
        arrangement["details"]["funding"]
    )


def test_a_holder_of_doorzettingsmacht_joins_the_plan_to_decide_and_its_relation_ends_with_it() -> (
    None
):
    agreed = arrangement_agreed(D)
    disputed = funding_disputed(agreed, D + timedelta(days=3))
    app = applied(agreed, disputed, dispute_escalated(disputed, D + timedelta(days=20)))
    joined = parties(app)["gemeente-lingewaard"]
    decided = dispute_decided(disputed, D + timedelta(days=30))

    assert ("beslist over geschil (doorzettingsmacht)", True) == joined
    assert takes_part(app.plan_of(CHILD), "gemeente-lingewaard")  # its web app shows the plan
    assert [(None, "dispute-holder", f"dispute/{disputed.data.dispute_id}", False)] == [
        (c.partner, c.basis, c.basis_id, c.active) for c in decided.relation_changes()
    ]


def test_a_variawet_request_is_noted_with_its_hours_and_way_back_to_full_time() -> None:
    opp = opp_drawn_up(D)
    app = applied(opp, reduced_teaching_time(opp, D + timedelta(days=7)))

    request = next(
        a
        for a in app.plan_of(CHILD)["arrangements"]
        if a["kind"] == "reduced-teaching-time-requested"
    )

    assert (12.0, str(opp.data.opp_id)) == (
        request["details"]["hours_per_week"],
        request["details"]["opp_id"],
    )
    assert [{"from_on": "2027-01-04", "hours_per_week": 18.0}] == request["details"][
        "back_to_full_time"
    ]


def test_the_match_coordinator_becomes_the_plans_regie_holder() -> None:
    found = match([SCHOOL, JGZ], NOW)
    app = applied(signal(SCHOOL, D), signal(JGZ, D), found, coordinator_assigned(found, JGZ))

    regie = app.plan_of(CHILD)["regie"]

    assert [{"domain": "integraal", "regisseur": JGZ.partner, "since": NOW.date().isoformat()}] == (
        regie
    )


def test_the_match_coordinator_does_not_take_a_regie_the_parties_decided() -> None:
    found = match([SCHOOL, JGZ], NOW)
    app = applied(signal(SCHOOL, D), signal(JGZ, D), joined(SCHOOL, WIJKTEAM_PARTY, D))
    app.apply(regie(SCHOOL, WIJKTEAM_PARTY, D))

    app.apply(found)
    app.apply(coordinator_assigned(found, JGZ))

    latest = {r["domain"]: r["regisseur"] for r in app.plan_of(CHILD)["regie"]}
    assert {"integraal": WIJKTEAM} == latest


def test_the_timeline_shows_the_match_coordinator_taking_the_integral_regie_as_such() -> None:
    found = match([SCHOOL, JGZ], NOW)
    app = applied(signal(SCHOOL, D), signal(JGZ, D), found, coordinator_assigned(found, JGZ))

    timeline = app.plan_of(CHILD)["timeline"]

    assert [("coordinator-regie", JGZ.partner, "integraal")] == [
        (t["kind"], t["partner"], t["ref"]) for t in timeline if "regie" in t["kind"]
    ]


def test_a_later_opp_of_the_same_regie_holder_is_no_regie_change_on_the_timeline() -> None:
    app = applied(opp_drawn_up(D), opp_drawn_up(D + timedelta(days=30)))

    timeline = app.plan_of(CHILD)["timeline"]

    assert [("regie-changed", D.isoformat(), PO)] == [
        (t["kind"], t["at"], t["partner"]) for t in timeline if t["kind"] == "regie-changed"
    ]


def test_a_regie_change_to_another_holder_is_on_the_timeline() -> None:
    opp = opp_drawn_up(D)
    app = applied(opp, regie_changed(opp, WIJKTEAM, D + timedelta(days=5)))

    timeline = app.plan_of(CHILD)["timeline"]

    assert [PO, WIJKTEAM] == [t["partner"] for t in timeline if t["kind"] == "regie-changed"]


def test_regie_from_arrangements_and_a_partys_regie_assigned_merge_latest_wins() -> None:
    opp = opp_drawn_up(D)
    app = applied(opp)
    from_opp = app.plan_of(CHILD)["regie"]
    app.apply(regie_changed(opp, WIJKTEAM, D + timedelta(days=5)))
    changed = app.plan_of(CHILD)["regie"]
    app.apply(youth_care_decided(D + timedelta(days=6)))
    app.apply(regie(WIJKTEAM_PARTY, SCHOOL, D + timedelta(days=7)))

    latest = {r["domain"]: r["regisseur"] for r in app.plan_of(CHILD)["regie"]}

    assert [{"domain": "onderwijs", "regisseur": PO, "since": "2026-11-02"}] == from_opp
    assert [{"domain": "onderwijs", "regisseur": WIJKTEAM, "since": "2026-11-07"}] == changed
    assert {"onderwijs": WIJKTEAM, "jeugdhulp": WIJKTEAM, "integraal": PO} == latest


# truancy


def test_the_attendance_status_follows_enrolment_thuiszitter_offer_and_exemption() -> None:
    app = application()
    statuses = []
    for e in (
        enrolled(PO, D),
        thuiszitter_registered(D + timedelta(days=10)),
        thuiszitter_ended(D + timedelta(days=40)),
        de_enrolled(PO, D + timedelta(days=41)),
        exemption_granted(D + timedelta(days=42)),
    ):
        app.apply(e)
        statuses.append(app.plan_of(CHILD)["attendance"]["status"])

    assert ["enrolled", "thuiszitter", "enrolled", "not-enrolled", "exempt"] == statuses


def test_an_enrolled_school_is_a_party_until_it_de_enrols_the_pupil() -> None:
    app = applied(enrolled(PO, D))
    while_enrolled = parties(app)
    app.apply(de_enrolled(PO, D + timedelta(days=30)))

    assert {PO: ("school van inschrijving", True)} == while_enrolled
    assert {PO: ("school van inschrijving", False)} == parties(app)


def test_a_party_that_left_shows_the_day_its_part_ended_and_one_taking_part_none() -> None:
    app = applied(enrolled(PO, D), joined(SCHOOL, WIJKTEAM_PARTY, D))
    app.apply(de_enrolled(PO, D + timedelta(days=30)))
    app.apply(left(WIJKTEAM_PARTY, WIJKTEAM_PARTY, D + timedelta(days=31)))
    ended = {p["partner"]: p.get("left_on") for p in app.plan_of(CHILD)["parties"]}
    app.apply(joined(WIJKTEAM_PARTY, WIJKTEAM_PARTY, D + timedelta(days=32)))
    rejoined = {p["partner"]: p.get("left_on") for p in app.plan_of(CHILD)["parties"]}

    expected = {PO: "2026-12-02", WIJKTEAM: "2026-12-03"}
    assert expected == ended
    assert {PO: "2026-12-02", WIJKTEAM: None} == rejoined


def test_de_enrolment_leaves_a_school_on_the_plan_that_joined_it_itself() -> None:
    app = applied(joined(SCHOOL, SCHOOL, D), enrolled(PO, D), de_enrolled(PO, D))

    assert {PO: ("ib-er", True)} == parties(app)


def test_a_verzuim_report_makes_leerplicht_a_party_and_shows_on_the_attendance_block() -> None:
    report = verzuim_report(D)
    app = applied(report)

    attendance = app.plan_of(CHILD)["attendance"]

    assert {LEERPLICHT: ("leerplichtambtenaar", True)} == parties(app)
    assert [("16-uur", PO, LEERPLICHT, str(report.id))] == [
        (r["kind"], r["school"], r["leerplicht"], r["event_id"]) for r in attendance["reports"]
    ]


def test_exemptions_and_offers_keep_their_sealed_sections_bound_to_their_event() -> None:
    exemption = exemption_granted(D)
    offer = offer_made(D)
    app = applied(exemption, offer)

    attendance = app.plan_of(CHILD)["attendance"]

    assert [
        (str(exemption.id), {"attendance": exemption.data.sealed[Purpose.ATTENDANCE]}, "5a")
    ] == [(e["event_id"], e["sealed"], e["article"]) for e in attendance["exemptions"]]
    assert [(str(offer.id), SWV)] == [(o["event_id"], o["by"]) for o in attendance["offers"]]


# every noted event


def test_every_noted_event_has_a_timeline_entry_without_personal_data() -> None:
    events = every_kind(D)
    app = applied(*events)

    timeline = app.plan_of(CHILD)["timeline"]

    assert len(events) + 2 == len(timeline)  # an OPP and a youth-care decision also set regie
    assert {
        "arrangement-agreed",
        "continuity-gap-found",
        "dispute-decided",
        "dispute-escalated",
        "dossier-delivered",
        "exemption-granted",
        "funding-disputed",
        "handover-closed",
        "handover-escalated",
        "handover-started",
        "offer-made",
        "opp-drawn-up",
        "pupil-de-enrolled",
        "pupil-enrolled",
        "reduced-teaching-time-requested",
        "regie-changed",
        "support-requested",
        "three-month-rule-reached",
        "thuiszitter-ended",
        "thuiszitter-registered",
        "tlv-issued",
        "verzuim-report-due",
        "warm-conversation-held",
        "youth-care-decided",
    } == {t["kind"] for t in timeline}
    assert "sealed" not in str(timeline) and "ib@regenboog" not in str(timeline)


def test_noted_events_are_never_refused_and_never_republished() -> None:
    app = application()
    started = handover_started(D, D)
    # Out of order: the step before the start, a decision on an unknown arrangement.
    app.apply(handover_closed(started, D))
    app.apply(dispute_decided(funding_disputed(arrangement_agreed(D), D), D))
    app.apply(thuiszitter_ended(D))
    for e in every_kind(D):
        app.apply(e)

    notifications = app.recorder.select_notifications(1, 500)
    recorded = [app.mapper.to_domain_event(n) for n in notifications]

    assert [] == [c for e in recorded if (c := to_contract(e, outbound_event_id(app.name, e)))]
    assert "closed" == app.plan_of(CHILD)["handovers"][0]["status"]


def test_a_rebuilt_plan_with_every_domain_equals_the_live_one() -> None:
    events = every_kind(D)
    live = applied(*events)
    again = applied(*events)

    assert live.plan_of(CHILD) == again.plan_of(CHILD)


# worklists


def test_a_handover_past_its_planned_date_is_stalled_for_sender_receiver_and_swv() -> None:
    late = handover_started(NOW.date() - timedelta(days=3), D)
    on_time = handover_started(NOW.date() + timedelta(days=3), D)
    app = applied(late, on_time)

    stalled = app.worklist(PO)["items"]

    assert [("stalled-handover", str(late.data.handover_id), 3)] == [
        (i["kind"], i["ref"], i["days_overdue"]) for i in stalled
    ]
    assert ["stalled-handover"] == kinds(app, SWV)
    assert [] == kinds(app, LEERPLICHT)
    assert ["stalled-handover", "stalled-handover"] == kinds(app, PO, days_later=4)


def test_an_escalated_handover_is_stalled_at_once_and_a_delivered_one_is_not() -> None:
    escalated = handover_started(NOW.date() + timedelta(days=3), D)
    delivered = handover_started(NOW.date() - timedelta(days=3), D)
    app = applied(
        escalated,
        handover_escalated(escalated, D),
        delivered,
        dossier_delivered(delivered, NOW.date()),
    )

    items = app.worklist(SWV)["items"]

    assert [(str(escalated.data.handover_id), 2)] == [
        (i["ref"], i["escalation_level"]) for i in items
    ]
    assert [] == kinds(app, VO)  # the receiver of the delivered one; the other has none yet


def test_the_three_month_rule_puts_the_thuiszitter_on_the_list_of_whom_it_notifies() -> None:
    since = NOW.date() - timedelta(days=80)
    app = applied(thuiszitter_registered(since), three_month_rule(since, NOW.date()))

    [item] = app.worklist(LEERPLICHT)["items"]

    assert ("thuiszitter-escalation", "escalated", 80, 1) == (
        item["kind"],
        item["ref"],
        item["days_at_home"],
        item["category"],
    )
    assert ["thuiszitter-escalation"] == kinds(app, SWV)
    assert ["thuiszitter-escalation"] == kinds(app, PO)
    assert [] == kinds(app, WIJKTEAM)


def test_a_thuiszitter_without_an_offer_is_an_escalation_until_an_offer_or_the_end() -> None:
    since = NOW.date() - timedelta(days=10)
    app = applied(thuiszitter_registered(since))
    without_offer = app.worklist(PO)["items"]
    app.apply(offer_made(NOW.date() - timedelta(days=1)))
    offered = kinds(app, PO)
    again = applied(thuiszitter_registered(since), thuiszitter_ended(NOW.date()))

    assert [("thuiszitter-escalation", "without-offer")] == [
        (i["kind"], i["ref"]) for i in without_offer
    ]
    assert [] == offered
    assert [] == kinds(again, PO)


def test_a_failed_offer_puts_the_thuiszitter_back_on_the_worklist() -> None:
    since = NOW.date() - timedelta(days=10)
    offer = offer_made(NOW.date() - timedelta(days=2))
    app = applied(thuiszitter_registered(since), offer)
    offered = kinds(app, PO)

    app.apply(offer_failed(offer, NOW.date() - timedelta(days=1)))

    assert [] == offered
    assert ["thuiszitter-escalation"] == kinds(app, PO)


def test_the_integral_meeting_is_on_the_worklists_of_its_members() -> None:
    since = NOW.date() - timedelta(days=56)
    app = applied(thuiszitter_registered(since), integral_meeting_due(since, NOW.date()))

    [item] = app.worklist(WIJKTEAM)["items"]

    assert ("thuiszitter-escalation", "integral-meeting") == (item["kind"], item["ref"])


def test_a_verzuimmelding_is_a_signal_decision_on_leerplichts_worklist_not_a_signal() -> None:
    report = verzuim_report(NOW.date() - timedelta(days=3))
    app = applied(report)

    [item] = app.worklist(LEERPLICHT)["items"]
    later = app.worklist(LEERPLICHT, NOW + timedelta(days=30))["items"]

    assert ("signal-decision", str(report.data.report_id), "16-uur") == (
        item["kind"], item["ref"], item["report_kind"]
    )  # fmt: skip
    assert [] == later
    assert [] == kinds(app, PO)


def test_a_signal_decision_leaves_leerplichts_worklist_once_leerplicht_signals() -> None:
    report = verzuim_report(NOW.date() - timedelta(days=3))
    leerplicht = Signaller(partner=LEERPLICHT, role="leerplichtambtenaar", contact="lpa")
    app = applied(report, signal(leerplicht, NOW.date()))

    assert [] == app.worklist(LEERPLICHT)["items"]


def test_long_illness_is_on_the_worklists_of_the_school_and_the_jgz_not_leerplicht() -> None:
    referral = tr.JgzReferralDue.create(
        source="ketenbus.truancy", subject=CHILD, time=NOW - timedelta(days=2),
        data=tr.JgzReferralDueData(
            region="lingewaard", school=PO, jgz=JGZ.partner, since=D, weeks=5,
            hours_absent=115, notify=[JGZ.partner],
        ),
    )  # fmt: skip
    app = applied(referral)

    assert ["jgz-referral"] == kinds(app, PO)
    assert ["jgz-referral"] == kinds(app, JGZ.partner)
    assert [] == kinds(app, LEERPLICHT)
    assert "jgz-referral-due" in [e["kind"] for e in app.plan_of(CHILD)["timeline"]]


def test_an_exemption_that_ends_is_on_leerplichts_worklist_for_its_renewal() -> None:
    exemption = tr.ExemptionGrantedV2.create(
        source=LEERPLICHT, subject=CHILD,
        data=tr.ExemptionGrantedV2Data(
            exemption_id=uuid.uuid4(), leerplicht=LEERPLICHT, region="lingewaard", article="5b",
            valid_from=date(2026, 8, 1), valid_until=NOW.date() + timedelta(days=30),
        ),
    )  # fmt: skip
    app = applied(exemption)

    [item] = app.worklist(LEERPLICHT)["items"]
    early = app.worklist(LEERPLICHT, NOW - timedelta(days=30))["items"]

    assert ("exemption-renewal", "5b") == (item["kind"], item["article"])
    assert [] == early


def test_an_offer_before_the_thuiszitter_was_registered_does_not_count() -> None:
    since = NOW.date() - timedelta(days=10)
    app = applied(offer_made(since - timedelta(days=30)), thuiszitter_registered(since))

    assert ["thuiszitter-escalation"] == kinds(app, PO)


# readers


class RoleKeyring:
    """Opens every section it gets (the query filter decides which it gets)."""

    def __init__(self, partner: str) -> None:
        self.partner = partner

    async def open_token(self, token: str, *, event_id: uuid.UUID) -> dict[str, Any]:
        if token == "refuse":
            raise KeyRefusedError("no-relation", "stand-in", purpose=Purpose.SUPPORT)
        return {"token": token, "event_id": str(event_id)}


def test_each_reader_gets_only_the_new_sections_its_role_may_hold(tmp_path: Path) -> None:
    app = applied(*every_kind(D)[:-1])  # the school still enrolled
    access = PlanAccess.load(tmp_path)
    plan = app.plan_of(CHILD)

    def held(partner: str) -> set[str]:
        return {
            p for item in sealed_items(access.visible_plan(plan, partner)) for p in item["sealed"]
        }

    def withheld(partner: str) -> set[str]:
        visible = access.visible_plan(plan, partner)
        return {p for item in sealed_items(visible) for p in item.get("withheld", [])}

    assert {"support", "attendance"} == held(PO)  # a school: no youth-care content
    assert {"youth_care"} == withheld(PO)
    assert {"youth_care", "support"} == held(PROVIDER)
    assert {"attendance"} == withheld(PROVIDER)
    assert {"attendance"} == held(LEERPLICHT)
    assert {"support", "youth_care"} == withheld(LEERPLICHT)


def test_the_reader_opens_the_new_sections_with_its_keys_bound_to_their_event(
    tmp_path: Path,
) -> None:
    kinds = every_kind(D)[:-1]
    app = applied(*kinds)
    visible = PlanAccess.load(tmp_path).visible_plan(app.plan_of(CHILD), LEERPLICHT)
    (granted,) = [e for e in kinds if isinstance(e, tr.ExemptionGranted)]

    readable = asyncio.run(open_plan(visible, RoleKeyring(LEERPLICHT)))  # type: ignore[arg-type]

    exemption = readable["attendance"]["exemptions"][0]
    tlv = next(a for a in readable["arrangements"] if a["kind"] == "tlv-issued")
    assert {
        "attendance": {
            "token": granted.data.sealed[Purpose.ATTENDANCE],
            "event_id": exemption["event_id"],
        }
    } == (exemption["opened"])
    assert ({}, {"support": "role-not-permitted"}) == (tlv["opened"], tlv["refused"])
    assert all("sealed" not in item for item in sealed_items(readable))


def test_a_plan_id_is_still_one_per_child_whatever_domain_starts_it() -> None:
    app = applied(enrolled(PO, D))

    assert Plan.create_id(CHILD) == next(app.plans()).id


def test_a_school_that_took_part_by_enrolment_alone_leaves_its_regie_when_it_de_enrols() -> None:
    app = applied(enrolled(PO, D), regie(SCHOOL, SCHOOL, D), de_enrolled(PO, D))

    assert ([], {PO: ("school van inschrijving", False)}) == (
        app.plan_of(CHILD)["regie"],
        parties(app),
    )


def test_a_school_with_another_relation_stays_on_the_plan_when_it_de_enrols() -> None:
    app = applied(enrolled(PO, D), opp_drawn_up(D), de_enrolled(PO, D + timedelta(days=1)))

    assert {PO: ("school van inschrijving", True)} == parties(app)
    assert [PO] == [r["regisseur"] for r in app.plan_of(CHILD)["regie"]]


def test_the_plan_service_consumes_and_replays_the_three_domains_streams() -> None:
    spec = service_spec()

    consumed = {(c.stream.name, c.durable) for c in spec.consumers}

    assert {
        ("SIGNALLING", "integral-plan"),
        ("HANDOVER", "integral-plan"),
        ("ARRANGEMENTS", "integral-plan"),
        ("TRUANCY", "integral-plan"),
        ("PRIVACY", "integral-plan"),
        ("INBOUND", "integral-plan"),
    } == consumed
    assert set(spec.consumers) == set(SOURCES)
    assert set(spec.consumers) <= set(STREAM_CONSUMERS)

"""The arrangements application on an in-memory store, with an injected clock: every rule of
issue 6 as the partners' contract events drive it, and what goes out on the stream."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from demo import arrangements as ev
from ketenbus_contracts.arrangements import (
    ArrangementsEvent,
    DeadlinePassed,
    DisputeDeadlinePassed,
    DisputeEscalated,
    OppDrawnUpData,
    Party,
    PlacementDecided,
    RegieChanged,
    RegieChangedData,
    ReminderDue,
    TlvIssued,
    YouthCareDecided,
)
from ketenbus_contracts.envelope import CloudEvent, RelationChange
from ketenbus_contracts.purposes import Purpose
from services.arrangements.application import ArrangementsApplication, UnknownSchoolYearError
from services.arrangements.domain import ChildArrangements
from services.arrangements.monitor import MonitorRules, load_monitor_rules
from services.arrangements.rules import load_rules
from services.arrangements.translation import apply_inbound, to_contract
from services.runtime.outbox import outbound_event_id

CHILD = "c" * 32
OTHER = "d" * 32
TODAY = date(2026, 11, 24)
TRACKING = "INBOUND:arrangements"


class Clock:
    def __init__(self, today: date = TODAY) -> None:
        self.now = datetime(today.year, today.month, today.day, 11, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> ArrangementsApplication:
    return ArrangementsApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock, inbound=apply_inbound
    )


def apply(app: ArrangementsApplication, *events: CloudEvent[Any]) -> list[str]:
    """Process the events as one batch; the reasons of the refused ones."""
    start = app.position(TRACKING)
    items = [(start + i + 1, e) for i, e in enumerate(events)]
    return [str(reason) for _, reason in app.process_batch(TRACKING, items)]


def published(app: ArrangementsApplication) -> list[CloudEvent[Any]]:
    events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 1000)]
    return [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]


def names(app: ArrangementsApplication) -> list[str]:
    return [type(e).name for e in published(app)]


SEALED = {Purpose.SUPPORT: "x.y.z.w.v"}


# 1. the decisions -----------------------------------------------------------------------


def test_a_support_request_tlv_opp_youth_care_and_arrangement_go_out_as_decisions(
    app: ArrangementsApplication,
) -> None:
    refused = apply(
        app,
        ev.support_request(CHILD, TODAY, sealed=SEALED),
        ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365), categorie="H"),
        ev.opp(CHILD, TODAY, [TODAY + timedelta(days=42)]),
        ev.youth_care(CHILD, TODAY, TODAY + timedelta(days=180)),
        ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=180)),
    )

    assert [] == refused
    expected = [
        "support-requested",
        "tlv-issued",
        "opp-drawn-up",
        "youth-care-decided",
        "arrangement-agreed",
    ]
    assert expected == names(app)


def test_a_partners_sealed_decision_goes_out_under_its_own_event_id(
    app: ArrangementsApplication,
) -> None:
    request = ev.support_request(CHILD, TODAY, sealed=SEALED)
    apply(app, request)

    [out] = published(app)
    assert (request.id, SEALED, [Purpose.SUPPORT], "ketenbus.arrangements") == (
        out.id,
        out.data.sealed,
        out.purposes,
        out.source,
    )


def test_the_school_sees_that_there_is_youth_care_and_whom_to_call_in_clear() -> None:
    care = ev.youth_care(
        CHILD, TODAY, TODAY + timedelta(days=90), sealed={Purpose.YOUTH_CARE: "sealed"}
    )
    clear = care.data.model_dump(exclude={"sealed"})

    assert "Wijkteam Huissen, 026-2223344" == clear["access_team"]["contact"]
    assert [Purpose.YOUTH_CARE] == list(care.data.sealed)
    assert "product" not in str(clear)


def test_the_content_models_seal_under_support_or_youth_care() -> None:
    from ketenbus_contracts import arrangements as contracts
    from ketenbus_contracts.sealing import fields_by_purpose

    purposes = {
        model.__name__: set(fields_by_purpose(model))
        for model in (
            contracts.SupportRequestDetails,
            contracts.TlvDetails,
            contracts.OppDetails,
            contracts.ArrangementDetails,
            contracts.ReducedTimeDetails,
            contracts.YouthCareDetails,
        )
    }
    assert {Purpose.YOUTH_CARE} == purposes.pop("YouthCareDetails")
    assert all(p == {Purpose.SUPPORT} for p in purposes.values())


# 2. who may decide what, dates that make no sense ----------------------------------------


def test_a_school_issuing_a_tlv_is_refused_with_a_clear_reason(
    app: ArrangementsApplication,
) -> None:
    refused = apply(app, ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365), issuer=ev.SCHOOL))

    assert ["bs-de-regenboog (role school) may not decide tlv: only swv may"] == refused
    assert [] == names(app)


def test_a_swv_may_not_decide_on_youth_care(app: ArrangementsApplication) -> None:
    refused = apply(app, ev.youth_care(CHILD, TODAY, TODAY + timedelta(days=9), decider=ev.SWV))

    assert ["swv-lingewaard (role swv) may not decide youth-care: only wijkteam may"] == refused


def test_a_partner_deciding_in_anothers_name_is_refused(app: ArrangementsApplication) -> None:
    tlv = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365))
    forged = tlv.model_copy(update={"data": tlv.data.model_copy(update={"swv": ev.WIJKTEAM})})

    assert [
        "the issuing SWV must be the publishing partner (swv-lingewaard), not wijkteam-lingewaard"
    ] == apply(app, forged)


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (TODAY, TODAY, "the TLV ends (2026-11-24) on or before it starts (2026-11-24)"),
        (TODAY, TODAY - timedelta(days=30), "on or before it starts"),
    ],
)
def test_tlv_dates_that_make_no_sense_are_refused(
    app: ArrangementsApplication, start: date, end: date, reason: str
) -> None:
    [refused] = apply(app, ev.tlv(CHILD, start, end))

    assert reason in refused


def test_a_decision_dated_in_the_future_is_refused(app: ArrangementsApplication) -> None:
    [refused] = apply(app, ev.support_request(CHILD, TODAY + timedelta(days=1)))

    assert "the request date 2026-11-25 lies in the future (today is 2026-11-24)" == refused


def test_opp_review_dates_must_follow_the_opp_in_order(app: ArrangementsApplication) -> None:
    refused = apply(
        app,
        ev.opp(CHILD, TODAY, [TODAY]),
        ev.opp(CHILD, TODAY, [TODAY + timedelta(days=60), TODAY + timedelta(days=30)]),
    )

    assert [
        "review date 2026-11-24 is not after the OPP date",
        "review dates must be distinct and in order",
    ] == refused


def test_the_same_tlv_number_twice_is_refused(app: ArrangementsApplication) -> None:
    end = TODAY + timedelta(days=365)
    refused = apply(app, ev.tlv(CHILD, TODAY, end), ev.tlv(CHILD, TODAY, end))

    assert ["beschikkingsnummer TLV-2026-0001 is already used"] == refused


# 3. the grey-area scheme, disputes and escalation ----------------------------------------


def test_an_arrangement_without_an_agreed_split_is_paid_as_the_decision_scheme_says(
    app: ArrangementsApplication,
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90), kind="adl-op-school")
    apply(app, arrangement)

    funding = app.arrangements_of(CHILD).funding_of(arrangement.data.arrangement_id)
    assert {
        "status": "scheme",
        "split": [{"payer": "swv", "percent": 50}, {"payer": "municipality", "percent": 50}],
        "support": "running",
    } == funding


def test_a_split_that_does_not_add_up_or_an_unknown_kind_without_split_is_refused(
    app: ArrangementsApplication,
) -> None:
    end = TODAY + timedelta(days=90)
    refused = apply(
        app,
        ev.arrangement(CHILD, TODAY, end, funding=ev.split(swv=50, municipality=40)),
        ev.arrangement(CHILD, TODAY, end, kind="paardrijden"),
    )

    assert [
        "a funding split must add up to 100%",
        "kind 'paardrijden' is not in the decision scheme: agree a split explicitly",
    ] == refused


def test_a_dispute_keeps_support_running_and_is_escalated_to_the_regions_holders_by_a_deadline(
    app: ArrangementsApplication,
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90))
    aid = arrangement.data.arrangement_id
    apply(app, arrangement, ev.dispute(CHILD, aid, TODAY, proposed=ev.split(municipality=100)))

    escalated = [e for e in published(app) if isinstance(e, DisputeEscalated)]
    assert [(["swv-lingewaard", "gemeente-lingewaard"], TODAY + timedelta(days=10))] == [
        ([h.partner for h in e.data.holders], e.data.deadline) for e in escalated
    ]
    funding = app.arrangements_of(CHILD).funding_of(aid)
    assert ("disputed", "running") == (funding["status"], funding["support"])


def test_only_a_party_may_dispute_and_only_one_dispute_runs_at_a_time(
    app: ArrangementsApplication,
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90))
    aid = arrangement.data.arrangement_id
    refused = apply(
        app,
        arrangement,
        ev.dispute(CHILD, aid, TODAY, by="jgz-gelderland-zuid"),
        ev.dispute(CHILD, aid, TODAY),
        ev.dispute(CHILD, aid, TODAY, by="wijkteam-lingewaard"),
    )

    assert [
        "jgz-gelderland-zuid (role jgz) may not decide funding-dispute: "
        "only school, swv, wijkteam, youth-care-provider may",
        f"arrangement {aid} already has an open dispute",
    ] == refused


def test_a_holder_of_doorzettingsmacht_decides_and_the_split_is_fixed(
    app: ArrangementsApplication,
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90))
    aid, did = arrangement.data.arrangement_id, uuid.uuid4()
    refused = apply(
        app,
        arrangement,
        ev.dispute(CHILD, aid, TODAY, dispute_id=did),
        ev.decision(CHILD, did, aid, TODAY, ev.split(swv=100), by="bs-de-regenboog"),
        ev.decision(CHILD, did, aid, TODAY, ev.split(swv=30, municipality=70)),
        ev.decision(CHILD, did, aid, TODAY, ev.split(swv=100), by="swv-lingewaard"),
    )

    assert [
        "bs-de-regenboog holds no doorzettingsmacht in region lingewaard",
        f"dispute {did} was decided on 2026-11-24",
    ] == refused
    funding = app.arrangements_of(CHILD).funding_of(aid)
    assert (
        "decided",
        [{"payer": "swv", "percent": 30}, {"payer": "municipality", "percent": 70}],
    ) == (
        funding["status"],
        funding["split"],
    )


def test_holders_are_reminded_before_the_deadline_and_told_once_it_passed(
    app: ArrangementsApplication, clock: Clock
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90))
    apply(app, arrangement, ev.dispute(CHILD, arrangement.data.arrangement_id, TODAY))
    counts = []
    for day in (4, 5, 5, 8, 9, 10, 11, 12):
        clock.now = datetime(2026, 11, 24, 11, tzinfo=UTC) + timedelta(days=day)
        counts.append(app.tick(clock.now))

    reminders = [e for e in published(app) if isinstance(e, ReminderDue)]
    passed = [e for e in published(app) if isinstance(e, DisputeDeadlinePassed)]
    assert [0, 1, 0, 0, 1, 0, 1, 0] == counts
    assert [("dispute-deadline", date(2026, 12, 4))] * 2 == [
        (r.data.about, r.data.due_on) for r in reminders
    ]
    assert [date(2026, 12, 4)] == [p.data.deadline for p in passed]


def test_a_decided_dispute_sends_no_more_reminders(
    app: ArrangementsApplication, clock: Clock
) -> None:
    arrangement = ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90))
    aid, did = arrangement.data.arrangement_id, uuid.uuid4()
    apply(app, arrangement, ev.dispute(CHILD, aid, TODAY, dispute_id=did))
    apply(app, ev.decision(CHILD, did, aid, TODAY, ev.split(municipality=100)))
    clock.now += timedelta(days=20)

    assert 0 == app.tick(clock.now)


# 4. Variawet -------------------------------------------------------------------------------


def test_reduced_teaching_time_with_an_opp_and_a_plan_back_to_full_time_is_requested(
    app: ArrangementsApplication,
) -> None:
    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=60)])
    request = ev.reduced_time(
        CHILD, plan.data.opp_id, TODAY, 12, TODAY, TODAY + timedelta(days=120),
        [(TODAY + timedelta(days=40), 18), (TODAY + timedelta(days=100), 25)],
    )  # fmt: skip
    refused = apply(app, plan, request)

    assert [] == refused
    assert ["opp-drawn-up", "reduced-teaching-time-requested"] == names(app)


def test_reduced_teaching_time_is_refused_without_an_opp_or_a_way_back_to_full_time(
    app: ArrangementsApplication,
) -> None:
    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=60)])
    end = TODAY + timedelta(days=120)
    later = TODAY + timedelta(days=60)
    refused = apply(
        app,
        plan,
        ev.reduced_time(CHILD, uuid.uuid4(), TODAY, 12, TODAY, end, [(later, 25)]),
        ev.reduced_time(CHILD, plan.data.opp_id, TODAY, 12, TODAY, end, [(later, 20)]),
        ev.reduced_time(CHILD, plan.data.opp_id, TODAY, 26, TODAY, end, [(later, 26)]),
        ev.reduced_time(CHILD, plan.data.opp_id, TODAY, 12, TODAY, end, [(end + timedelta(1), 25)]),
        ev.reduced_time(
            CHILD, plan.data.opp_id, TODAY, 12, TODAY, TODAY + timedelta(days=400), [(later, 25)]
        ),
    )

    assert [
        "reduced teaching time needs an OPP",
        "the plan must end at full time (25.0 hours a week)",
        "26.0 hours a week is not less than full time 25.0",
        "the steps back to full time must be in order, in the period",
        "reduced teaching time is granted for 366 days at most",
    ] == [r.split(":")[0] if r.startswith("reduced teaching time needs") else r for r in refused]


# 5. regie and the tandem register ---------------------------------------------------------


def regie_change(domain: Any, ref: uuid.UUID, source: str, regie: Party) -> RegieChanged:
    return RegieChanged.create(
        source=source,
        subject=CHILD,
        data=RegieChangedData(domain=domain, ref_id=ref, regie=regie, changed_on=TODAY),
    )


def test_regie_is_the_ibers_on_the_opp_and_the_municipalitys_on_youth_care_and_changes(
    app: ArrangementsApplication,
) -> None:
    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=60)])
    care = ev.youth_care(CHILD, TODAY, TODAY + timedelta(days=90))
    other_ib = Party(partner="bs-de-regenboog", role="ib-er", contact="Nieuwe IB'er, 026-1")
    refused = apply(
        app,
        plan,
        care,
        regie_change("opp", plan.data.opp_id, "bs-de-regenboog", other_ib),
        regie_change("youth_care", care.data.decision_id, "bs-de-regenboog", other_ib),
    )

    assert [
        "bs-de-regenboog (role school) may not decide regie-youth-care: "
        "only municipality, wijkteam may"
    ] == refused
    regie = app.arrangements_of(CHILD).regie_of()
    assert {
        f"opp/{plan.data.opp_id}": other_ib.model_dump(),
        f"youth-care/{care.data.decision_id}": ev.WIJKTEAM.model_dump(),
    } == regie
    assert "regie-changed" == names(app)[-1]


def test_the_tandem_register_answers_both_ways() -> None:
    rules = load_rules()

    tandem = rules.tandem_of_school("bs-de-regenboog")
    assert tandem is not None and "wijkteam-lingewaard" == tandem.access_team
    assert ["bs-de-regenboog"] == [
        t.school for t in rules.schools_of_access_team("wijkteam-lingewaard")
    ]


# 6. relations for kluis -----------------------------------------------------------------


def test_the_parties_to_an_arrangement_get_a_relation_with_the_child_until_its_end() -> None:
    end = TODAY + timedelta(days=90)
    arrangement = ev.arrangement(CHILD, TODAY, end)
    basis = f"arrangement/{arrangement.data.arrangement_id}"

    assert [
        RelationChange(p, "arrangement", basis, active=True, until=end)
        for p in ("bs-de-regenboog", "swv-lingewaard", "wijkteam-lingewaard", "jeugdhulp-de-linde")
    ] == arrangement.relation_changes()


def test_youth_care_gives_the_access_team_and_provider_a_relation_not_the_school() -> None:
    care = ev.youth_care(CHILD, TODAY, TODAY + timedelta(days=90))

    partners = {change.partner for change in care.relation_changes()}
    assert {"wijkteam-lingewaard", "jeugdhulp-de-linde"} == partners


def test_every_published_event_parses_as_an_arrangements_event(
    app: ArrangementsApplication,
) -> None:
    from pydantic import TypeAdapter

    apply(app, ev.arrangement(CHILD, TODAY, TODAY + timedelta(days=90)))
    adapter = TypeAdapter[Any](ArrangementsEvent)

    assert all(adapter.validate_json(e.to_bytes()) == e for e in published(app))


# 7. reminders and the monitor -------------------------------------------------------------


def placed(child: str, tlv: TlvIssued, on: date = TODAY) -> list[CloudEvent[Any]]:
    """The child's aanmelding at a special school on the TLV, and its placement there."""
    aanmelding = ev.aanmelding(child, on, tlv_id=tlv.data.tlv_id, extra_support=False)
    return [aanmelding, ev.placement(child, aanmelding.data.aanmelding_id, on, placed_on=on)]


def test_the_clock_loads_only_the_children_with_a_reminder_due(
    app: ArrangementsApplication, clock: Clock
) -> None:
    tlv = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365))
    apply(app, tlv, *placed(CHILD, tlv))
    apply(app, ev.arrangement(OTHER, TODAY, TODAY + timedelta(days=90)))
    before = app.due_by(clock.now + timedelta(days=274))

    due = app.due_by(clock.now + timedelta(days=275))

    assert ([], [ChildArrangements.create_id(CHILD)]) == (before, due)


def test_tlv_renewal_is_due_ahead_of_expiry_once_and_not_after_a_renewal(
    app: ArrangementsApplication, clock: Clock
) -> None:
    first = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365))
    apply(app, first, *placed(CHILD, first))
    clock.now += timedelta(days=274)
    early = app.tick(clock.now)
    clock.now += timedelta(days=1)
    due, again = app.tick(clock.now), app.tick(clock.now)
    second = ev.tlv(CHILD, TODAY + timedelta(days=365), TODAY + timedelta(days=730), number="2")
    apply(app, second, *placed(CHILD, second, TODAY + timedelta(days=275)))
    clock.now += timedelta(days=60)

    assert (0, 1, 0, 0) == (early, due, again, app.tick(clock.now))
    [reminder] = [e for e in published(app) if isinstance(e, ReminderDue)]
    assert ("tlv-renewal", first.data.tlv_id, ["swv-lingewaard", "bs-de-regenboog"]) == (
        reminder.data.about,
        reminder.data.ref_id,
        reminder.data.to,
    )


def test_opp_reviews_youth_care_ends_and_reduced_time_ends_produce_reminders(
    app: ArrangementsApplication, clock: Clock
) -> None:
    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=20), TODAY + timedelta(days=100)])
    apply(
        app,
        plan,
        ev.youth_care(CHILD, TODAY, TODAY + timedelta(days=50)),
        ev.reduced_time(
            CHILD, plan.data.opp_id, TODAY, 12, TODAY, TODAY + timedelta(days=30),
            [(TODAY + timedelta(days=30), 25)],
        ),
    )  # fmt: skip
    clock.now += timedelta(days=10)
    app.tick(clock.now)

    reminders = [e.data.about for e in published(app) if isinstance(e, ReminderDue)]
    assert ["opp-review", "youth-care-end", "reduced-time-end"] == reminders


def test_the_monitor_counts_tlvs_per_quarter_and_category(app: ArrangementsApplication) -> None:
    other = "d" * 32
    apply(
        app,
        ev.tlv(CHILD, date(2026, 8, 1), date(2027, 8, 1), categorie="L"),
        ev.tlv(other, date(2026, 9, 1), date(2027, 8, 1), categorie="H", number="2"),
        ev.tlv(other, date(2026, 10, 1), date(2027, 8, 1), categorie="H", number="3"),
    )

    assert {"2026-Q3": {"H": 1, "L": 1}, "2026-Q4": {"H": 1}} == app.tlv_counts()


def test_the_joint_deployment_of_education_and_care_is_counted_per_quarter(
    app: ArrangementsApplication,
) -> None:
    joint = ev.arrangement(CHILD, date(2026, 9, 1), date(2027, 7, 1))
    school_only = ev.arrangement("d" * 32, date(2026, 9, 2), date(2027, 7, 1))
    school_only = school_only.model_copy(
        update={"data": school_only.data.model_copy(update={"parties": [ev.SCHOOL, ev.SWV]})}
    )
    apply(app, joint, school_only)

    counts = app.joint_deployments(load_monitor_rules())

    assert {"2026-Q3": {"arrangements": 2, "joint": 1}} == counts


def test_the_tlv_rate_is_read_against_the_national_figure(app: ArrangementsApplication) -> None:
    for n, start in enumerate([date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]):
        other = "cdefg"[n] * 32
        apply(app, ev.tlv(other, start, date(2027, 8, 1), number=f"T-{n}"))
    apply(app, ev.tlv("h" * 32, date(2026, 7, 31), date(2027, 8, 1), number="T-9"))
    table = MonitorRules.model_validate({
        "version": "test",
        "joint_deployment": {"education_roles": ["school"], "care_roles": ["wijkteam"]},
        "tlv_rate": {"2026-2027": {"national_percent": 1.9, "pupils": {"swv-lingewaard": 100},
                                   "source": "DUO, teldatum 1 oktober 2026"}},
    })  # fmt: skip

    rate = app.tlv_rate(table, "2026-2027")["swv"]["swv-lingewaard"]

    assert {"tlvs": 3, "pupils": 100, "percent": 3.0, "national_percent": 1.9,
            "above_national": True, "source": "DUO, teldatum 1 oktober 2026",
            "placeholder": False} == rate  # fmt: skip
    with pytest.raises(UnknownSchoolYearError):
        app.tlv_rate(table, "2030-2031")


def test_the_tlv_figures_name_their_source_and_placeholders_say_so() -> None:
    shipped = load_monitor_rules()
    terms = load_rules().tlv_terms

    with pytest.raises(ValueError, match="source"):
        MonitorRules.model_validate({
            "version": "test",
            "joint_deployment": {"education_roles": ["school"], "care_roles": ["wijkteam"]},
            "tlv_rate": {"2026-2027": {"national_percent": 1.9, "pupils": {}}},
        })  # fmt: skip
    # The demo region's figures are not DUO's nor an ondersteuningsplan's: marked placeholders.
    assert {("2026-2027", True)} == {(y, t.placeholder) for y, t in shipped.tlv_rate.items()}
    assert {True} == {t.placeholder for t in terms.values()}
    assert all("PLACEHOLDER" in t.source for t in terms.values())


def test_a_redelivered_batch_has_its_effect_once(app: ArrangementsApplication) -> None:
    request = ev.support_request(CHILD, TODAY)
    app.process_batch(TRACKING, [(1, request)])
    app.process_batch(TRACKING, [(1, request)])

    assert ["support-requested"] == names(app)


def test_an_unknown_opp_date_in_the_contract_is_invalid() -> None:
    with pytest.raises(ValueError, match="review_dates"):
        OppDrawnUpData(
            opp_id=uuid.uuid4(), school="bs-de-regenboog", regie=ev.SCHOOL,
            drawn_up_on=TODAY, review_dates=[],
        )  # fmt: skip


def test_youth_care_contract_type_is_registered() -> None:
    assert "nl.ketenbus.arrangements.youth-care-decided.v1" == YouthCareDecided.event_type()


# passend onderwijs: OPP, zorgplicht, TLV (docs/domain.md) --------------------------------


def reminders(app: ArrangementsApplication) -> list[tuple[str, uuid.UUID]]:
    return [(e.data.about, e.data.ref_id) for e in published(app) if isinstance(e, ReminderDue)]


def passed(app: ArrangementsApplication) -> list[tuple[str, uuid.UUID, date]]:
    return [
        (e.data.about, e.data.ref_id, e.data.deadline)
        for e in published(app)
        if isinstance(e, DeadlinePassed)
    ]


def test_opp_is_drawn_up_after_op_overeenstemming_gericht_overleg_with_the_parents(
    app: ArrangementsApplication,
) -> None:
    without = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=90)])
    without = without.model_copy(
        update={"data": without.data.model_copy(update={"parents_consulted_on": None})}
    )

    [refused] = apply(app, without)
    assert "op overeenstemming gericht overleg with the parents" in refused
    assert [] == apply(app, ev.opp(CHILD, TODAY, [TODAY + timedelta(days=90)]))


def test_opp_handelingsdeel_needs_the_parents_consent(app: ArrangementsApplication) -> None:
    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=90)], consent="pending")
    apply(app, plan)
    pending = app.arrangements_of(CHILD).opps[plan.data.opp_id]["handelingsdeel_consent"]

    assert [] == apply(app, ev.handelingsdeel(CHILD, plan.data.opp_id, TODAY))
    granted = app.arrangements_of(CHILD).opps[plan.data.opp_id]["handelingsdeel_consent"]
    assert ("pending", "granted") == (pending, granted)
    assert ["opp-drawn-up", "handelingsdeel-consented"] == names(app)
    [again] = apply(app, ev.handelingsdeel(CHILD, plan.data.opp_id, TODAY))
    assert "consented to OPP" in again


def test_opp_is_drawn_up_within_six_weeks_of_placement(
    app: ArrangementsApplication, clock: Clock
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    ref = aanmelding.data.aanmelding_id
    apply(app, aanmelding, ev.placement(CHILD, ref, TODAY, placed_on=TODAY))
    clock.now += timedelta(days=28)
    app.tick(clock.now)
    clock.now += timedelta(days=15)
    app.tick(clock.now)

    assert [("opp-after-placement", ref)] == reminders(app)
    assert [("opp-after-placement", ref, TODAY + timedelta(days=42))] == passed(app)
    [decided] = [e for e in published(app) if isinstance(e, PlacementDecided)]
    assert TODAY + timedelta(days=42) == decided.data.opp_due_on


def test_opp_drawn_up_in_time_after_placement_leaves_no_deadline(
    app: ArrangementsApplication, clock: Clock
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    ref = aanmelding.data.aanmelding_id
    apply(app, aanmelding, ev.placement(CHILD, ref, TODAY, placed_on=TODAY))
    apply(app, ev.opp(CHILD, TODAY, [TODAY + timedelta(days=180)]))
    clock.now += timedelta(days=60)
    app.tick(clock.now)

    assert [] == [about for about, *_ in passed(app)]


def test_opp_is_evaluated_at_least_yearly(app: ArrangementsApplication, clock: Clock) -> None:
    too_late = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=200), TODAY + timedelta(days=600)])
    [refused] = apply(app, too_late)
    assert "evaluated at least once a year" in refused

    plan = ev.opp(CHILD, TODAY, [TODAY + timedelta(days=300)])
    apply(app, plan)
    clock.now += timedelta(days=340)
    app.tick(clock.now)
    clock.now += timedelta(days=26)
    app.tick(clock.now)

    opp_id = plan.data.opp_id
    assert ("opp-evaluation", opp_id) in reminders(app)
    assert [("opp-evaluation", opp_id, TODAY + timedelta(days=365))] == passed(app)


def test_zorgplicht_the_school_decides_within_six_weeks_of_the_aanmelding(
    app: ArrangementsApplication, clock: Clock
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    apply(app, aanmelding)
    ref = aanmelding.data.aanmelding_id
    clock.now += timedelta(days=42)
    app.tick(clock.now)
    on_the_day = passed(app)
    clock.now += timedelta(days=1)
    app.tick(clock.now)
    app.tick(clock.now)

    [received] = [e for e in published(app) if type(e).name == "aanmelding-received"]
    assert TODAY + timedelta(days=42) == received.data.decide_by
    assert ([], [("zorgplicht-decision", ref, TODAY + timedelta(days=42))]) == (
        on_the_day,
        passed(app),
    )
    assert [("zorgplicht-decision", ref)] == reminders(app)


def test_zorgplicht_the_decision_period_is_extendable_once_by_four_weeks(
    app: ArrangementsApplication, clock: Clock
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    ref = aanmelding.data.aanmelding_id
    apply(app, aanmelding)
    clock.now += timedelta(days=40)
    app.tick(clock.now)

    assert [] == apply(app, ev.extension(CHILD, ref, TODAY + timedelta(days=40)))
    [twice] = apply(app, ev.extension(CHILD, ref, TODAY + timedelta(days=40)))
    clock.now += timedelta(days=30)
    app.tick(clock.now)

    clock.now += timedelta(days=1)
    app.tick(clock.now)
    assert "extended once only" in twice
    assert [("zorgplicht-decision", ref, TODAY + timedelta(days=70))] == passed(app)
    assert TODAY + timedelta(days=70) == app.arrangements_of(CHILD).aanmeldingen[ref]["decide_by"]


def test_zorgplicht_the_period_cannot_be_extended_after_it_ended(
    app: ArrangementsApplication, clock: Clock
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    apply(app, aanmelding)
    clock.now += timedelta(days=50)

    late = ev.extension(CHILD, aanmelding.data.aanmelding_id, TODAY + timedelta(days=50))
    [refused] = apply(app, late)
    assert "the period ended on 2027-01-05" == refused


def test_zorgplicht_a_school_that_does_not_place_names_the_school_that_admits_the_child(
    app: ArrangementsApplication,
) -> None:
    aanmelding = ev.aanmelding(CHILD, TODAY)
    ref = aanmelding.data.aanmelding_id
    apply(app, aanmelding)

    [refused] = apply(app, ev.placement(CHILD, ref, TODAY, other_school=ev.SCHOOL.partner))
    assert "names the school that admits it instead" in refused
    assert [] == apply(app, ev.placement(CHILD, ref, TODAY, other_school="sbo-de-brug"))
    [twice] = apply(app, ev.placement(CHILD, ref, TODAY, placed_on=TODAY))
    assert f"aanmelding {ref} was decided on" == twice


def test_a_tlv_issued_with_no_place_is_waiting_with_its_own_clock(
    app: ArrangementsApplication, clock: Clock
) -> None:
    waiting = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365))
    placed_tlv = ev.tlv(OTHER, TODAY, TODAY + timedelta(days=365), number="2")
    apply(app, waiting, placed_tlv, *placed(OTHER, placed_tlv))
    clock.now += timedelta(days=28)
    app.tick(clock.now)

    assert [waiting.data.tlv_id] == app.arrangements_of(CHILD).waiting_tlvs()
    assert [] == app.arrangements_of(OTHER).waiting_tlvs()
    [(about, ref, to)] = [
        (e.data.about, e.data.ref_id, e.data.to)
        for e in published(app)
        if isinstance(e, ReminderDue)
    ]
    assert ("tlv-waiting", waiting.data.tlv_id, ["swv-lingewaard"]) == (about, ref, to)


@pytest.mark.parametrize(
    ("experts", "reason"),
    [
        (("orthopedagoog",), "a TLV rests on 2 expert opinions (deskundigenadvies), not 1"),
        (("kinderarts", "psychiater"), "one of the experts is an orthopedagoog, psycholoog"),
    ],
)
def test_a_tlv_rests_on_two_expert_opinions(
    app: ArrangementsApplication, experts: tuple[str, ...], reason: str
) -> None:
    [refused] = apply(app, ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365), experts=experts))

    assert reason == refused
    assert [] == apply(app, ev.tlv(CHILD, TODAY, TODAY + timedelta(days=365)))
    [issued] = [e for e in published(app) if isinstance(e, TlvIssued)]
    assert ["orthopedagoog", "kinderarts"] == [o.discipline for o in issued.data.expert_opinions]


def test_the_tlv_term_comes_from_the_swv_rules_not_invented_bounds(
    app: ArrangementsApplication,
) -> None:
    # swv-lingewaard sets no maximum (a TLV to the end of the so career): eight years is its
    # term, where the code once capped every TLV at five years and a short one at four weeks.
    long = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=8 * 365))
    short = ev.tlv(CHILD, TODAY, TODAY + timedelta(days=7), number="2")
    po = ev.Party(partner="swv-po-lingewaard", role="loket", contact="Loket, 026-0000000")
    three_years = ev.tlv(OTHER, TODAY, date(2029, 7, 31), issuer=po, number="3")

    assert [] == apply(app, long, short)
    assert ["swv-po-lingewaard's TLVs span 2 school years at most, not 3"] == apply(
        app, three_years
    )
    assert [] == apply(app, ev.tlv(OTHER, TODAY, date(2028, 7, 31), issuer=po, number="4"))

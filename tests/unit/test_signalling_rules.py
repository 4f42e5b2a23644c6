"""The signalling rules (rules.yaml) per rule, in memory, with the time under the test's control."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from eventsourcing.application import AggregateNotFoundError

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
    AgeBandDeclared,
    AgeBandDeclaredData,
    ChildDeceased,
    ChildDeceasedData,
    ContactEscalated,
    ContactMade,
    ContactMadeData,
    ContactReminder,
    Coordinator,
    CoordinatorAssigned,
    CoordinatorChanged,
    CoordinatorChangedData,
    HistoryNotice,
    InformingConfirmed,
    InformingConfirmedData,
    InformingPostponed,
    InformingPostponedData,
    MatchEnded,
    MatchFound,
    ParentsInformed,
    RiskInventoryRecorded,
    RiskInventoryRecordedData,
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
    SignalWithdrawnData,
    UnknownConcernCodeError,
    age_band_of,
    check_concern_codes,
    signal_period,
)
from services.integral_plan.application import IntegralPlanApplication
from services.integral_plan.domain import signalling_seen_by
from services.policy.loading import load_register
from services.runtime.outbox import outbound_event_id
from services.runtime.partitions import NotPartitionedError
from services.runtime.partners import PartnerRegistry
from services.runtime.settings import Settings
from services.signalling import bootstrap as signalling_bootstrap
from services.signalling.application import (
    AgeBandRequiredError,
    RoleNotAllowedError,
    SignallingApplication,
    UnknownCodeError,
    UnknownPartnerError,
)
from services.signalling.domain import (
    ChildDeceasedError,
    HouseholdSignals,
    NotAPartyError,
    NotTheSignallerError,
    UnknownMatchError,
)
from services.signalling.rules import (
    RULES_PATH,
    HouseholdMatchingWithoutBasisError,
    Period,
    SignallingRules,
    load_rules,
)
from services.signalling.translation import apply_inbound, to_contract
from tests.events import signal

E = TypeVar("E")

CHILD = "c" * 32
SIBLING = "d" * 32
HOUSEHOLD = "h" * 32
SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz")
CHILDCARE = Signaller(partner="kdv-het-speelhuis", role="pm", contact="kdv")
LEERPLICHT = Signaller(partner="leerplicht-lingewaard", role="leerplichtambtenaar", contact="lp")
WIJKTEAM = "wijkteam-lingewaard"
TRACKING = "INBOUND:signalling"
REGISTERED_ON = date(2026, 11, 1)


class Clock:
    """The application's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def household_rules() -> SignallingRules:
    """Household matching switched on, as a region with a recorded legal basis would."""
    rules = load_rules()
    matching = rules.matching.model_copy(update={"household_matching": True})
    return rules.model_copy(update={"matching": matching})


class Harness:
    """A signalling application in memory: feed inbound events, tick, read what it published."""

    def __init__(self, rules: SignallingRules | None = None) -> None:
        self.clock = Clock()
        self.app = SignallingApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
            clock=self.clock,
            rules=rules,
            inbound=apply_inbound,
        )
        self.seq = 0

    def feed(self, *events: CloudEvent[Any]) -> list[type[Exception]]:
        items = []
        for e in events:
            self.seq += 1
            items.append((self.seq, e))
        return [type(exc) for _, exc in self.app.process_batch(TRACKING, items)]

    def tick(self, at: datetime) -> None:
        self.clock.now = at
        self.app.tick(at)

    def published(self) -> list[CloudEvent[Any]]:
        app = self.app
        notifications = app.recorder.select_notifications(1, 10_000)
        events = [app.mapper.to_domain_event(n) for n in notifications]
        return [c for e in events if (c := to_contract(e, outbound_event_id(app.name, e)))]

    def of_type(self, kind: type[E]) -> list[E]:
        return [c for c in self.published() if isinstance(c, kind)]


def withdraw(
    event: SignalRegistered, reason: str = "withdrawn", by: str | None = None
) -> SignalWithdrawn:
    return SignalWithdrawn.create(
        source=by or event.source,
        subject=event.subject,
        data=SignalWithdrawnData.model_validate(
            {"signal_id": event.data.signal_id, "withdrawn_on": "2026-12-01", "reason": reason}
        ),
    )


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def with_coordinator_rule(rule: str) -> SignallingRules:
    rules = load_rules()
    lingewaard = rules.coordinator.municipalities["1705"].model_copy(update={"rule": rule})
    coordinator = rules.coordinator.model_copy(update={"municipalities": {"1705": lingewaard}})
    return rules.model_copy(update={"coordinator": coordinator})


# ------------------------------------------------------------------------------- rules as data


def test_the_rules_file_gives_the_lifecycle_periods() -> None:
    rules = load_rules()

    assert date(2028, 11, 1) == rules.max_signal_duration.after_date(REGISTERED_ON)
    assert date(2028, 11, 1) == rules.history_retention.after_date(REGISTERED_ON)
    assert 23 == rules.lifecycle.age_limit_years
    assert "attendance" in rules.concern_domains


def test_a_period_on_29_february_falls_back_to_28_february() -> None:
    assert date(2029, 2, 28) == Period.parse("P1Y").after_date(date(2028, 2, 29))
    with pytest.raises(ValueError, match="ISO 8601"):
        Period.parse("two years")


# ------------------------------------------------------------------------------------- expiry


def test_a_signal_expires_on_its_planned_removal_date_by_the_tick() -> None:
    h = Harness()
    h.feed(signal(SCHOOL, until=date(2027, 3, 1)))

    h.tick(at(date(2027, 2, 28)))
    assert [] == h.of_type(SignalWithdrawn)

    h.tick(at(date(2027, 3, 1), hour=0))
    [ended] = h.of_type(SignalWithdrawn)
    assert ("expired", date(2027, 3, 1)) == (ended.data.reason, ended.data.withdrawn_on)
    assert frozenset() == h.app.signals_of(CHILD).active_partners


def test_a_signal_ends_after_two_years_whatever_its_planned_removal_date() -> None:
    h = Harness()
    h.feed(signal(SCHOOL, until=date(2031, 1, 1)))

    h.tick(at(date(2028, 10, 31)))
    assert [] == h.of_type(SignalWithdrawn)
    h.tick(at(date(2028, 11, 1)))
    assert [date(2028, 11, 1)] == [e.data.withdrawn_on for e in h.of_type(SignalWithdrawn)]


def test_an_expired_signal_ends_the_match() -> None:
    h = Harness()
    h.feed(signal(SCHOOL, until=date(2027, 1, 1)), signal(JGZ))

    h.tick(at(date(2027, 1, 2)))

    assert h.app.signals_of(CHILD).match is None


def test_the_signaller_may_withdraw_because_the_risk_ended() -> None:
    h = Harness()
    first = signal(SCHOOL)
    h.feed(first)

    assert [] == h.feed(withdraw(first, reason="risk-ended"))
    assert ["risk-ended"] == [e.data.reason for e in h.of_type(SignalWithdrawn)]


def test_a_partner_may_not_withdraw_with_a_reason_only_the_backbone_gives() -> None:
    h = Harness()
    first = signal(SCHOOL)
    h.feed(first)

    assert [UnknownCodeError] == h.feed(withdraw(first, reason="expired"))
    assert frozenset({"bs-de-regenboog"}) == h.app.signals_of(CHILD).active_partners


# -------------------------------------------------------------------------------------- death


def death(by: str = WIJKTEAM, child: str = CHILD) -> ChildDeceased:
    return ChildDeceased.create(
        source=by, subject=child, data=ChildDeceasedData(died_on=date(2027, 1, 5))
    )


def test_a_reported_death_ends_every_signal_and_refuses_new_ones() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))

    assert [] == h.feed(death())

    assert ["deceased", "deceased"] == [e.data.reason for e in h.of_type(SignalWithdrawn)]
    assert [ChildDeceasedError] == h.feed(signal(CHILDCARE))


def test_only_the_roles_in_the_rules_may_report_a_death() -> None:
    h = Harness()
    h.feed(signal(SCHOOL))

    assert [RoleNotAllowedError] == h.feed(death(by="bs-de-regenboog"))
    assert frozenset({"bs-de-regenboog"}) == h.app.signals_of(CHILD).active_partners


# --------------------------------------------------------------------------------- bad codes


def test_a_signal_without_an_age_band_is_refused() -> None:
    h = Harness()

    refused = h.feed(signal(SCHOOL, age_band=None), signal(JGZ))

    assert [AgeBandRequiredError] == refused
    assert frozenset({"jgz-gelderland-zuid"}) == h.app.signals_of(CHILD).active_partners


def test_no_age_band_may_reach_the_age_limit_of_23() -> None:
    raw = load_rules().model_dump()
    raw["age_bands"]["16-23"] = {"label": "te oud", "inform": ["child"]}

    with pytest.raises(ValueError, match="age limit of 23"):
        SignallingRules.model_validate(raw)


def test_household_matching_is_off_unless_the_register_records_its_basis(tmp_path: Any) -> None:
    rules_file = tmp_path / "rules.yaml"
    text = RULES_PATH.read_text().replace("household_matching: false", "household_matching: true")
    rules_file.write_text(text)
    register = load_register()
    activity = register.activity(Purpose.SIGNALLING)
    with_basis = activity.model_copy(
        update={"further_processing": {"household-matching": "toestemming ouders (AVG 6.1.a)"}}
    )
    recorded = register.model_copy(
        update={"activities": register.activities | {Purpose.SIGNALLING: with_basis}}
    )

    assert not load_rules().matching.household_matching
    with pytest.raises(HouseholdMatchingWithoutBasisError):
        load_rules(rules_file, register=register)
    assert load_rules(rules_file, register=recorded).matching.household_matching


def test_signalling_keeps_its_data_for_the_registers_one_figure() -> None:
    register = load_register()

    assert register.activity(Purpose.SIGNALLING).retention == load_rules().retention


def test_an_unknown_age_band_is_refused_and_the_rest_of_the_batch_takes_effect() -> None:
    h = Harness()

    refused = h.feed(signal(SCHOOL, age_band="23-30"), signal(JGZ))

    assert [UnknownCodeError] == refused
    assert frozenset({"jgz-gelderland-zuid"}) == h.app.signals_of(CHILD).active_partners


def test_an_unknown_municipality_or_partner_is_refused() -> None:
    h = Harness()
    stranger = Signaller(partner="school-elders", role="ib-er", contact="x")

    assert [UnknownCodeError, UnknownPartnerError] == h.feed(
        signal(SCHOOL, municipality="9999"), signal(stranger)
    )
    assert [] == h.published()


# ---------------------------------------------------------------------- matching, household


def test_signals_of_two_partners_on_children_of_one_household_make_a_household_match() -> None:
    h = Harness(household_rules())

    h.feed(
        signal(SCHOOL, child=CHILD, household=HOUSEHOLD),
        signal(JGZ, child=SIBLING, household=HOUSEHOLD),
    )

    matches = h.of_type(MatchFound)
    assert [(CHILD, "household"), (SIBLING, "household")] == sorted(
        (m.subject, m.data.scope) for m in matches
    )
    assert 1 == len({m.data.match_id for m in matches})
    assert {HOUSEHOLD} == {m.data.household for m in matches}
    assert WIJKTEAM == matches[0].data.municipal_coordinator


def test_signals_of_two_partners_on_one_child_are_a_child_match_not_a_household_match() -> None:
    h = Harness(household_rules())

    h.feed(signal(SCHOOL, household=HOUSEHOLD), signal(JGZ, household=HOUSEHOLD))

    assert ["child"] == [m.data.scope for m in h.of_type(MatchFound)]


def test_a_withdrawn_signal_ends_the_household_match() -> None:
    h = Harness(household_rules())
    first = signal(SCHOOL, child=CHILD, household=HOUSEHOLD)
    h.feed(first, signal(JGZ, child=SIBLING, household=HOUSEHOLD))

    h.feed(withdraw(first))

    assert h.app.household_of(HOUSEHOLD).match is None


def test_without_household_matching_a_withdrawal_records_nothing_for_the_household() -> None:
    """A household's signals span children in different partitions: off, a signal naming a
    household leaves no aggregate of it for two instances to write."""
    h = Harness()
    first = signal(SCHOOL, household=HOUSEHOLD)
    h.feed(first)

    h.feed(withdraw(first))

    with pytest.raises(AggregateNotFoundError):
        h.app.repository.get(HouseholdSignals.create_id(HOUSEHOLD))


def test_household_matching_keeps_signalling_on_one_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signalling_bootstrap, "load_rules", lambda *_: household_rules())
    assert signalling_bootstrap._needs(Settings(), PartnerRegistry([]))["rules"]

    monkeypatch.setenv("KETENBUS_SIGNALLING_INSTANCES", "2")
    with pytest.raises(NotPartitionedError, match="household matching"):
        signalling_bootstrap._needs(Settings(), PartnerRegistry([]))


def test_an_attendance_signal_from_leerplicht_counts_for_matching() -> None:
    h = Harness()

    h.feed(signal(SCHOOL), signal(LEERPLICHT))

    [match] = h.of_type(MatchFound)
    partners = [s.partner for s in match.data.signallers]
    assert ["bs-de-regenboog", "leerplicht-lingewaard"] == partners


# -------------------------------------------------------------------------------- coordinator


def test_the_coordinator_is_chosen_by_role_priority() -> None:
    h = Harness()

    h.feed(signal(SCHOOL), signal(JGZ))

    [assigned] = h.of_type(CoordinatorAssigned)
    assert ("jgz-gelderland-zuid", "role-priority") == (
        assigned.data.coordinator.partner,
        assigned.data.rule,
    )


def test_the_coordinator_can_be_the_first_signaller_by_configuration() -> None:
    h = Harness(with_coordinator_rule("first-signaller"))

    h.feed(signal(SCHOOL), signal(JGZ))

    [assigned] = h.of_type(CoordinatorAssigned)
    assert "bs-de-regenboog" == assigned.data.coordinator.partner


def test_the_coordinator_can_be_the_municipal_access_team_by_configuration() -> None:
    h = Harness(with_coordinator_rule("municipality"))

    h.feed(signal(SCHOOL), signal(JGZ))

    [assigned] = h.of_type(CoordinatorAssigned)
    assert (WIJKTEAM, "municipality") == (assigned.data.coordinator.partner, assigned.data.rule)


def current_match(h: Harness, child: str = CHILD) -> uuid.UUID:
    match = h.app.signals_of(child).match
    assert match is not None
    return match.match_id


def change(h: Harness, by: str, to: str, match_id: uuid.UUID | None = None) -> CoordinatorChanged:
    return CoordinatorChanged.create(
        source=by,
        subject=CHILD,
        data=CoordinatorChangedData(
            match_id=match_id or current_match(h),
            coordinator=Coordinator(partner=to, contact="regie"),
            reason="wijkteam neemt regie",
        ),
    )


def test_a_party_to_the_match_can_change_the_coordinator() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))

    assert [] == h.feed(change(h, by="bs-de-regenboog", to=WIJKTEAM))

    changed = h.of_type(CoordinatorAssigned)[-1]
    assert (WIJKTEAM, "changed", "jgz-gelderland-zuid") == (
        changed.data.coordinator.partner,
        changed.data.rule,
        changed.data.previous,
    )
    assert [
        ("jgz-gelderland-zuid", "coordination", False),
        (WIJKTEAM, "coordination", True),
    ] == [(r.partner, r.basis, r.active) for r in changed.relation_changes()]


def test_a_partner_without_relation_to_the_match_cannot_change_the_coordinator() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))

    assert [NotAPartyError] == h.feed(change(h, by="kdv-het-speelhuis", to="kdv-het-speelhuis"))
    assert [UnknownMatchError] == h.feed(change(h, by=WIJKTEAM, to=WIJKTEAM, match_id=uuid.uuid4()))
    assert 1 == len(h.of_type(CoordinatorAssigned))


# ------------------------------------------------------------------------------------ contact


def contact(h: Harness, by: Signaller) -> ContactMade:
    return ContactMade.create(
        source=by.partner,
        subject=CHILD,
        data=ContactMadeData(
            match_id=current_match(h), partner=by.partner, contacted_on=date(2026, 11, 3)
        ),
    )


def test_contact_reports_complete_the_contact_status() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))

    h.feed(contact(h, SCHOOL), contact(h, JGZ), contact(h, JGZ))

    assert [False, True] == [c.data.all_contacted for c in h.of_type(ContactMade)]


def test_a_partner_outside_the_match_cannot_report_contact() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))

    assert [NotAPartyError] == h.feed(contact(h, CHILDCARE))


def test_without_contact_a_reminder_then_an_escalation_follow() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))
    h.feed(contact(h, SCHOOL))
    found = h.clock.now

    h.tick(found + timedelta(days=9))
    assert [] == h.of_type(ContactReminder)
    h.tick(found + timedelta(days=10))
    [reminder] = h.of_type(ContactReminder)
    assert ["jgz-gelderland-zuid"] == reminder.data.partners
    assert [] == h.of_type(ContactEscalated)

    h.tick(found + timedelta(days=20))
    [escalation] = h.of_type(ContactEscalated)
    assert (["jgz-gelderland-zuid"], WIJKTEAM) == (
        escalation.data.partners,
        escalation.data.municipal_coordinator,
    )
    h.tick(found + timedelta(days=30))
    assert (1, 1) == (len(h.of_type(ContactReminder)), len(h.of_type(ContactEscalated)))


def test_no_reminder_when_every_signaller_made_contact_in_time() -> None:
    h = Harness()
    h.feed(signal(SCHOOL), signal(JGZ))
    h.feed(contact(h, SCHOOL), contact(h, JGZ))

    h.tick(h.clock.now + timedelta(days=30))

    assert ([], []) == (h.of_type(ContactReminder), h.of_type(ContactEscalated))


# ------------------------------------------------------------------------------------ history


def test_a_new_signaller_on_a_child_with_history_gets_a_notice_once() -> None:
    h = Harness()
    first = signal(SCHOOL)
    h.feed(first)
    h.feed(withdraw(first))

    h.feed(signal(JGZ), signal(JGZ))

    [notice] = h.of_type(HistoryNotice)
    assert ("jgz-gelderland-zuid", 1, ["bs-de-regenboog"]) == (
        notice.data.partner,
        notice.data.earlier_signals,
        notice.data.earlier_partners,
    )


def test_no_history_notice_without_history() -> None:
    h = Harness()

    h.feed(signal(SCHOOL), signal(JGZ))

    assert [] == h.of_type(HistoryNotice)


def test_history_is_kept_as_long_as_the_register_allows_signalling_data() -> None:
    h = Harness()
    first = signal(SCHOOL, until=date(2027, 1, 1))
    h.feed(first)
    h.tick(at(date(2027, 1, 1)))
    assert 1 == len(h.app.signals_of(CHILD).history)

    h.tick(at(date(2028, 12, 31)))
    assert 1 == len(h.app.signals_of(CHILD).history)
    h.tick(at(date(2029, 1, 1)))  # P2Y, the register's pa-signalling retention

    assert [] == h.app.signals_of(CHILD).history
    assert [] == h.app.due_by(at(date(2100, 1, 1)))
    h.feed(signal(JGZ))
    assert [] == h.of_type(HistoryNotice)


# ---------------------------------------------------------------------------- parents informed


@pytest.mark.parametrize(
    ("band", "audience"),
    [
        ("0-3", ["parents"]),
        ("4-11", ["parents"]),
        ("12-15", ["parents", "child"]),
        ("16-22", ["child"]),
    ],
)
def test_the_parent_view_is_told_whom_to_inform_by_age_band(
    band: str | None, audience: list[str]
) -> None:
    h = Harness()

    h.feed(signal(SCHOOL, age_band=band))

    [informed] = h.of_type(ParentsInformed)
    assert (audience, band) == (informed.data.audience, informed.data.age_band)


def confirmed(event: SignalRegistered, audience: list[str], by: str | None = None) -> Any:
    return InformingConfirmed.create(
        source=by or event.source, subject=event.subject,
        data=InformingConfirmedData(signal_id=event.data.signal_id, audience=audience,  # type: ignore[arg-type]
                                    informed_on=date(2026, 11, 3)),
    )  # fmt: skip


def postponed(event: SignalRegistered, ground: str, until: date) -> Any:
    return InformingPostponed.create(
        source=event.source, subject=event.subject,
        data=InformingPostponedData(signal_id=event.data.signal_id, ground=ground, until=until),
    )  # fmt: skip


def crossed(event: SignalRegistered, band: str) -> Any:
    return AgeBandDeclared.create(
        source=event.source, subject=event.subject,
        data=AgeBandDeclaredData(signal_id=event.data.signal_id, age_band=band,
                                 declared_on=date(2027, 3, 1)),
    )  # fmt: skip


def test_informing_is_a_task_the_signaller_confirms() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="12-15")
    h.feed(registered)

    refused = h.feed(confirmed(registered, ["parents"], by=JGZ.partner))
    h.feed(confirmed(registered, ["parents"]))

    [stored] = h.app.signals_of(CHILD).signals.values()
    assert [NotTheSignallerError] == refused
    assert (("child", "parents"), ("parents",), ("child",)) == (
        stored.to_inform, stored.informed, stored.uninformed
    )  # fmt: skip


def test_informing_may_be_postponed_only_on_a_recorded_ground() -> None:
    h = Harness()
    registered = signal(SCHOOL)
    h.feed(registered)

    refused = h.feed(postponed(registered, "geen-zin", date(2027, 1, 1)))
    h.feed(postponed(registered, "onderzoek-loopt", date(2027, 1, 1)))

    [stored] = h.app.signals_of(CHILD).signals.values()
    assert [UnknownCodeError] == refused
    assert ("onderzoek-loopt", date(2027, 1, 1)) == stored.postponed


def test_informing_follows_the_child_when_it_crosses_12_or_16() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="4-11")
    h.feed(registered, confirmed(registered, ["parents"]))

    h.feed(crossed(registered, "12-15"))
    h.feed(crossed(registered, "16-22"))

    tasks = [(i.data.audience, i.data.age_band) for i in h.of_type(ParentsInformed)]
    assert [(["parents"], "4-11"), (["child"], "12-15")] == tasks
    [stored] = h.app.signals_of(CHILD).signals.values()
    assert ("child",) == stored.uninformed


def informing_work(h: Harness, partner: str, on: date) -> list[tuple[str, list[str], str]]:
    """The informing items on `partner`'s worklist on `on`, from what signalling published."""
    plan = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=h.clock)
    for event in h.published():
        plan.apply(event)
    items = plan.worklist(partner, datetime.combine(on, datetime.min.time(), UTC))["items"]
    return [(i["kind"], i["audience"], i["since"]) for i in items if "informing" in i["kind"]]


def test_a_signaller_that_has_not_informed_within_its_term_has_it_on_its_werklijst() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="12-15")  # 2026-11-01
    h.feed(registered)
    within = informing_work(h, SCHOOL.partner, date(2026, 11, 15))

    overdue = informing_work(h, SCHOOL.partner, date(2026, 11, 16))
    h.feed(confirmed(registered, ["parents"]))
    child_left = informing_work(h, SCHOOL.partner, date(2026, 11, 16))
    h.feed(confirmed(registered, ["child"]))

    assert [] == within
    assert [("informing-overdue", ["child", "parents"], "2026-11-01")] == overdue
    assert [("informing-overdue", ["child"], "2026-11-01")] == child_left
    assert [] == informing_work(h, SCHOOL.partner, date(2026, 11, 16))
    assert [] == informing_work(h, JGZ.partner, date(2026, 11, 16))  # the signaller's alone


def test_a_postponement_that_ends_puts_informing_back_on_the_signallers_werklijst() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="4-11")
    h.feed(registered, postponed(registered, "onderzoek-loopt", date(2027, 1, 10)))

    postponed_work = informing_work(h, SCHOOL.partner, date(2027, 1, 9))
    ended = informing_work(h, SCHOOL.partner, date(2027, 1, 10))

    assert [] == postponed_work
    assert [("informing-postponement-ended", ["parents"], "2027-01-10")] == ended


def test_a_child_crossing_12_or_16_later_puts_the_new_informing_on_the_werklijst() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="4-11")
    h.feed(registered, confirmed(registered, ["parents"]))

    h.feed(crossed(registered, "12-15"))  # declared 2027-03-01: now the child is told too

    assert [] == informing_work(h, SCHOOL.partner, date(2027, 3, 15))
    assert [("informing-overdue", ["child"], "2027-03-01")] == informing_work(
        h, SCHOOL.partner, date(2027, 3, 16)
    )


def test_another_party_on_the_plan_never_sees_whom_a_signaller_still_has_to_inform() -> None:
    h = Harness()
    registered = signal(SCHOOL, age_band="12-15")
    h.feed(registered, signal(JGZ, age_band="12-15"))  # a match: the JGZ sees the signal
    plan = IntegralPlanApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=h.clock)
    for event in h.published():
        plan.apply(event)

    seen = signalling_seen_by(plan.plan_of(CHILD), JGZ.partner)["signals"]

    school_signal = next(s for s in seen if s["partner"] == SCHOOL.partner)
    assert "informing" not in school_signal


# ----------------------------------------------------------------------------- risk inventory


def inventory(by: Signaller, band: str = "0-3", **extra: Any) -> RiskInventoryRecorded:
    return RiskInventoryRecorded.create(
        source=by.partner,
        subject=CHILD,
        data=RiskInventoryRecordedData(
            inventory_id=uuid.uuid4(),
            recorded_by=by,
            inventoried_on=date(2026, 11, 10),
            age_band=band,
            participants=["kdv-het-speelhuis", "bs-de-regenboog"],
            parents_involved=True,
            plan_needed=True,
            **extra,
        ),
    )


def test_a_risk_inventory_of_a_three_year_old_is_recorded_with_its_plan_due_date() -> None:
    h = Harness()
    recorded = inventory(CHILDCARE)

    assert [] == h.feed(recorded)

    [published] = h.of_type(RiskInventoryRecorded)
    assert date(2026, 12, 22) == published.data.plan_due_on
    assert recorded.id == published.id  # sealed sections stay bound to the partner's event id


def test_a_risk_inventory_outside_its_age_band_or_role_is_refused() -> None:
    h = Harness()

    assert [UnknownCodeError, RoleNotAllowedError] == h.feed(
        inventory(CHILDCARE, band="4-11"),
        inventory(Signaller(partner=WIJKTEAM, role="x", contact="x")),
    )


# ------------------------------------------------------------------ relations of the commands


def test_a_partner_cannot_withdraw_a_signal_it_has_no_relation_with() -> None:
    h = Harness()
    first = signal(SCHOOL)
    h.feed(first)

    assert [NotTheSignallerError] == h.feed(withdraw(first, by="jgz-gelderland-zuid"))


def test_expired_history_is_deleted_from_a_sqlite_store(tmp_path: Any) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s.db")}
    app = SignallingApplication(env=env, inbound=apply_inbound)
    app.process_batch(TRACKING, [(1, signal(SCHOOL, until=date(2027, 1, 1)))])
    app.tick(at(date(2027, 1, 1)))

    app.tick(at(date(2032, 1, 1)))

    stored = [n.originator_id for n in app.recorder.select_notifications(1, 1000)]
    assert app.signals_of(CHILD).id not in stored


# ----------------------------------------------------------------------- partner-side helpers


def test_the_partner_refuses_concern_codes_outside_the_regions_list_before_sealing() -> None:
    known = load_rules().concern_domains
    check_concern_codes(SignalDetails(concern=["taalontwikkeling", "attendance"]), known)

    with pytest.raises(UnknownConcernCodeError, match="bijna-alles"):
        check_concern_codes(SignalDetails(concern=["taalontwikkeling", "bijna-alles"]), known)


def test_the_planned_removal_date_stops_before_the_23rd_birthday() -> None:
    assert date(2028, 11, 1) == signal_period(REGISTERED_ON, date(2015, 5, 5))
    assert date(2027, 5, 5) == signal_period(REGISTERED_ON, date(2004, 5, 5))


def test_the_age_band_is_computed_partner_side_from_the_sealed_birth_date() -> None:
    bands = load_rules().age_bands
    assert "0-3" == age_band_of(date(2023, 11, 2), REGISTERED_ON, bands)
    assert "4-11" == age_band_of(date(2022, 11, 1), REGISTERED_ON, bands)
    assert "12-15" == age_band_of(date(2014, 10, 1), REGISTERED_ON, bands)
    assert age_band_of(date(2003, 1, 1), REGISTERED_ON, bands) is None


# ---------------------------------------------------------------------------- end of a match


def test_a_lapsed_match_is_announced_and_ends_the_coordinators_key_access() -> None:
    h = Harness()
    first = signal(SCHOOL)
    h.feed(first, signal(JGZ))

    h.feed(withdraw(first))

    [ended] = h.of_type(MatchEnded)
    assert current_match_id(h) == ended.data.match_id
    assert [(None, "coordination", str(ended.data.match_id), False)] == [
        (r.partner, r.basis, r.basis_id, r.active) for r in ended.relation_changes()
    ]


def test_a_lapsed_household_match_is_announced_for_each_child() -> None:
    h = Harness(household_rules())
    first = signal(SCHOOL, child=CHILD, household=HOUSEHOLD)
    h.feed(first, signal(JGZ, child=SIBLING, household=HOUSEHOLD))

    h.feed(withdraw(first))

    assert [CHILD, SIBLING] == sorted(e.subject for e in h.of_type(MatchEnded))


def current_match_id(h: Harness) -> uuid.UUID:
    return h.of_type(MatchFound)[0].data.match_id

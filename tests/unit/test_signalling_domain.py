"""The signalling rules on one child's signals, in memory."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.signalling.domain import (
    ChildSignals,
    InvalidRemovalDateError,
    NotTheSignallerError,
    Party,
    SignalAlreadyRegisteredError,
    SignalNotActiveError,
    UnknownSignalError,
)

CHILD = "a" * 32
SCHOOL = Party("bs-de-regenboog", "ib-er", "ib")
JGZ = Party("jgz-gelderland-zuid", "jeugdarts", "jgz")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def registered(child: ChildSignals, signaller: Party) -> uuid.UUID:
    signal_id = uuid.uuid4()
    child.register_signal(
        signal_id, signaller, date(2026, 11, 1), date(2028, 11, 1), uuid.uuid4(), {}
    )
    return signal_id


def event_names(child: ChildSignals) -> list[str]:
    return [type(e).__name__ for e in child.collect_events()]


def test_one_signal_makes_no_match() -> None:
    child = ChildSignals(CHILD)
    registered(child, SCHOOL)

    assert child.find_match(NOW) is False
    assert ["Opened", "SignalRegistered"] == event_names(child)


def test_signals_of_two_partners_make_a_match() -> None:
    child = ChildSignals(CHILD)
    first, second = registered(child, SCHOOL), registered(child, JGZ)

    assert child.find_match(NOW) is True
    match = child.collect_events()[-1]
    assert "MatchFound" == type(match).__name__
    assert [first, second] == match.signal_ids
    assert {"bs-de-regenboog", "jgz-gelderland-zuid"} == {s["partner"] for s in match.signallers}


def test_two_signals_of_one_partner_make_no_match() -> None:
    child = ChildSignals(CHILD)
    registered(child, SCHOOL)
    registered(child, SCHOOL)

    assert child.find_match(NOW) is False


def test_an_existing_match_is_not_found_again() -> None:
    child = ChildSignals(CHILD)
    registered(child, SCHOOL)
    registered(child, JGZ)
    child.find_match(NOW)

    assert child.find_match(NOW) is False


def test_a_withdrawn_signal_ends_the_match_and_a_new_signaller_makes_a_new_one() -> None:
    child = ChildSignals(CHILD)
    school_signal = registered(child, SCHOOL)
    registered(child, JGZ)
    child.find_match(NOW)
    child.withdraw_signal(school_signal, "bs-de-regenboog", date(2026, 11, 20), "withdrawn")

    assert child.match_id is None
    registered(child, Party("kdv-het-speelhuis", "pm", "kdv"))
    assert child.find_match(NOW) is True


def test_the_same_signal_id_cannot_be_registered_twice() -> None:
    child = ChildSignals(CHILD)
    signal_id = registered(child, SCHOOL)

    with pytest.raises(SignalAlreadyRegisteredError):
        child.register_signal(
            signal_id, SCHOOL, date(2026, 11, 1), date(2028, 11, 1), uuid.uuid4(), {}
        )


def test_a_removal_date_before_registration_is_refused() -> None:
    child = ChildSignals(CHILD)

    with pytest.raises(InvalidRemovalDateError):
        child.register_signal(
            uuid.uuid4(), SCHOOL, date(2026, 11, 1), date(2026, 10, 1), uuid.uuid4(), {}
        )


def test_only_the_signaller_may_withdraw_its_signal() -> None:
    child = ChildSignals(CHILD)
    signal_id = registered(child, SCHOOL)

    with pytest.raises(NotTheSignallerError):
        child.withdraw_signal(signal_id, "jgz-gelderland-zuid", date(2026, 11, 2), "withdrawn")


def test_withdrawing_twice_or_an_unknown_signal_is_refused() -> None:
    child = ChildSignals(CHILD)
    signal_id = registered(child, SCHOOL)
    child.withdraw_signal(signal_id, "bs-de-regenboog", date(2026, 11, 2), "withdrawn")

    with pytest.raises(SignalNotActiveError):
        child.withdraw_signal(signal_id, "bs-de-regenboog", date(2026, 11, 3), "withdrawn")
    with pytest.raises(UnknownSignalError):
        child.withdraw_signal(uuid.uuid4(), "bs-de-regenboog", date(2026, 11, 3), "withdrawn")

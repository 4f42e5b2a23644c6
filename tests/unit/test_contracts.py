"""The envelope and the signalling contracts: what validates, what is refused, and why."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ketenbus_contracts.envelope import UnknownEventTypeError, parse_event
from ketenbus_contracts.pseudonym import child_pseudonym, is_valid_bsn, school_pupil_pseudonym
from ketenbus_contracts.signalling import Signaller, SignalRegistered
from tests import events

CHILD = "c" * 32


def signal() -> SignalRegistered:
    return events.signal(Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib"))


def test_an_event_round_trips_through_its_json() -> None:
    event = signal()

    assert event == parse_event(event.to_bytes())


def test_the_type_names_domain_event_and_version() -> None:
    assert "nl.ketenbus.signalling.signal-registered.v1" == signal().type
    assert (
        SignalRegistered.inbound_subject("school-x") == "in.school-x.signalling.signal-registered"
    )
    assert "ketenbus.signalling.signal-registered.v1" == SignalRegistered.outbound_subject()


def test_an_unknown_type_is_refused_by_name() -> None:
    raw = json.loads(signal().to_bytes())
    raw["type"] = "nl.ketenbus.signalling.gossip.v1"

    with pytest.raises(UnknownEventTypeError):
        parse_event(json.dumps(raw))


def test_unknown_fields_are_refused_so_nothing_slips_out_unsealed() -> None:
    raw = json.loads(signal().to_bytes())
    raw["data"]["name"] = "Wimpie"

    with pytest.raises(ValidationError) as refused:
        parse_event(json.dumps(raw))
    assert ["extra_forbidden"] == [e["type"] for e in refused.value.errors()]


def test_a_subject_that_is_not_a_pseudonym_is_refused() -> None:
    raw = json.loads(signal().to_bytes())
    raw["subject"] = "123456782"

    with pytest.raises(ValidationError):
        parse_event(json.dumps(raw))


def test_bsn_eleven_check() -> None:
    assert (
        is_valid_bsn("123456782"),
        is_valid_bsn("133456785"),
        is_valid_bsn("12345678"),
    ) == (True, False, False)


def test_pseudonyms_are_stable_per_secret_and_differ_between_secrets_and_namespaces() -> None:
    one = child_pseudonym(b"s1", "123456782")

    assert one == child_pseudonym(b"s1", "123456782")
    assert one != child_pseudonym(b"s2", "123456782")
    assert one != school_pupil_pseudonym(b"s1", "99ZZ", "123456782")
    assert 32 == len(one)

"""The one mapping from recorded domain events to outbound contracts (services.runtime.outbound),
on signalling's events as the store gives them back."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import MatchFound, SignalRegistered
from services.signalling.domain import ChildSignals, MatchHolder
from services.signalling.translation import to_contract

CHILD = "c" * 32
AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
SCHOOL = {"partner": "bs-de-regenboog", "role": "ib-er", "contact": "ib"}


def stored(kind: type, **state: Any) -> Any:
    """A domain event as the store's mapper rebuilds it: its attributes, no constructor."""
    domain_event = object.__new__(kind)
    common = {"originator_id": uuid.uuid4(), "originator_version": 2, "timestamp": AT}
    domain_event.__dict__.update(common | state)
    return domain_event


def test_a_recorded_partner_event_goes_out_under_the_partners_id_with_its_purposes() -> None:
    partner_event_id = uuid.uuid4()
    registered = stored(
        ChildSignals.SignalRegistered,
        child=CHILD,
        signal_id=uuid.uuid4(),
        signaller=SCHOOL,
        registered_on=date(2026, 11, 2),
        planned_removal_on=date(2027, 11, 2),
        event_id=partner_event_id,
        sealed={"signalling": "jwe"},
    )

    contract = to_contract(registered, uuid.uuid4())

    assert isinstance(contract, SignalRegistered)
    assert (partner_event_id, "ketenbus.signalling", [Purpose.SIGNALLING], CHILD) == (
        contract.id,
        contract.source,
        contract.purposes,
        contract.subject,
    )
    assert (SCHOOL["partner"], {Purpose.SIGNALLING: "jwe"}) == (
        contract.data.signaller.partner,
        contract.data.sealed,
    )


def test_an_event_stored_before_fields_were_added_gets_the_contracts_defaults() -> None:
    outbox_id = uuid.uuid4()
    found = stored(
        MatchHolder.MatchFound,
        child=CHILD,
        match_id=uuid.uuid4(),
        signal_ids=[uuid.uuid4(), uuid.uuid4()],
        signallers=[SCHOOL, SCHOOL | {"partner": "jgz-gelderland-zuid"}],
        found_at=AT,
    )

    contract = to_contract(found, outbox_id)

    assert isinstance(contract, MatchFound)
    assert (outbox_id, "child", [], [], None) == (
        contract.id,
        contract.data.scope,
        contract.data.contacts,
        contract.data.notify,
        contract.data.coordinator,
    )


def test_an_event_no_contract_names_is_not_published() -> None:
    assert to_contract(stored(ChildSignals.DeathRecorded, child=CHILD), uuid.uuid4()) is None

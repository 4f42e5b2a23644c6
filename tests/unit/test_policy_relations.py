"""The relation rules (infra/relations.yaml): which relation opens which scope of a purpose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ketenbus_contracts.arrangements import RELATION_BASIS, YOUTH_CARE_BASIS
from ketenbus_contracts.handover import HANDOVER_RECEIVER_BASIS, HANDOVER_SENDER_BASIS
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.truancy import ENROLMENT, VERZUIMMELDING
from services.policy.loading import RELATIONS_PATH, load_relations, parse_relations
from services.policy.relations import Access, InvalidRelationRulesError, privacy_table

NOW = datetime(2026, 3, 1, tzinfo=UTC)
README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Fact:
    partner: str
    basis: str
    basis_id: str
    since: datetime = NOW - timedelta(days=10)
    active: bool = True
    ended: datetime | None = None
    until: datetime | None = None


RULES = load_relations()


def access(facts: list[Fact], partner: str, purpose: Purpose, scope: str) -> Access:
    return RULES.evaluate(facts, partner=partner, purpose=purpose, scope=scope, now=NOW)


def test_a_self_asserted_signal_opens_the_signallers_own_signalling_scope() -> None:
    facts = [Fact("vo-het-lyceum", "signal", "s1")]

    assert access(facts, "vo-het-lyceum", Purpose.SIGNALLING, "vo-het-lyceum").granted


def test_a_self_asserted_signal_never_opens_what_another_signaller_wrote() -> None:
    facts = [Fact("jgz-gelderland-zuid", "signal", "s0"), Fact("vo-het-lyceum", "signal", "s1")]

    refused = access(facts, "vo-het-lyceum", Purpose.SIGNALLING, "jgz-gelderland-zuid")
    identity = access(facts, "vo-het-lyceum", Purpose.IDENTITY, "jgz-gelderland-zuid")

    assert ("scope-not-permitted", "scope-not-permitted") == (refused.code, identity.code)


def test_an_enrolment_alone_gives_no_signalling_key() -> None:
    facts = [Fact("bs-de-regenboog", ENROLMENT, "06XX")]

    assert "no-relation" == access(facts, "bs-de-regenboog", Purpose.SIGNALLING, "x").code


def test_the_receiver_of_one_handover_cannot_open_another_handover() -> None:
    facts = [
        Fact("bs-de-regenboog", HANDOVER_SENDER_BASIS, "h-old"),
        Fact("vo-het-lyceum", HANDOVER_RECEIVER_BASIS, "h-old"),
        Fact("vo-het-lyceum", HANDOVER_SENDER_BASIS, "h-new"),
        Fact("mbo-rijn", HANDOVER_RECEIVER_BASIS, "h-new"),
    ]

    assert access(facts, "mbo-rijn", Purpose.HANDOVER, "h-new").granted
    assert "scope-not-permitted" == access(facts, "mbo-rijn", Purpose.HANDOVER, "h-old").code


def test_a_second_self_asserted_claim_on_a_record_does_not_open_it() -> None:
    facts = [
        Fact("bs-de-regenboog", HANDOVER_SENDER_BASIS, "h1", since=NOW - timedelta(days=5)),
        Fact("vo-het-lyceum", HANDOVER_SENDER_BASIS, "h1", since=NOW - timedelta(days=1)),
    ]

    assert access(facts, "bs-de-regenboog", Purpose.HANDOVER, "h1").granted
    assert "scope-not-permitted" == access(facts, "vo-het-lyceum", Purpose.HANDOVER, "h1").code


def test_an_ended_relation_is_refused_as_relation_ended() -> None:
    facts = [Fact("bs-de-regenboog", ENROLMENT, "06XX", active=False, ended=NOW)]

    refused = access(facts, "bs-de-regenboog", Purpose.ATTENDANCE, "bs-de-regenboog")

    assert "relation-ended" == refused.code


def test_a_completed_handover_opens_during_its_grace_and_not_after() -> None:
    closed = Fact("vo-het-lyceum", HANDOVER_RECEIVER_BASIS, "h1", active=False)
    in_grace = [Fact(**{**closed.__dict__, "ended": NOW - timedelta(days=29)})]
    after = [Fact(**{**closed.__dict__, "ended": NOW - timedelta(days=31)})]

    assert access(in_grace, "vo-het-lyceum", Purpose.HANDOVER, "h1").granted
    assert "relation-ended" == access(after, "vo-het-lyceum", Purpose.HANDOVER, "h1").code


def test_leerplicht_opens_what_the_reporting_school_wrote_and_nothing_else_of_the_child() -> None:
    facts = [Fact("bs-de-regenboog", ENROLMENT, "99ZZ"), Fact("vo-het-lyceum", ENROLMENT, "99YY")]
    facts += [Fact("leerplicht-lingewaard", VERZUIMMELDING, "bs-de-regenboog")]

    scopes = ["bs-de-regenboog", "vo-het-lyceum"]
    attendance = [access(facts, "leerplicht-lingewaard", Purpose.ATTENDANCE, s) for s in scopes]
    identity = access(facts, "leerplicht-lingewaard", Purpose.IDENTITY, "jgz-gelderland-zuid")

    assert [None, "scope-not-permitted"] == [a.code for a in attendance]
    assert "scope-not-permitted" == identity.code


def test_every_basis_the_contracts_name_has_a_rule() -> None:
    named = {
        "signal",
        "risk-inventory",
        "coordination",
        "plan-party",
        ENROLMENT,
        VERZUIMMELDING,
        HANDOVER_SENDER_BASIS,
        HANDOVER_RECEIVER_BASIS,
        RELATION_BASIS,
        YOUTH_CARE_BASIS,
    }

    assert set() == named - set(RULES.bases)


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(RELATIONS_PATH.read_text(encoding="utf-8"))
    return raw


def test_rules_where_a_self_basis_opens_the_whole_child_are_refused() -> None:
    raw = _raw()
    raw["purposes"]["signalling"]["grants"].append({"basis": "signal", "opens": "child"})

    with pytest.raises(InvalidRelationRulesError):
        parse_relations(raw)


def test_rules_granting_on_an_unknown_basis_are_refused() -> None:
    raw = _raw()
    raw["purposes"]["plan"]["grants"].append({"basis": "neighbour", "opens": "child"})

    with pytest.raises(InvalidRelationRulesError):
        parse_relations(raw)


def test_the_readme_privacy_table_is_the_relation_rules() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- relations-table:start -->\n") + len("<!-- relations-table:start -->\n")
    end = text.index("<!-- relations-table:end -->")

    assert privacy_table(RULES) == text[start:end]


def test_an_arrangement_opens_until_its_end_date_and_then_is_relation_ended() -> None:
    scope = "arrangement/a1"
    running = [Fact("jeugdhulp-de-linde", RELATION_BASIS, scope, until=NOW + timedelta(days=1))]
    over = [Fact("jeugdhulp-de-linde", RELATION_BASIS, scope, until=NOW - timedelta(days=1))]

    assert access(running, "jeugdhulp-de-linde", Purpose.SUPPORT, scope).granted
    assert "relation-ended" == access(over, "jeugdhulp-de-linde", Purpose.SUPPORT, scope).code


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_holder_of_doorzettingsmacht_sees_the_plan_but_opens_no_sealed_section(
    purpose: Purpose,
) -> None:
    facts = [Fact("gemeente-lingewaard", "dispute-holder", "dispute/d1")]

    for scope in ("dispute/d1", "arrangement/a1", "gemeente-lingewaard"):
        assert not access(facts, "gemeente-lingewaard", purpose, scope).granted

"""The partner kit (partner_kit/, `ketenbus_partner`) agrees with the backbone it talks to."""

from __future__ import annotations

from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.keyring import SCOPE_KINDS, ScopeTable
from services.policy.loading import load_relations


def test_the_kits_scope_kinds_are_those_of_the_relation_rules() -> None:
    rules = load_relations()

    assert {p: rule.scope.value for p, rule in rules.purposes.items()} == dict(SCOPE_KINDS)


def test_the_kit_writes_each_purpose_under_the_scope_the_relation_rules_name() -> None:
    rules, table = load_relations(), ScopeTable()

    for purpose in Purpose:
        expected = rules.writing_scope(purpose, "bs-de-regenboog")
        assert expected == table.writing_scope(purpose, "bs-de-regenboog")

"""The partner kit (partner_kit/, `ketenbus_partner`) agrees with the backbone it talks to."""

from __future__ import annotations

from pathlib import Path

from demo.arrangements import SUPERVISOR_USER as DEMO_SUPERVISOR_USER
from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.connect import Credentials, password_variable, read_credentials
from ketenbus_partner.keyring import SCOPE_KINDS, ScopeTable
from services.policy.loading import load_relations
from services.runtime import nats_auth
from services.runtime.nats_auth import partner_credentials, server_environment
from services.runtime.settings import Settings


def test_the_kits_scope_kinds_are_those_of_the_relation_rules() -> None:
    rules = load_relations()

    assert {p: rule.scope.value for p, rule in rules.purposes.items()} == dict(SCOPE_KINDS)


def test_the_kit_writes_each_purpose_under_the_scope_the_relation_rules_name() -> None:
    rules, table = load_relations(), ScopeTable()

    for purpose in Purpose:
        expected = rules.writing_scope(purpose, "bs-de-regenboog")
        assert expected == table.writing_scope(purpose, "bs-de-regenboog")


def test_a_partner_reads_its_password_from_its_own_password_file(tmp_path: Path) -> None:
    password_file = tmp_path / "nats.password"
    password_file.write_text("kb-secret\n", encoding="utf-8")

    creds = read_credentials("bs-x", password_file=password_file, environ={})

    assert Credentials(user="bs-x", password="kb-secret") == creds


def test_a_partner_reads_its_password_from_its_users_environment_variable() -> None:
    environ = {"KETENBUS_NATS_PW_BS_X_NATS": "kb-env"}

    creds = read_credentials("bs-x", user="bs-x-nats", environ=environ)

    assert Credentials(user="bs-x-nats", password="kb-env") == creds


def test_a_partner_without_a_credential_source_connects_without_credentials() -> None:
    assert Credentials() == read_credentials("bs-x", environ={})


def test_the_backbone_hands_a_partner_the_password_its_server_config_expects(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, nats_auth="registry")

    creds = partner_credentials(settings, "bs-de-regenboog")

    expected = server_environment(settings)[password_variable("bs-de-regenboog")]
    assert expected == creds.password


def test_the_demo_watches_as_the_backbones_own_user() -> None:
    assert nats_auth.SUPERVISOR_USER == DEMO_SUPERVISOR_USER

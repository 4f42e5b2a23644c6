"""The generated NATS users cover every process of the backbone, and the credentials of
`KETENBUS_NATS_AUTH=registry` are made and found without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.audit.nats_config import (
    load_permissions,
    password_variables,
    permissions_of,
    user_entries,
)
from services.integral_plan.handlers import PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT
from services.registry import SERVICES
from services.runtime.nats_auth import (
    BRIDGE_USER,
    SUPERVISOR_USER,
    PartnerHoldsItsNkeyError,
    UnknownNatsPartnerError,
    connect_options,
    partner_connect,
    secrets_dir,
    server_environment,
)
from services.runtime.partners import PartnerEntry
from services.runtime.settings import Settings


def users_with_service_permissions() -> set[str]:
    entries, rules = user_entries()
    services = {"publish": rules.services.publish, "subscribe": rules.services.subscribe}
    return {e.nats_user.user for e in entries if permissions_of(e, rules) == services}


def test_every_service_the_registry_runs_has_a_user_that_runs_the_streams() -> None:
    names = {SERVICES[name]().name for name in SERVICES}
    assert set() == names - users_with_service_permissions()


def test_the_notificaties_bridge_and_the_supervisor_have_users() -> None:
    assert {BRIDGE_USER, SUPERVISOR_USER} <= users_with_service_permissions()


def test_every_user_is_generated_once() -> None:
    users = [e.nats_user.user for e in user_entries()[0]]
    assert sorted(set(users)) == sorted(users)


def test_a_partner_may_ask_for_its_plan_and_its_worklist() -> None:
    school = PartnerEntry(id="bs-a", name="bs-a", role="school")
    allowed = permissions_of(school, load_permissions())["publish"]
    assert {PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT} <= set(allowed)


def test_without_authorization_connections_carry_no_credentials(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_auth="none")
    assert {} == connect_options(settings, "signalling")
    assert not secrets_dir(settings).exists()


def test_authorization_is_on_for_the_embedded_server_and_off_for_an_external_one_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KETENBUS_NATS_AUTH", raising=False)
    monkeypatch.delenv("KETENBUS_NATS_URL", raising=False)
    external = "nats://nats.example:4222"
    actual = [
        Settings(data_dir=tmp_path).nats_auth,
        Settings(data_dir=tmp_path, nats_url=external).nats_auth,
        Settings(data_dir=tmp_path, nats_url=external, nats_auth="registry").nats_auth,
        Settings(data_dir=tmp_path, nats_auth="none").nats_auth,
    ]
    assert ["registry", "none", "registry", "none"] == actual
    assert "registry" == Settings(data_dir=tmp_path).to_env()["KETENBUS_NATS_AUTH"]


def test_registry_users_get_a_private_secret_made_once_and_their_own_inbox(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, nats_auth="registry")
    first = connect_options(settings, "signalling")
    again = connect_options(settings, "signalling")
    secret = secrets_dir(settings) / "signalling"
    assert ("signalling", "_INBOX.signalling") == (first["user"], first["inbox_prefix"])
    assert first["password"] == again["password"]
    assert 0o600 == secret.stat().st_mode & 0o777
    assert first["password"] != connect_options(settings, "kluis")["password"]


def test_a_password_in_the_environment_wins_over_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETENBUS_NATS_PW_SIGNALLING", "from-the-vault")
    settings = Settings(data_dir=tmp_path, nats_auth="registry")
    assert "from-the-vault" == connect_options(settings, "signalling")["password"]
    assert not (secrets_dir(settings) / "signalling").exists()


def test_the_server_gets_every_password_the_config_refers_to(tmp_path: Path) -> None:
    environment = server_environment(Settings(data_dir=tmp_path, nats_auth="registry"))
    assert sorted(password_variables()) == sorted(environment)


async def test_only_registered_partners_without_their_own_nkey_are_connected_for(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "partners.yaml"
    registry.write_text(
        'version: "t"\npartners:\n'
        "  - {id: bs-nkey, name: n, role: school, keys: data-dir,\n"
        "     nats: {user: bs-nkey, nkey: U" + "A" * 55 + "}}\n"
    )
    settings = Settings(data_dir=tmp_path, nats_auth="registry")
    with pytest.raises(UnknownNatsPartnerError):
        await partner_connect(settings, "bs-unknown", "nats://127.0.0.1:1", registry)
    with pytest.raises(PartnerHoldsItsNkeyError):
        await partner_connect(settings, "bs-nkey", "nats://127.0.0.1:1", registry)

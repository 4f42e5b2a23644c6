"""The generated NATS users cover every process of the backbone, and the credentials of
`KETENBUS_NATS_AUTH=registry` are made and found without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT
from services.registry import SERVICES, service_specs
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
from services.runtime.nats_permissions import (
    PERMISSIONS_PATH,
    NatsNameError,
    Permissions,
    check_names,
    load_permissions,
    password_variables,
    permissions_of,
    user_entries,
)
from services.runtime.partners import PartnerEntry
from services.runtime.settings import Settings
from services.runtime.streams import stream_of_subject


def allowed(user: str) -> Permissions:
    specs = service_specs()
    entries, rules = user_entries(specs)
    return permissions_of(next(e for e in entries if e.nats_user.user == user), rules, specs)


def test_every_service_the_registry_runs_has_a_user_with_its_own_consumers_and_outbox() -> None:
    for name in SERVICES:
        spec = SERVICES[name]()
        publish = set(allowed(spec.name).publish)
        own = {f"$JS.API.CONSUMER.MSG.NEXT.{c.stream.name}.{c.durable}" for c in spec.consumers}
        outbox = {stream_of_subject(e.outbound_subject()).subjects[0] for e in spec.publishes}
        assert set() == (own | outbox) - publish, name
        stream_api = [s for s in publish if s.startswith("$JS.API.STREAM.")]
        reads = ("$JS.API.STREAM.INFO.", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.MSG.GET.OBJ_")
        assert [] == [s for s in stream_api if not s.startswith(reads)]


def test_a_service_touches_no_other_services_consumer() -> None:
    kluis = allowed("kluis").publish
    inboxes = [s for s in allowed("kluis").subscribe if s.startswith("_INBOX")]
    assert ["_INBOX.kluis.>"] == inboxes  # its fetches too (host.own_inboxes)
    assert not [s for s in kluis if ".integral-plan" in s or ".signalling" in s]
    assert not [s for s in kluis if s.endswith("*") or s in ("$JS.API.>", "ketenbus.>")]


def test_the_notificaties_bridge_reads_its_listed_consumers_and_the_supervisor_runs_jetstream() -> (
    None
):
    bridge = allowed(BRIDGE_USER).publish
    assert "$JS.API.CONSUMER.MSG.NEXT.PLAN.notificaties" in bridge
    assert "$JS.API.>" not in bridge
    assert "$JS.API.>" in allowed(SUPERVISOR_USER).publish


def test_a_partner_reads_only_its_own_feed_and_manages_no_consumer_stream_or_store() -> None:
    school = allowed("bs-de-regenboog")
    consumer_api = [s for s in school.publish if s.startswith("$JS.")]
    assert {
        "$JS.API.CONSUMER.INFO.FEED.feed-bs-de-regenboog",
        "$JS.API.CONSUMER.MSG.NEXT.FEED.feed-bs-de-regenboog",
        "$JS.ACK.FEED.feed-bs-de-regenboog.>",
    } <= set(consumer_api)
    assert [] == [s for s in consumer_api if "DURABLE" in s or "STREAM." in s or "*" in s]
    assert [] == [s for s in school.publish if "OBJ_" in s or s.startswith("$O.")]
    assert ["_INBOX.bs-de-regenboog.>"] == school.subscribe


def test_a_name_the_declarations_do_not_know_is_an_error(tmp_path: Path) -> None:
    text = PERMISSIONS_PATH.read_text().replace("[leerplicht-signals,", "[leerplicht-signal,")
    typo = tmp_path / "permissions.yaml"
    typo.write_text(text)
    consumer = tmp_path / "consumer.yaml"
    consumer.write_text(
        PERMISSIONS_PATH.read_text().replace("PLAN/notificaties", "PLAN/notificatie")
    )
    request = tmp_path / "request.yaml"
    request.write_text(
        PERMISSIONS_PATH.read_text().replace("ketenbus.query.plan,", "ketenbus.query.plna,")
    )
    for path in (typo, consumer, request):
        with pytest.raises(NatsNameError):
            check_names(load_permissions(path), service_specs())


def test_every_user_is_generated_once() -> None:
    users = [e.nats_user.user for e in user_entries(service_specs())[0]]
    assert sorted(set(users)) == sorted(users)


def test_a_partner_may_ask_for_its_plan_and_its_worklist() -> None:
    school = PartnerEntry(id="bs-a", name="bs-a", role="school")
    publish = permissions_of(school, load_permissions(), {}).publish
    assert {PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT} <= set(publish)


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
    assert sorted(password_variables(service_specs())) == sorted(environment)


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

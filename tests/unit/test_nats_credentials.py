"""A cluster's credentials from the settings: TLS files and NKEY or credentials files, for the
services' connections, their brokers and the partner kit, and NKEY users in the generated
authorization. Without a server (the cluster itself: tests/integration/test_cluster_tls.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.nats.security import NatsNKey
from pydantic import ValidationError

from ketenbus_partner.connect import Credentials, TlsFiles, read_credentials
from services.registry import service_specs
from services.runtime.nats_auth import broker_options, connect_options
from services.runtime.nats_permissions import (
    UnknownNkeyUserError,
    password_variables,
    render_auth_config,
)
from services.runtime.settings import Settings
from tests.cluster import Authority

NKEY = "U" + "B" * 55


def test_an_nkey_seed_file_setting_names_each_users_own_seed_without_a_password(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path, nats_auth="registry", nats_nkey_seed_file="/etc/kb/{user}.nk"
    )
    expected = {"nkeys_seed": "/etc/kb/signalling.nk", "inbox_prefix": "_INBOX.signalling"}
    assert expected == connect_options(settings, "signalling")
    assert "/etc/kb/backbone.nk" == connect_options(settings, "backbone")["nkeys_seed"]


def test_a_creds_file_setting_connects_with_the_users_credentials(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_auth="none", nats_creds_file="/run/kluis.creds")
    expected = {"user_credentials": "/run/kluis.creds", "inbox_prefix": "_INBOX.kluis"}
    assert expected == connect_options(settings, "kluis")


def test_tls_files_give_every_connection_a_context_that_checks_the_server(
    tmp_path: Path,
) -> None:
    authority = Authority(tmp_path / "pki")
    cert, key = authority.issue("signalling")
    settings = Settings(
        data_dir=tmp_path,
        nats_auth="none",
        nats_tls_ca=authority.ca,
        nats_tls_cert=cert,
        nats_tls_key=key,
    )
    context = connect_options(settings, "signalling")["tls"]
    assert isinstance(context, ssl.SSLContext)
    assert (ssl.CERT_REQUIRED, True) == (context.verify_mode, context.check_hostname)


def test_the_services_broker_proves_its_nkey_over_tls(tmp_path: Path) -> None:
    authority = Authority(tmp_path / "pki")
    settings = Settings(
        data_dir=tmp_path,
        nats_auth="none",
        nats_tls_ca=authority.ca,
        nats_nkey_seed_file=str(tmp_path / "{user}.nk"),
    )
    options = broker_options(settings, "handover")
    security = options["security"]
    assert isinstance(security, NatsNKey)
    assert (str(tmp_path / "handover.nk"), True) == (security.seed, security.use_ssl)
    assert "_INBOX.handover" == options["inbox_prefix"]


def test_a_client_certificate_without_its_key_is_not_a_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(data_dir=tmp_path, nats_tls_cert=tmp_path / "client.pem")


def test_a_partner_finds_its_seed_and_tls_files_in_its_environment() -> None:
    environ = {
        "KETENBUS_NATS_NKEY_SEED_FILE": "/home/vendor/{user}.nk",
        "KETENBUS_NATS_TLS_CA": "/home/vendor/ca.pem",
    }
    expected = Credentials(user="bs-x", nkeys_seed="/home/vendor/bs-x.nk")
    assert expected == read_credentials("bs-x", environ=environ)
    assert TlsFiles(ca=Path("/home/vendor/ca.pem")) == TlsFiles.from_environ(environ)


def test_users_given_an_nkey_carry_it_instead_of_a_password() -> None:
    config = render_auth_config(service_specs(), nkeys={"signalling": NKEY})
    variables = password_variables(service_specs(), nkeys={"signalling": NKEY})
    assert f'{{nkey: "{NKEY}", permissions' in config
    assert "KETENBUS_NATS_PW_SIGNALLING" not in config
    assert "KETENBUS_NATS_PW_SIGNALLING" not in variables
    assert "KETENBUS_NATS_PW_KLUIS" in variables


def test_an_nkey_for_a_user_the_config_does_not_name_is_an_error() -> None:
    with pytest.raises(UnknownNkeyUserError):
        render_auth_config(service_specs(), nkeys={"signaling": NKEY})

"""Who a process is on NATS: the users of the generated authorization (`KETENBUS_NATS_AUTH`).

With `none` (the default) every process connects without credentials, as today. With
`registry` the embedded nats-server runs the `authorization` block generated from the partner
registry (services/runtime/nats_permissions.py, `infra/nats/auth.conf`) and each process connects as
its own user: a service as its name, the supervisor as `backbone`, the Notificaties bridge as
`notificaties`, a partner's tools as the partner (replies on `_INBOX.<partner id>`).

A user's password is `$KETENBUS_NATS_PW_<USER>` when that is set (production: the same variable
the server's config refers to), else a random secret made on first use under
`<data_dir>/secrets/nats/<user>` (mode 0600): the demo's and the tests' users. The embedded
server gets those secrets through its environment; they are never written into a config file.

`connect(settings, user)` is the one place that opens a NATS connection as a given user;
`Connections` keeps one per identity for code that acts for many partners at once (the demo,
the arrangements scenario).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from faststream.nats.security import NatsCredentials, NatsNKey, NatsSecurity, NatsUserPassword
from nats.aio.client import Client as NatsClient

from ketenbus_partner.connect import BOUNDED_RECONNECTS as KIT_BOUNDED_RECONNECTS
from ketenbus_partner.connect import Connections as PartnerConnections
from ketenbus_partner.connect import (
    Credentials,
    CredentialSource,
    TlsFiles,
    connect_partner,
    credential_file,
    inbox_prefix,
    open_connection,
    password_variable,
)
from services.infra import INFRA_DIR
from services.runtime.partners import PARTNERS_PATH, load_partners
from services.runtime.secrets import load_or_create_secret
from services.runtime.settings import Settings

SUPERVISOR_USER = "backbone"
BRIDGE_USER = "notificaties"
AUDIT_USER = "audit"

# Generated from the registry and the declarations (services/runtime/nats_permissions.py,
# `ketenbus audit nats-config`); a test keeps it equal to what they generate today.
AUTH_CONF_PATH = INFRA_DIR / "nats" / "auth.conf"


class UnknownNatsPartnerError(LookupError):
    """The partner is not in the registry, so it has no NATS user."""


class PartnerHoldsItsNkeyError(LookupError):
    """The partner connects with its own NKEY seed, which the backbone never has."""


def settings_for(
    url: str, settings: Settings | None = None, data_dir: Path | None = None
) -> Settings:
    """`settings` (with `data_dir` when given); for a caller given only a server's URL, the
    environment's settings for that server: authorization as `KETENBUS_NATS_AUTH` says, else
    none (a given URL is an external server)."""
    resolved = settings or Settings(nats_url=url)
    return resolved if data_dir is None else resolved.model_copy(update={"data_dir": data_dir})


def secrets_dir(settings: Settings) -> Path:
    return settings.data_dir / "secrets" / "nats"


def nats_password(settings: Settings, user: str) -> str:
    """The user's password: from its environment variable, else the data dir's secret."""
    from_env = os.environ.get(password_variable(user))
    if from_env:
        return from_env
    # Starting with letters: nats-server parses an environment value like a config value,
    # and one starting with digits could read as a number.
    return "kb-" + load_or_create_secret(secrets_dir(settings) / user).hex()


def tls_files(settings: Settings) -> TlsFiles:
    """The process's TLS towards NATS (`KETENBUS_NATS_TLS_CA`, `…_CERT`, `…_KEY`)."""
    return TlsFiles(settings.nats_tls_ca, settings.nats_tls_cert, settings.nats_tls_key)


def credentials(settings: Settings, user: str) -> Credentials:
    """How `user` proves itself: its NKEY seed file or credentials file when the settings name
    one (`KETENBUS_NATS_NKEY_SEED_FILE`, `KETENBUS_NATS_CREDS_FILE`, `{user}` in the path the
    user), else its password under `KETENBUS_NATS_AUTH=registry`, else nothing."""
    seed = credential_file(settings.nats_nkey_seed_file, user)
    if seed is not None:
        return Credentials(user=user, nkeys_seed=seed)
    creds = credential_file(settings.nats_creds_file, user)
    if creds is not None:
        return Credentials(user=user, creds_file=creds)
    if settings.nats_auth == "none":
        return Credentials()
    return Credentials(user=user, password=nats_password(settings, user))


def connect_options(settings: Settings, user: str, inbox: str | None = None) -> dict[str, Any]:
    """Keyword arguments of `nats.connect` for `user`: TLS when the settings name TLS files;
    its credentials (`credentials`) and reply inbox prefix (`inbox`, default `_INBOX.<user>`)
    when it has any."""
    secure = tls_files(settings).options()
    creds = credentials(settings, user)
    if creds.anonymous:
        return secure
    return {**secure, **creds.options(), "inbox_prefix": inbox_prefix(inbox or user)}


def broker_options(settings: Settings, user: str) -> dict[str, Any]:
    """Keyword arguments of faststream's `NatsBroker` for `user` (see `connect_options`)."""
    context = tls_files(settings).context()
    creds = credentials(settings, user)
    security: NatsSecurity | None
    if creds.nkeys_seed is not None:
        security = NatsNKey.from_file(creds.nkeys_seed, ssl_context=context)
    elif creds.creds_file is not None:
        security = NatsCredentials.from_file(creds.creds_file, ssl_context=context)
    elif creds.password is not None:
        security = NatsUserPassword(user, creds.password, ssl_context=context)
    else:
        security = None if context is None else NatsSecurity(ssl_context=context)
    options: dict[str, Any] = {} if security is None else {"security": security}
    if not creds.anonymous:
        options["inbox_prefix"] = inbox_prefix(user)
    return options


# A command's connection gives up within seconds when the backbone goes away (the kit's
# `BOUNDED_RECONNECTS`); a long-running process passes `max_reconnect_attempts=-1`.
BOUNDED_RECONNECTS = KIT_BOUNDED_RECONNECTS


async def connect(settings: Settings, user: str, url: str, **kwargs: Any) -> NatsClient:
    """A NATS connection to `url` (comma-separated for a cluster) as `user`, with bounded
    reconnects unless `kwargs` say otherwise (`BOUNDED_RECONNECTS`)."""
    return await open_connection(
        url, {**BOUNDED_RECONNECTS, **connect_options(settings, user), **kwargs}
    )


def partner_credentials(
    settings: Settings, partner: str, path: Path = PARTNERS_PATH
) -> Credentials:
    """The credentials the backbone hands a registered partner it keeps the password of (demo
    and test partners): its NATS user and password; none without authorization."""
    if settings.nats_auth == "none":
        return Credentials()
    entry = next((e for e in load_partners(path).partners if e.id == partner), None)
    if entry is None:
        raise UnknownNatsPartnerError(f"{partner} is not in the partner registry")
    if entry.nats_user.nkey is not None:
        raise PartnerHoldsItsNkeyError(f"{partner} connects with its own NKEY seed")
    user = entry.nats_user.user
    return Credentials(user=user, password=nats_password(settings, user))


def credential_source(settings: Settings, path: Path = PARTNERS_PATH) -> CredentialSource:
    """The kit's credential source for code acting for many identities at once (the demo): a
    registered partner's credentials, any other name's as the backbone user of that name."""
    partners = {e.id for e in load_partners(path).partners}

    def source(name: str) -> Credentials:
        if name in partners:
            return partner_credentials(settings, name, path)
        return credentials(settings, name)

    return source


async def partner_connect(
    settings: Settings, partner: str, url: str, path: Path = PARTNERS_PATH, **kwargs: Any
) -> NatsClient:
    """A NATS connection as a registered partner through the partner kit, with the password
    the backbone keeps for it (`partner_credentials`)."""
    creds = partner_credentials(settings, partner, path)
    return await connect_partner(url, partner, credentials=creds, tls=tls_files(settings), **kwargs)


class Connections(PartnerConnections):
    """The kit's `Connections` with the credentials the backbone keeps (`credential_source`):
    one NATS connection per identity (a partner, or a backbone user such as `backbone`)."""

    def __init__(self, settings: Settings, url: str, path: Path = PARTNERS_PATH) -> None:
        super().__init__(url, credential_source(settings, path), tls_files(settings))
        self.settings, self.path = settings, path


def password_users(auth_config: str) -> list[str]:
    """The users an authorization block gives a password (a reference to the environment)."""
    return re.findall(r'user: "([a-z0-9-]+)", password: \$KETENBUS_NATS_PW_', auth_config)


def server_environment(settings: Settings, auth_conf: Path = AUTH_CONF_PATH) -> dict[str, str]:
    """The password variables the generated authorization refers to, for the server."""
    users = password_users(auth_conf.read_text(encoding="utf-8"))
    return {password_variable(u): nats_password(settings, u) for u in users}


def write_server_config(settings: Settings, auth_conf: Path = AUTH_CONF_PATH) -> Path:
    """The embedded server's config: the authorization generated from the registry
    (infra/nats/auth.conf), included from its own file as a production node includes it."""
    settings.nats_dir.mkdir(parents=True, exist_ok=True)
    auth = auth_conf.read_text(encoding="utf-8")
    (settings.nats_dir / "auth.conf").write_text(auth, encoding="utf-8")
    config = settings.nats_dir / "server.conf"
    config.write_text(
        "# Written by ketenbus (KETENBUS_NATS_AUTH=registry); the users come from the registry.\n"
        "include ./auth.conf\n",
        encoding="utf-8",
    )
    return config

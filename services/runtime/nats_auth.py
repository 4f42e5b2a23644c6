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
from types import TracebackType
from typing import Any

import nats
import nats.errors
import structlog
from faststream.nats.security import NatsUserPassword
from nats.aio.client import Client as NatsClient

from ketenbus_partner.connect import inbox_prefix, partner_options, password_variable
from services.infra import INFRA_DIR
from services.runtime.partners import PARTNERS_PATH, load_partners
from services.runtime.secrets import load_or_create_secret
from services.runtime.settings import Settings, server_list

log = structlog.get_logger(__name__)

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


def connect_options(settings: Settings, user: str, inbox: str | None = None) -> dict[str, Any]:
    """Keyword arguments of `nats.connect` for `user`: none without authorization; else its
    name, password and reply inbox prefix (`inbox`, default `_INBOX.<user>`)."""
    if settings.nats_auth == "none":
        return {}
    return {
        "user": user,
        "password": nats_password(settings, user),
        "inbox_prefix": inbox_prefix(inbox or user),
    }


def broker_options(settings: Settings, user: str) -> dict[str, Any]:
    """Keyword arguments of faststream's `NatsBroker` for `user` (see `connect_options`)."""
    options = connect_options(settings, user)
    if not options:
        return {}
    return {
        "security": NatsUserPassword(username=user, password=options["password"]),
        "inbox_prefix": options["inbox_prefix"],
    }


async def _connection_error(error: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed reconnect attempt: a
    lost connection is said once by whoever uses it (a command's one line, a service's log);
    anything else the server says (a permissions violation) is a warning, without traceback."""
    if isinstance(error, OSError | TimeoutError):
        log.debug("nats_connection_error", error=type(error).__name__)
    else:
        log.warning("nats_error", error=type(error).__name__, detail=str(error)[:200])


# A command's connection (the CLI, an import, a query): when the backbone goes away mid-command
# it gives up within seconds, and the command says so in one line, instead of nats-py's default
# of 60 reconnects 2 s apart (two minutes) each printing a traceback. A long-running process
# (a service, `web`, `notificaties run`) passes `max_reconnect_attempts=-1`: for ever.
BOUNDED_RECONNECTS: dict[str, Any] = {
    "connect_timeout": 2,
    "max_reconnect_attempts": 3,
    "reconnect_time_wait": 0.5,
    "error_cb": _connection_error,
}


async def _open(url: str, options: dict[str, Any]) -> NatsClient:
    """`nats.connect`, and when the reconnects run out (the backbone is gone), every request
    still waiting fails at once with ConnectionClosedError instead of at its own timeout."""
    opened: list[NatsClient] = []
    caller_closed_cb = options.pop("closed_cb", None)

    async def closed() -> None:
        if opened and isinstance(opened[0].last_error, nats.errors.NoServersError):
            # nats-py leaves its pending requests to their timeouts; it has no public hook.
            for future in list(opened[0]._resp_map.values()):
                if not future.done():
                    future.set_exception(nats.errors.ConnectionClosedError())
        if caller_closed_cb is not None:
            await caller_closed_cb()

    nc = await nats.connect(server_list(url), closed_cb=closed, **options)
    opened.append(nc)
    return nc


async def connect(settings: Settings, user: str, url: str, **kwargs: Any) -> NatsClient:
    """A NATS connection to `url` (comma-separated for a cluster) as `user`, with bounded
    reconnects unless `kwargs` say otherwise (`BOUNDED_RECONNECTS`)."""
    return await _open(url, {**BOUNDED_RECONNECTS, **connect_options(settings, user), **kwargs})


async def partner_connect(
    settings: Settings, partner: str, url: str, path: Path = PARTNERS_PATH, **kwargs: Any
) -> NatsClient:
    """A NATS connection as a registered partner: its NATS user with the password the backbone
    keeps for it, replies on its own inbox, as the partner kit connects
    (`ketenbus_partner.connect.partner_options`); without authorization a plain connection."""
    kwargs = {**BOUNDED_RECONNECTS, "name": partner, **kwargs}
    if settings.nats_auth == "none":
        return await _open(url, kwargs)
    entry = next((e for e in load_partners(path).partners if e.id == partner), None)
    if entry is None:
        raise UnknownNatsPartnerError(f"{partner} is not in the partner registry")
    if entry.nats_user.nkey is not None:
        raise PartnerHoldsItsNkeyError(f"{partner} connects with its own NKEY seed")
    user = entry.nats_user.user
    options = partner_options(entry.id, user=user, password=nats_password(settings, user))
    return await _open(url, {**options, **kwargs})


class Connections:
    """One NATS connection per identity (a partner, or a backbone user such as `backbone`),
    opened on first use and closed together. Without authorization every identity shares one
    plain connection, as a single-connection script always did."""

    def __init__(self, settings: Settings, url: str, path: Path = PARTNERS_PATH) -> None:
        self.settings, self.url, self.path = settings, url, path
        self._open: dict[str, NatsClient] = {}

    def _key(self, kind: str, name: str) -> str:
        return "" if self.settings.nats_auth == "none" else f"{kind}:{name}"

    async def partner(self, partner: str) -> NatsClient:
        """The connection as `partner` (its NATS user, replies on its own inbox)."""
        key = self._key("partner", partner)
        if key not in self._open:
            self._open[key] = await partner_connect(self.settings, partner, self.url, self.path)
        return self._open[key]

    async def user(self, user: str) -> NatsClient:
        """The connection as the backbone user `user` (e.g. `backbone`, `audit`)."""
        key = self._key("user", user)
        if key not in self._open:
            self._open[key] = await connect(self.settings, user, self.url)
        return self._open[key]

    async def close(self) -> None:
        opened, self._open = list(self._open.values()), {}
        for nc in opened:
            await nc.close()

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()


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

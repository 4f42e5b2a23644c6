"""Connecting to the backbone as a partner.

A partner's NATS user is its partner id (or the `nats.user` of its registry entry). It proves
who it is with either
- an NKEY: its public user NKEY is in the registry, the seed stays with the partner
  (`nkeys_seed=` of `nats.connect`; production), or a credentials file (user JWT and seed)
  where the operator runs NATS with accounts, or
- a password: the backbone's server config names the user with `$KETENBUS_NATS_PW_<USER>`
  (the user upper-cased, `-` as `_`), the value handed to the partner (demo and test partners).

Its credentials come from its own credential source, as a vendor configures it
(`read_credentials`): an NKEY seed file, a credentials file, a password file, or from the
environment `$KETENBUS_NATS_NKEY_SEED_FILE`, `$KETENBUS_NATS_CREDS_FILE` or
`$KETENBUS_NATS_PW_<USER>`.

A cluster's servers speak TLS, and ask for a client certificate (`verify: true`):
`TlsFiles` (the CA that signed the servers' certificates, the partner's certificate and key),
from the environment by default (`$KETENBUS_NATS_TLS_CA`, `…_CERT`, `…_KEY`), as the backbone's
processes take them.
A backbone that keeps the passwords of its demo and test partners hands such a `Credentials`
over instead (`Connections(url, source)`).

It connects with the reply inbox prefix `_INBOX.<partner id>`: its user may receive replies
only there. What the user may publish and read is generated from the registry
(`infra/nats/auth.conf`): publish under `in.<partner>.>`, the request subjects
(`ketenbus.kluis.*`, `ketenbus.pseudonym`, plan queries, attachments), fetch and ack its feed
consumer.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NatsClient

log = structlog.get_logger(__name__)


def inbox_prefix(partner: str) -> str:
    """The reply inbox prefix a partner connects with (`nats.connect(inbox_prefix=...)`)."""
    return f"_INBOX.{partner}"


def password_variable(user: str) -> str:
    """The environment variable the server's config takes the user's password from."""
    return "KETENBUS_NATS_PW_" + user.upper().replace("-", "_")


def partner_options(
    partner: str,
    *,
    user: str | None = None,
    password: str | None = None,
    nkeys_seed: str | None = None,
    creds_file: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments of `nats.connect` for `partner`: its user (default its id) with a
    password, an NKEY seed file or a credentials file, replies on `_INBOX.<partner>`. None: no
    credentials (a backbone without authorization), replies still on the partner's inbox."""
    options: dict[str, Any] = {"name": partner, "inbox_prefix": inbox_prefix(partner)}
    creds = Credentials(user or partner, password, nkeys_seed, creds_file)
    return {**options, **creds.options()}


@dataclass(frozen=True)
class Credentials:
    """Who a connection is: a NATS user with a password, an NKEY seed file or a credentials
    file; none for a backbone without authorization."""

    user: str | None = None
    password: str | None = None
    nkeys_seed: str | None = None
    creds_file: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.password is None and self.nkeys_seed is None and self.creds_file is None

    def options(self) -> dict[str, Any]:
        """These credentials as keyword arguments of `nats.connect` (none when anonymous)."""
        if self.nkeys_seed is not None:
            return {"nkeys_seed": self.nkeys_seed}
        if self.creds_file is not None:
            return {"user_credentials": self.creds_file}
        if self.password is not None:
            return {"user": self.user, "password": self.password}
        return {}


NKEY_SEED_FILE_VARIABLE = "KETENBUS_NATS_NKEY_SEED_FILE"
CREDS_FILE_VARIABLE = "KETENBUS_NATS_CREDS_FILE"


def credential_file(template: str | os.PathLike[str] | None, user: str) -> str | None:
    """A seed or credentials file setting for `user`: `{user}` in it is the user's name, so
    one setting serves a process that connects as several users."""
    return None if template is None else str(template).replace("{user}", user)


@dataclass(frozen=True)
class TlsFiles:
    """TLS towards the NATS servers: the CA their certificates are checked against, and the
    client certificate and key a server that verifies clients asks for (PEM files)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TlsFiles:
        """`$KETENBUS_NATS_TLS_CA`, `…_CERT` and `…_KEY` (each unset: none)."""
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(f"KETENBUS_NATS_TLS_{name}")
            return Path(value) if value else None

        return cls(path("CA"), path("CERT"), path("KEY"))

    @property
    def enabled(self) -> bool:
        return self.ca is not None or self.cert is not None

    def context(self) -> ssl.SSLContext | None:
        """The client's TLS context, hostnames checked; None without TLS files."""
        if not self.enabled:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.ca) if self.ca else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert is not None:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments of `nats.connect`: `tls` when there are TLS files."""
        context = self.context()
        return {} if context is None else {"tls": context}


# Which credentials a name (a partner, or another identity) connects with.
CredentialSource = Callable[[str], Credentials]


def read_credentials(
    partner: str,
    *,
    user: str | None = None,
    password_file: Path | None = None,
    nkeys_seed: Path | None = None,
    creds_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """A partner's credentials from its own source: its NKEY seed file, else its credentials
    file, else its password file; else from the environment: `$KETENBUS_NATS_NKEY_SEED_FILE`,
    `$KETENBUS_NATS_CREDS_FILE` (`{user}` in either is the user), `$KETENBUS_NATS_PW_<USER>`
    (user default the partner id); else none."""
    name = user or partner
    env = os.environ if environ is None else environ
    if nkeys_seed is not None:
        return Credentials(user=name, nkeys_seed=str(nkeys_seed))
    if creds_file is not None:
        return Credentials(user=name, creds_file=str(creds_file))
    if password_file is not None:
        return Credentials(user=name, password=password_file.read_text(encoding="utf-8").strip())
    seed = credential_file(env.get(NKEY_SEED_FILE_VARIABLE), name)
    if seed:
        return Credentials(user=name, nkeys_seed=seed)
    creds = credential_file(env.get(CREDS_FILE_VARIABLE), name)
    if creds:
        return Credentials(user=name, creds_file=creds)
    password = env.get(password_variable(name))
    return Credentials(user=name, password=password) if password else Credentials()


def own_credentials(partner: str) -> Credentials:
    """The default source: `read_credentials` from the environment alone."""
    return read_credentials(partner)


def _connection_error_cb() -> Callable[[Exception], Any]:
    async def connection_error(error: Exception) -> None:
        """nats-py's default prints a traceback per failed reconnect: a lost connection is said
        once by whoever uses it; anything else the server says (a permissions violation) is a
        warning, without traceback."""
        if isinstance(error, OSError | TimeoutError):
            log.debug("nats_connection_error", error=type(error).__name__)
        else:
            log.warning("nats_error", error=type(error).__name__, detail=str(error)[:200])

    return connection_error


# A command's connection: when the backbone goes away mid-command it gives up within seconds,
# instead of nats-py's default of 60 reconnects 2 s apart each printing a traceback. A
# long-running process passes `max_reconnect_attempts=-1`: for ever.
BOUNDED_RECONNECTS: dict[str, Any] = {
    "connect_timeout": 2,
    "max_reconnect_attempts": 3,
    "reconnect_time_wait": 0.5,
    "error_cb": _connection_error_cb(),
}


def server_list(servers: str | list[str]) -> list[str]:
    """`servers` as nats-py's list (a comma-separated string for a cluster)."""
    if isinstance(servers, list):
        return servers
    return [s.strip() for s in servers.split(",") if s.strip()]


async def open_connection(servers: str | list[str], options: dict[str, Any]) -> NatsClient:
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

    nc = await nats.connect(server_list(servers), closed_cb=closed, **options)
    opened.append(nc)
    return nc


async def connect_partner(
    servers: str | list[str],
    partner: str,
    *,
    credentials: Credentials | None = None,
    tls: TlsFiles | None = None,
    **kwargs: Any,
) -> NatsClient:
    """A NATS connection as `partner` with `credentials` (default `own_credentials`) over `tls`
    (default `TlsFiles.from_environ`), bounded reconnects (`BOUNDED_RECONNECTS`); `kwargs` go
    to `nats.connect`."""
    creds = own_credentials(partner) if credentials is None else credentials
    options = partner_options(
        partner,
        user=creds.user,
        password=creds.password,
        nkeys_seed=creds.nkeys_seed,
        creds_file=creds.creds_file,
    )
    secure = (TlsFiles.from_environ() if tls is None else tls).options()
    return await open_connection(servers, {**BOUNDED_RECONNECTS, **secure, **options, **kwargs})


class Connections:
    """One NATS connection per identity, with the credentials `source` gives it (over `tls`,
    default from the environment), opened on first use and closed together. Identities without
    credentials (a backbone without authorization) share one plain connection."""

    def __init__(
        self, url: str, source: CredentialSource = own_credentials, tls: TlsFiles | None = None
    ) -> None:
        self.url, self.source, self.tls = url, source, tls
        self._open: dict[str, NatsClient] = {}

    async def partner(self, partner: str) -> NatsClient:
        """The connection as `partner` (its NATS user, replies on its own inbox)."""
        creds = self.source(partner)
        key = "" if creds.anonymous else partner
        if key not in self._open:
            self._open[key] = await connect_partner(
                self.url, partner, credentials=creds, tls=self.tls
            )
        return self._open[key]

    # Another identity (e.g. the backbone's own user) connects the same way.
    user = partner

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

"""Connecting to the backbone as a partner.

A partner's NATS user is its partner id (or the `nats.user` of its registry entry). It proves
who it is with either
- an NKEY: its public user NKEY is in the registry, the seed stays with the partner
  (`nkeys_seed=` of `nats.connect`; production), or
- a password: the backbone's server config names the user with `$KETENBUS_NATS_PW_<USER>`
  (the user upper-cased, `-` as `_`), the value handed to the partner (demo and test partners).

It connects with the reply inbox prefix `_INBOX.<partner id>`: its user may receive replies
only there. What the user may publish and read is generated from the registry
(`infra/nats/auth.conf`): publish under `in.<partner>.>`, the request subjects
(`ketenbus.kluis.*`, `ketenbus.pseudonym`, plan queries, attachments), fetch and ack its feed
consumer.
"""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client as NatsClient


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
) -> dict[str, Any]:
    """Keyword arguments of `nats.connect` for `partner`: its user (default its id) with a
    password or an NKEY seed file, replies on `_INBOX.<partner>`. Neither: no credentials (a
    backbone without authorization), replies still on the partner's inbox."""
    options: dict[str, Any] = {"name": partner, "inbox_prefix": inbox_prefix(partner)}
    if nkeys_seed is not None:
        return {**options, "nkeys_seed": nkeys_seed}
    if password is not None:
        return {**options, "user": user or partner, "password": password}
    return options


async def connect_partner(
    servers: str | list[str],
    partner: str,
    *,
    user: str | None = None,
    password: str | None = None,
    nkeys_seed: str | None = None,
    **kwargs: Any,
) -> NatsClient:
    """A NATS connection as `partner` (see `partner_options`); `kwargs` go to `nats.connect`."""
    options = partner_options(partner, user=user, password=password, nkeys_seed=nkeys_seed)
    return await nats.connect(servers, **{**options, **kwargs})

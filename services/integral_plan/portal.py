"""The reader's side of the plan: asks the plan service as one partner and opens what it got.

A portal runs for one organisation (its keys in the data dir): it signs its queries with the
organisation's Ed25519 key, the plan service answers only what that organisation may receive,
and the portal opens the sealed sections with the organisation's own keys via kluis
(`reader.open_plan`). The parents' view uses the clear parts only: who takes part, and which
kinds of information they shared and may see; never the content.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import ask, kinds_only, open_plan, query_plan, query_worklist
from ketenbus_partner.publish import publish_signed


class Portal(Protocol):
    partner: str

    async def plan(self, child: str) -> dict[str, Any] | None:
        """The child's plan as the partner may see it, opened; None when it may not."""

    async def worklist(self) -> dict[str, Any]:
        """The partner's worklist."""

    async def shared(self, child: str) -> dict[str, Any] | None:
        """The plan's clear parts (who takes part, what kinds of sections): the parents' view."""

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        """Pass a partner's own signed query to the plan service; its answer as JSON."""

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        """The parents' view of the child's plan, asked as the parent's account (logged in
        here); None when the parent is not linked to the child."""

    async def seal(
        self, model: BaseModel, *, child: str, event_id: uuid.UUID
    ) -> dict[Purpose, str]:
        """`data.sealed` for `model`'s sections, under the partner's keys from kluis."""

    async def publish(self, event: CloudEvent[Any]) -> None:
        """Publish `event` as the partner: signed with its key, on its inbound subject."""


class NatsPortal:
    """A portal over NATS request/reply, for `partner`, with its keys from `data_dir`."""

    def __init__(self, nc: NatsClient, data_dir: Path, partner: str, timeout: float = 10.0) -> None:
        self.partner = partner
        self._nc = nc
        self._timeout = timeout
        self._keyring = Keyring.for_partner(data_dir, partner, nc)
        self._data_dir = data_dir

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        return await ask(self._nc, subject, token, self._timeout)

    async def plan(self, child: str) -> dict[str, Any] | None:
        found = await query_plan(self._nc, child, self._keyring.keys, self._timeout)
        return None if found is None else await open_plan(found, self._keyring)

    async def worklist(self) -> dict[str, Any]:
        return await query_worklist(self._nc, self._keyring.keys, self._timeout)

    async def shared(self, child: str) -> dict[str, Any] | None:
        # The parents' view: the clear parts of what this partner may receive, and the kinds.
        found = await query_plan(self._nc, child, self._keyring.keys, self._timeout)
        return None if found is None else kinds_only(found)

    async def seal(
        self, model: BaseModel, *, child: str, event_id: uuid.UUID
    ) -> dict[Purpose, str]:
        return await self._keyring.seal(model, child=child, event_id=event_id)

    async def publish(self, event: CloudEvent[Any]) -> None:
        await publish_signed(self._nc.jetstream(), event, self._keyring.keys)

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        # The web app acts for the parent who logged in: it signs as the parent's account
        # (keys in the data dir, as the registry has them); the plan service checks the link.
        keys = load_or_create_partner_keys(self._data_dir, parent)
        return await query_plan(self._nc, child, keys, self._timeout)

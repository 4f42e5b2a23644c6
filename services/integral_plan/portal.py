"""The reader's side of the plan: asks the plan service as one partner and opens what it got.

A portal runs for one organisation (its keys in the data dir): it signs its queries with the
organisation's Ed25519 key, the plan service answers only what that organisation may receive,
and the portal opens the sealed sections with the organisation's own keys via kluis
(`reader.open_plan`). The parents' view uses the clear parts only: who takes part, and which
kinds of information they shared and may see; never the content. The one exception is the
handover dossier before it goes (`parents_dossier`): the parents' inzage, opened with the
parent account's own keys, which kluis gives for a link the school or the municipality made.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SealingError
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import ask, kinds_only, open_plan, query_plan, query_worklist
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import publish_signed
from services.integral_plan.web_receipts import ReceiptBook, read_receipts, receipt_of


class Portal(Protocol):
    partner: str

    async def plan(self, child: str) -> dict[str, Any] | None:
        """The child's plan as the partner may see it, opened; None when it may not."""

    async def worklist(self) -> dict[str, Any]:
        """The partner's worklist."""

    async def pseudonym(self, bsn: str) -> str:
        """The child's pseudonym from its BSN, asked of the pseudonym service as the partner
        (the BSN sealed to the service's key); raises PseudonymClientError."""

    async def shared(self, child: str) -> dict[str, Any] | None:
        """The plan's clear parts (who takes part, what kinds of sections): the parents' view."""

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        """Pass a partner's own signed query to the plan service; its answer as JSON."""

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        """The parents' view of the child's plan, asked as the parent's account (logged in
        here); None when the parent is not linked to the child."""

    async def linked_children(self, parent: str) -> list[dict[str, Any]]:
        """The children a school or the municipality linked the parent's account to (asked as
        that account): each `child`, `recorded_by` and `linked_on`."""

    async def parents_dossier(self, child: str, parent: str) -> list[dict[str, Any]] | None:
        """Each handover's prepared dossier (the parents' inzage before it goes), opened with
        the parent account's keys through kluis; None when the parent is not linked."""

    async def seal(
        self, model: BaseModel, *, child: str, event_id: uuid.UUID, scope: str | None = None
    ) -> dict[Purpose, str]:
        """`data.sealed` for `model`'s sections, under the partner's keys from kluis (`scope`:
        the record a record-scoped purpose is sealed under, e.g. a handover's id)."""

    async def publish(self, event: CloudEvent[Any]) -> None:
        """Publish `event` as the partner: signed with its key, on its inbound subject."""

    async def publish_as_parent(
        self, event: CloudEvent[Any], parent: str, wait: float = 0.0
    ) -> Receipt | None:
        """Publish `event` as the logged-in parent's account (its source): signed with that
        account's key, on its own inbound subject, over its own NATS user; its receipt when it
        came within `wait` seconds."""

    async def receipts(
        self, event_ids: Sequence[uuid.UUID], wait: float
    ) -> Mapping[uuid.UUID, Receipt]:
        """The receipts of what the partner published (`event_ids`) that are in within `wait`
        seconds (0: those in already); all of them, or a refusal, ends the wait sooner."""


class NatsPortal:
    """A portal over NATS request/reply, for `partner`, with its keys from `data_dir`."""

    def __init__(
        self,
        nc: NatsClient,
        data_dir: Path,
        partner: str,
        timeout: float = 10.0,
        connect_as: Callable[[str], Awaitable[NatsClient]] | None = None,
    ) -> None:
        """`connect_as`: a NATS connection as a parent's account (its own user under the
        registry's authorization); without it the portal's own connection is used."""
        self.partner = partner
        self._nc = nc
        self._timeout = timeout
        self._keyring = Keyring.for_partner(data_dir, partner, nc)
        self._pseudonyms = PseudonymClient.for_partner(data_dir, partner, nc, timeout=timeout)
        self._data_dir = data_dir
        self._connect_as = connect_as
        self._receipts = ReceiptBook()
        self._reader: asyncio.Task[None] | None = None

    def read_receipts(self) -> None:
        """Start reading the partner's receipts (in the running loop), once."""
        if self._reader is None:
            reading = read_receipts(self._nc, self.partner, self._receipts)
            self._reader = asyncio.create_task(reading)

    async def receipts(
        self, event_ids: Sequence[uuid.UUID], wait: float
    ) -> Mapping[uuid.UUID, Receipt]:
        self.read_receipts()
        return await self._receipts.wait(event_ids, wait)

    async def close(self) -> None:
        """Stop reading receipts (the connection is the caller's)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        return await ask(self._nc, subject, token, self._timeout)

    async def plan(self, child: str) -> dict[str, Any] | None:
        found = await query_plan(self._nc, child, self._keyring.keys, self._timeout)
        return None if found is None else await open_plan(found, self._keyring)

    async def worklist(self) -> dict[str, Any]:
        return await query_worklist(self._nc, self._keyring.keys, self._timeout)

    async def pseudonym(self, bsn: str) -> str:
        return await self._pseudonyms.child(bsn)

    async def shared(self, child: str) -> dict[str, Any] | None:
        # The parents' view: the clear parts of what this partner may receive, and the kinds.
        found = await query_plan(self._nc, child, self._keyring.keys, self._timeout)
        return None if found is None else kinds_only(found)

    async def seal(
        self, model: BaseModel, *, child: str, event_id: uuid.UUID, scope: str | None = None
    ) -> dict[Purpose, str]:
        return await self._keyring.seal(model, child=child, event_id=event_id, scope=scope)

    async def publish(self, event: CloudEvent[Any]) -> None:
        self.read_receipts()  # reading before the first publish: its receipt is waited for
        await publish_signed(self._nc.jetstream(), event, self._keyring.keys)

    async def publish_as_parent(
        self, event: CloudEvent[Any], parent: str, wait: float = 0.0
    ) -> Receipt | None:
        keys = load_or_create_partner_keys(self._data_dir, parent)
        if self._connect_as is None:
            await publish_signed(self._nc.jetstream(), event, keys)
            return await receipt_of(self._nc, parent, event.id, wait) if wait > 0 else None
        # A parent acts now and then: a connection for this one publish and its receipt,
        # closed after it (none is kept per parent).
        nc = await self._connect_as(parent)
        try:
            await publish_signed(nc.jetstream(), event, keys)
            return await receipt_of(nc, parent, event.id, wait) if wait > 0 else None
        finally:
            await nc.close()

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        # The web app acts for the parent who logged in: it signs as the parent's account
        # (keys in the data dir, as the registry has them); the plan service checks the link.
        keys = load_or_create_partner_keys(self._data_dir, parent)
        return await query_plan(self._nc, child, keys, self._timeout)

    async def linked_children(self, parent: str) -> list[dict[str, Any]]:
        # Asked as the parent's account: the plan service lists the links made for it only.
        keys = load_or_create_partner_keys(self._data_dir, parent)
        worklist = await query_worklist(self._nc, keys, self._timeout)
        return list(worklist.get("children") or [])

    async def parents_dossier(self, child: str, parent: str) -> list[dict[str, Any]] | None:
        # Asked and opened as the parent's account: kluis opens `handover` for a parent's link
        # (infra/relations.yaml), never for the organisation that runs the portal.
        view = await self.parents_view(child, parent)
        if view is None:
            return None
        keyring = Keyring.for_partner(self._data_dir, parent, self._nc)
        return await prepared_dossiers(view, keyring)


async def prepared_dossiers(view: dict[str, Any], keyring: Keyring) -> list[dict[str, Any]]:
    """Each prepared dossier in the parents' view, opened with `keyring` (the parent account's).
    A dossier prepared before its sections travelled sealed (`dossier-prepared-info` v1) has
    nothing to open: it comes with `inzage: False`, no sections."""
    dossiers = []
    for handover in view.get("handovers", []):
        if "dossier" in handover:
            dossiers.append(await open_dossier(handover, keyring))
        elif handover.get("prepared_on"):
            dossiers.append(_summary(handover) | {"sections": [], "inzage": False})
    return dossiers


async def open_dossier(handover: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """One handover's prepared dossier: each section opened (`opened`: its fields) or the
    reason it did not open (`refused`: kluis's code)."""
    sections = []
    for section in handover["dossier"]:
        shown: dict[str, Any] = {"category": section["category"], "rule": section["rule"]}
        try:
            event_id = uuid.UUID(section["sealed_in"])
            shown["opened"] = await keyring.open_token(section["sealed"], event_id=event_id)
        except KeyRefusedError as exc:
            shown["refused"] = exc.code
        except SealingError as exc:
            shown["refused"] = type(exc).__name__
        sections.append(shown)
    return _summary(handover) | {"sections": sections, "inzage": True}


def _summary(handover: dict[str, Any]) -> dict[str, Any]:
    keep = ("handover_id", "transition", "from", "to", "prepared_on", "status")
    return {k: handover.get(k) for k in keep}

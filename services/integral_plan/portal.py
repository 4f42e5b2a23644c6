"""The reader's side of the plan: asks the plan service as one partner and opens what it got.

A portal runs for one organisation (its keys in the data dir): it signs its queries with the
organisation's Ed25519 key, the plan service answers only what that organisation may receive,
and the portal opens the sealed sections with the organisation's own keys via kluis
(`reader.open_plan`). The parents' view uses the clear parts only: who takes part, and which
kinds of information they shared and may see; never the content.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient

from ketenbus_contracts.plan import PlanQuery, sign_plan_query
from services.integral_plan.handlers import PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT
from services.integral_plan.reader import open_plan
from services.runtime.keyring import Keyring, load_or_create_partner_keys


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


class NatsPortal:
    """A portal over NATS request/reply, for `partner`, with its keys from `data_dir`."""

    def __init__(self, nc: NatsClient, data_dir: Path, partner: str, timeout: float = 10.0) -> None:
        self.partner = partner
        self._nc = nc
        self._timeout = timeout
        self._signing = load_or_create_partner_keys(data_dir, partner).signing
        self._keyring = Keyring.for_partner(data_dir, partner, nc)

    def _token(self, op: str, child: str | None = None) -> bytes:
        query = PlanQuery(partner=self.partner, op=op, child=child)  # type: ignore[arg-type]
        return sign_plan_query(query, self._signing).encode("ascii")

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        reply = await self._nc.request(subject, token, timeout=self._timeout)
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    async def plan(self, child: str) -> dict[str, Any] | None:
        answer = await self.forward(PLAN_QUERY_SUBJECT, self._token("plan", child))
        if not answer.get("found"):
            return None
        return await open_plan(answer["plan"], self._keyring)

    async def worklist(self) -> dict[str, Any]:
        answer = await self.forward(WORKLIST_QUERY_SUBJECT, self._token("worklist"))
        worklist: dict[str, Any] = answer.get("worklist") or {"partner": self.partner, "items": []}
        return worklist

    async def shared(self, child: str) -> dict[str, Any] | None:
        body = json.dumps({"child": child}).encode()
        reply = await self._nc.request(PLAN_QUERY_SUBJECT, body, timeout=self._timeout)
        answer = json.loads(reply.data)
        plan: dict[str, Any] | None = answer.get("plan") if answer.get("found") else None
        return plan

"""The one client of the plan service's queries: signed as a partner, over NATS request/reply.

Every query is a `PlanQuery` signed with the asking partner's Ed25519 key
(`ketenbus_contracts.plan.sign_plan_query`); the plan service answers only what that partner may
receive, with its sections still sealed (open them with `services.integral_plan.reader`). The
demo, `ketenbus plan show`, the portal and the tests all ask through here.
"""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client as NatsClient

from ketenbus_contracts.plan import (
    PLAN_QUERY_SUBJECT,
    WORKLIST_QUERY_SUBJECT,
    PlanQuery,
    sign_plan_query,
)
from ketenbus_contracts.sealing import PartnerKeys

TIMEOUT = 10.0


def signed_query(keys: PartnerKeys, child: str | None = None) -> bytes:
    """A fresh signed query for `child`'s plan, or for the partner's worklist (no child)."""
    if child is None:
        query = PlanQuery(partner=keys.partner, op="worklist")
    else:
        query = PlanQuery(partner=keys.partner, op="plan", child=child)
    return sign_plan_query(query, keys.signing).encode("ascii")


async def ask(
    nc: NatsClient, subject: str, token: bytes, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """Send a signed query (made here or by a partner's own system); the answer as JSON."""
    reply = await nc.request(subject, token, timeout=timeout)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def query_plan(
    nc: NatsClient, child: str, keys: PartnerKeys, timeout: float = TIMEOUT
) -> dict[str, Any] | None:
    """The child's plan as `keys.partner` may receive it (sealed); None when it may not."""
    answer = await ask(nc, PLAN_QUERY_SUBJECT, signed_query(keys, child), timeout)
    plan: dict[str, Any] | None = answer.get("plan") if answer.get("found") else None
    return plan


async def query_worklist(
    nc: NatsClient, keys: PartnerKeys, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The partner's worklist (empty when the query is refused)."""
    answer = await ask(nc, WORKLIST_QUERY_SUBJECT, signed_query(keys), timeout)
    worklist: dict[str, Any] = answer.get("worklist") or {"partner": keys.partner, "items": []}
    return worklist


__all__ = ["ask", "query_plan", "query_worklist", "signed_query"]

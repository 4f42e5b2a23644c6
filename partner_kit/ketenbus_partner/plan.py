"""Asking the plan service as a partner, and reading the plan it answers with one's own keys.

Every query is a `PlanQuery` signed with the asking partner's Ed25519 key
(`ketenbus_contracts.plan.sign_plan_query`: a JWS, header `kid` the bare partner id, `typ`
`plan-query+jws`, `issued_at` within 120 s), sent over NATS request/reply on
`ketenbus.query.plan` (`op` `plan`, a `child`) or `ketenbus.query.worklist` (`op` `worklist`).
The plan service answers only what that partner may receive, its sections still sealed:
`{"found": true, "plan": {...}}` (or `found` false), `{"worklist": {...}}`. `open_plan` opens
each item's sections with the partner's keyring and keeps what was refused visible as refused,
so the reader knows something is there that it may not see.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from nats.aio.client import Client as NatsClient

from ketenbus_contracts.plan import (
    PLAN_QUERY_SUBJECT,
    WORKLIST_QUERY_SUBJECT,
    PlanQuery,
    sealed_items,
    sign_plan_query,
)
from ketenbus_contracts.sealing import PartnerKeys, SealingError
from ketenbus_partner.keyring import KeyRefusedError, Keyring

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


async def open_plan(plan: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The plan with each item's sections opened where `keyring` may, refused otherwise.

    Items are signals, goals, agreements, actions (and an action's report), handovers,
    arrangements and the attendance block's enrolments, exemptions, offers and verzuim
    reports (`ketenbus_contracts.plan.sealed_items`); each keeps `opened` (purpose → fields)
    and `refused` (purpose → kluis's code).
    """
    readable = copy.deepcopy(plan)
    readable["reader"] = keyring.partner
    for item in sealed_items(readable):
        await _open_item(item, keyring)
    return readable


def kinds_only(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with each item's sections reduced to their kinds (purpose → ""): no content,
    and withheld kinds named too, for a view of what is shared (the parents')."""
    shown = copy.deepcopy(plan)
    for item in sealed_items(shown):
        kinds = [*item.pop("sealed", {}), *item.pop("withheld", [])]
        item["sealed"] = dict.fromkeys(sorted(kinds), "")
    return shown


async def _open_item(item: dict[str, Any], keyring: Keyring) -> None:
    opened: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for purpose, token in item.pop("sealed", {}).items():
        try:
            opened[purpose] = await keyring.open_token(token, event_id=uuid.UUID(item["event_id"]))
        except KeyRefusedError as exc:
            refused[purpose] = exc.code
        except SealingError as exc:
            refused[purpose] = type(exc).__name__
    for purpose in item.pop("withheld", []):
        # The plan service did not hand these out: the reader's role may not hold them.
        refused[purpose] = "role-not-permitted"
    item["opened"] = opened
    item["refused"] = refused


__all__ = [
    "ask",
    "kinds_only",
    "open_plan",
    "query_plan",
    "query_worklist",
    "signed_query",
]

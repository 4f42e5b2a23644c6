"""Reading a plan as one partner: the sealed sections it may open, opened with its own keys.

The plan service hands out the plan with its sections sealed; this runs on the reader's side
(the CLI, a partner's system), asks kluis for the keys, and keeps what was refused visible as
refused, so the reader knows something is there that it may not see.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from ketenbus_contracts.sealing import SealingError
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from services.integral_plan.domain import sealed_items


async def open_plan(plan: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The plan with each item's sections opened where `keyring` may, refused otherwise.

    Items are signals, goals, agreements, actions (and an action's report), handovers,
    arrangements and the attendance block's enrolments, exemptions, offers and verzuim
    reports (`domain.sealed_items`); each keeps `opened` (purpose → fields) and `refused`
    (purpose → kluis's code).
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

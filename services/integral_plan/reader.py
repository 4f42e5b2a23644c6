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
from services.runtime.keyring import KeyRefusedError, Keyring

# Lists of items with sealed sections; `attendance` is one such item (or None).
SEALED_ITEMS = ("signals", "goals", "agreements", "actions", "handovers", "arrangements")
SEALED_ITEM = "attendance"


def sealed_items(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of the plan that may carry sealed sections (an action's report included)."""
    items = [item for key in SEALED_ITEMS for item in plan.get(key) or []]
    if isinstance(plan.get(SEALED_ITEM), dict):
        items.append(plan[SEALED_ITEM])
    reports = [item["report"] for item in items if isinstance(item.get("report"), dict)]
    return items + reports


async def open_plan(plan: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The plan with each item's sections opened where `keyring` may, refused otherwise.

    Items are signals, goals, agreements, actions (and an action's report), handovers,
    arrangements and attendance, where present; each keeps `opened` (purpose → fields) and
    `refused` (purpose → kluis's code).
    """
    readable = copy.deepcopy(plan)
    readable["reader"] = keyring.partner
    for item in sealed_items(readable):
        if "sealed" in item or "withheld" in item:
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

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


async def open_plan(plan: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The plan with each signal's sections opened where `keyring` may, refused otherwise."""
    readable = copy.deepcopy(plan)
    readable["reader"] = keyring.partner
    for signal in readable["signals"]:
        opened: dict[str, Any] = {}
        refused: dict[str, str] = {}
        for purpose, token in signal.pop("sealed", {}).items():
            try:
                opened[purpose] = await keyring.open_token(
                    token, event_id=uuid.UUID(signal["event_id"])
                )
            except KeyRefusedError as exc:
                refused[purpose] = exc.code
            except SealingError as exc:
                refused[purpose] = type(exc).__name__
        signal["opened"] = opened
        signal["refused"] = refused
    return readable

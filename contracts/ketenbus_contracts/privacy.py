"""Privacy contracts: a child's data erased everywhere (crypto-shredding).

`child-erased` follows the deletion of every data key of the child in kluis: from then on no
sealed section about the child opens anywhere, and every projection drops what it derived.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from ketenbus_contracts.envelope import CloudEvent, EventData


class ChildErasedData(EventData):
    erased_at: AwareDatetime
    reason: Literal["request", "retention", "death"] = Field(
        default="request", description="An erasure request, retention expiry, or death"
    )


class ChildErased(CloudEvent[ChildErasedData], domain="privacy", name="child-erased"):
    """Every data key of the child was destroyed; drop what you derived about it."""

"""What a partner reads on its own feed besides the event copies: receipts.

Every event a partner publishes on `in.<partner>.…` is answered on `feed.<partner>.receipt`:
`accepted`, with the INBOUND stream sequence it became and its event id, or `refused`, with a
reason code (kebab-case, e.g. `invalid`, `forged-signature`, `no-relation`) and the event id
when it had a readable one. A receipt never quotes the refused content.

Only the backbone may publish on `feed.>`, so a receipt is authenticated by where it is read;
every event copy also carries the feed service's signature in the header
`Ketenbus-Feed-Signature`: a detached JWS (Ed25519, `kid` `feed#sig`) over the RFC 8785
canonical form of `{"feed_entry": <the entry's JSON body>, "source": "feed"}`, verified with
the public key of the `feed` entry in the partner registry (`verify_feed_entry`; any JOSE
library does the same with that payload).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN, TYPE_PREFIX, ContractModel
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signing import (
    ForgedSignatureError,
    MissingSignatureError,
    sign_envelope,
    verify_envelope,
)

REASON_CODE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
FEED_SIGNER = "feed"
FEED_SIGNATURE_HEADER = "Ketenbus-Feed-Signature"


class Receipt(ContractModel):
    """The backbone's answer to one inbound event: accepted (with its stream sequence) or
    refused (with the reason code, never the content)."""

    name: ClassVar[str] = "receipt"
    version: ClassVar[int] = 1

    type: Literal["nl.ketenbus.feed.receipt.v1"] = "nl.ketenbus.feed.receipt.v1"
    id: uuid.UUID = Field(description="The receipt's own id (stable per inbound message)")
    partner: str = Field(pattern=PARTNER_ID_PATTERN, description="Who published the event")
    status: Literal["accepted", "refused"]
    event_id: uuid.UUID | None = Field(
        default=None, description="The inbound event's id, when it had a readable one"
    )
    stream_seq: int | None = Field(
        default=None,
        ge=1,
        description="The INBOUND stream sequence the event became (none when refused at the "
        "edge, before it reached the stream)",
    )
    service: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The service that decided"
    )
    reason: str | None = Field(
        default=None,
        pattern=REASON_CODE_PATTERN,
        max_length=64,
        description="Why it was refused (kebab-case code); only for refused",
    )
    decided_at: AwareDatetime

    @model_validator(mode="after")
    def _reason_iff_refused(self) -> Receipt:
        if (self.status == "refused") != (self.reason is not None):
            raise ValueError("a refused receipt names its reason, an accepted one none")
        if self.status == "accepted" and (self.stream_seq is None or self.event_id is None):
            raise ValueError("an accepted receipt names the event id and its stream sequence")
        return self

    @classmethod
    def event_type(cls) -> str:
        return f"{TYPE_PREFIX}.feed.{cls.name}.v{cls.version}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def sign_feed_entry(body: bytes, keys: PartnerKeys) -> str:
    """The feed's detached JWS over a feed entry's JSON body (see the module)."""
    return sign_envelope(_entry(json.loads(body)), keys.signing, keys.partner)


def verify_feed_entry(
    body: bytes, headers: Mapping[str, str] | None, feed_keys: PartnerKeys
) -> None:
    """Check that a feed entry is what the feed service sent; raises a SignatureError.

    An event copy keeps the original event's id, source and remaining sealed sections (each JWE
    is bound to the event id, so it still opens with the partner's key); sections the partner
    may not hold were removed, so the copy is signed again, by the feed, not by its source.
    """
    signature = (headers or {}).get(FEED_SIGNATURE_HEADER)
    if signature is None:
        raise MissingSignatureError("the feed entry is not signed")
    try:
        entry = _entry(json.loads(body))
    except ValueError:
        raise ForgedSignatureError("the feed entry is not a JSON object") from None
    verify_envelope({**entry, "ketenbussig": signature}, {FEED_SIGNER: feed_keys})


def _entry(value: Any) -> dict[str, Any]:
    """The signed form: the body wrapped, with the feed as the source that vouches for it."""
    if not isinstance(value, dict):
        raise ValueError("a feed entry is a JSON object")
    return {"feed_entry": value, "source": FEED_SIGNER}

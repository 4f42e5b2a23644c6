"""What a partner reads on its own feed besides the event copies: receipts.

Every event a partner publishes on `in.<partner>.…` is answered on `feed.<partner>.receipt`:
`accepted`, with the INBOUND stream sequence it became and its event id, or `refused`, with a
reason code (kebab-case, e.g. `invalid`, `forged-signature`, `no-relation`) and the event id
when it had a readable one. A receipt never quotes the refused content.

Only the backbone may publish on `feed.>`, so a receipt is authenticated by where it is read;
every event copy also carries the feed service's signature in the header
`Ketenbus-Feed-Signature`: a JWS with detached payload (RFC 7515 appendix F; Ed25519, `kid`
`feed#sig`, `typ` `ketenbus-feed+jws`) over the entry's body bytes exactly as received,
verified with the public key of the `feed` entry in the partner registry (`verify_feed_entry`;
any JOSE library does the same with the body as the detached payload). The header carries it
because the copy's own `ketenbussig`, if any, is its source's and no longer covers a copy from
which sections were removed.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
import warnings
from collections.abc import Mapping
from typing import ClassVar, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from pydantic import AwareDatetime, Field, model_validator

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN, TYPE_PREFIX, ContractModel
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signing import (
    ACCEPTED_ALGS,
    SIGNING_ALG,
    ForgedSignatureError,
    MissingSignatureError,
    SignatureError,
    signing_kid,
)

REASON_CODE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
FEED_SIGNER = "feed"
FEED_SIGNATURE_HEADER = "Ketenbus-Feed-Signature"
FEED_SIGNATURE_TYP = "ketenbus-feed+jws"


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@functools.lru_cache(maxsize=16)
def _feed_header(kid: str) -> str:
    """The protected header of every feed signature made with key `kid` (encoded once)."""
    header = {"alg": SIGNING_ALG, "kid": kid, "typ": FEED_SIGNATURE_TYP}
    return _b64(json.dumps(header, separators=(",", ":")).encode())


def sign_feed_entry(body: bytes, keys: PartnerKeys) -> str:
    """The feed's detached JWS (compact, `header..signature`) over the entry's body bytes,
    with its current key (its `kid` in the header: `feed#sig`, after a rotation `feed#sig-2`).

    Built directly (RFC 7515: the signature is over `<header>.<base64url(body)>`): the same
    token joserfc makes, without its per-call overhead, since the feed signs every copy.
    """
    if keys.partner != FEED_SIGNER:
        raise SignatureError("only the feed signs feed entries")
    header = _feed_header(str(keys.signing.kid or signing_kid(FEED_SIGNER)))
    signing_input = f"{header}.{_b64(body)}".encode()
    private = keys.signing.private_key
    if not isinstance(private, Ed25519PrivateKey):
        raise SignatureError("the feed's signing key is not an Ed25519 private key")
    return f"{header}..{_b64(private.sign(signing_input))}"


def feed_signature_kid(headers: Mapping[str, str] | None) -> str | None:
    """The key id a feed entry's signature names (None when it has no readable one): a reader
    that does not know it reads the feed's keys again (the feed rotated its key)."""
    signature = (headers or {}).get(FEED_SIGNATURE_HEADER, "")
    head = signature.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


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
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise ForgedSignatureError("the feed signature is not a JWS with detached payload")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise ForgedSignatureError("the feed signature has no readable header") from None
    # The feed's current key or one it used before a rotation, until retired.
    kid = header.get("kid") if isinstance(header, dict) else None
    key = feed_keys.verification_keys().get(kid) if isinstance(kid, str) else None
    if key is None:
        raise ForgedSignatureError("the feed entry is signed with another key than the feed's")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "EdDSA is deprecated" (still accepted)
            jws.deserialize_compact(signature, key, payload=body, algorithms=list(ACCEPTED_ALGS))
    except (JoseError, ValueError):
        raise ForgedSignatureError(
            "the feed signature does not verify: altered or forged"
        ) from None

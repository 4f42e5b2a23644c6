"""Verifying partners' signatures on inbound events, for ingress and the services' decoders.

`verifying(decode, settings)` wraps a service's decoder: the signature is checked on the bytes
as received (RFC 8785 canonical form, see `ketenbus_contracts.signing`) before the contract is
parsed. A forged or altered signature is always refused; an unsigned event too under
`KETENBUS_SIGNATURES=required`, the default (`verify-if-present` lets it through: a migration
setting only). The refusal surfaces as a pydantic ValidationError located at
`ketenbussig` (type `forged-signature`, `missing-signature`, …), so the host dead-letters it with
that reason like any other invalid input, quoting nothing of the event.

The decoded event's sealed sections are then checked without opening them
(`ketenbus_contracts.sealing.check_sealed`: a purpose its type allows, a `dir`/`A256GCM` JWE
whose header names this event's child and purpose in `kid` and this event's id in `eid`), so a
fake section, one copied from another event or another child's, is refused at the edge
(`SectionRefusedError`, with its own code) instead of being kept where nobody can open it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.sealing import check_sealed
from ketenbus_contracts.signing import (
    SIGNATURE_FIELD,
    MissingSignatureError,
    PublicKeys,
    SignatureError,
    verify_envelope,
)
from services.runtime.partners import PARTNERS_PATH, PartnerRegistry
from services.runtime.settings import Settings

T = TypeVar("T")


@cache
def registry_keys(data_dir: Path, path: Path = PARTNERS_PATH) -> PublicKeys:
    """The registered partners' public keys (one registry per data dir and registry file)."""
    return PartnerRegistry.load(data_dir, path).public_keys


def check_signature(raw: bytes, public_keys: PublicKeys, *, required: bool) -> str | None:
    """The verified signer, None when unsigned and not required; raises SignatureError.

    Bytes that are not a JSON object are left to the decoder, which refuses them as invalid
    (without parsing them here first when they do not even start like one).
    """
    if raw.lstrip()[:1] != b"{":
        return None
    try:
        envelope = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(envelope, dict):
        return None
    try:
        return verify_envelope(envelope, public_keys)
    except MissingSignatureError:
        if required:
            raise
        return None


def as_validation_error(exc: SignatureError) -> ValidationError:
    """The refusal as a ValidationError at `ketenbussig`, for the dead-letter path."""
    return ValidationError.from_exception_data(
        "CloudEvent",
        [
            InitErrorDetails(
                type=PydanticCustomError(exc.code, str(exc)),
                loc=(SIGNATURE_FIELD,),
                input=None,
            )
        ],
    )


def verifying(
    decode: Callable[[bytes], T],
    settings: Settings | None = None,
    *,
    public_keys: PublicKeys | None = None,
) -> Callable[[bytes], T]:
    """`decode` that first verifies the partner's signature, then checks the decoded event's
    sealed sections (see module docstring)."""
    resolved = settings or Settings()
    required = resolved.signatures == "required"

    def decode_verified(raw: bytes) -> T:
        keys = public_keys if public_keys is not None else registry_keys(resolved.data_dir)
        try:
            check_signature(raw, keys, required=required)
        except SignatureError as exc:
            raise as_validation_error(exc) from exc
        event = decode(raw)
        if isinstance(event, CloudEvent):
            check_sealed(event)
        return event

    return decode_verified


def signed_by(raw: bytes, settings: Settings) -> str | None:
    """The verified signer of raw event bytes under `settings` (None when unsigned)."""
    return check_signature(
        raw, registry_keys(settings.data_dir), required=settings.signatures == "required"
    )

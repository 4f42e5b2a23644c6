"""Keyed pseudonyms: a child's BSN never travels, its HMAC under the backbone secret does.

The same BSN always gives the same pseudonym under one secret, so partners and services can
relate events to one child without learning who it is. Households get their own namespace.

Only the backbone's pseudonym service holds the secret. A partner asks it over NATS
request/reply (`ketenbus.pseudonym`, the second half of this module):

- the request is a `PseudonymRequest`, a JWS signed with the partner's Ed25519 key like a kluis
  request (`ketenbus_contracts.sealing.sign_request`);
- the identifiers (BSNs, a school's BRIN + pupil keys, household keys) travel only inside
  `identifiers`, a JWE (ECDH-ES+A256KW/A256GCM) to the service's X25519 key
  (`ketenbus_contracts.sealing.encrypt_to`); in clear the request says only how many;
- up to `MAX_BATCH` identifiers go in one request (an EDEXML import asks once for all pupils);
- the `PseudonymAnswer` gives one `PseudonymResult` per identifier, in order: the pseudonym, or
  a code (`invalid-bsn`, `not-own-brin`); a refusal of the whole request has its own code
  (`rate-limited`, `replayed-request`, `bad-signature`, `stale-request`, `unknown-partner`,
  `invalid-request`);
- a signed request is answered once: its `nonce` seen again within the freshness window is
  `replayed-request` (whoever copies a request off the wire learns nothing and spends nothing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.envelope import PSEUDONYM_PATTERN
from ketenbus_contracts.sealing import SignedRequest

BSN_LENGTH = 9


class InvalidBsnError(ValueError):
    """Not a BSN: nine digits passing the eleven-check."""


def is_valid_bsn(bsn: str) -> bool:
    """The eleven-check (elfproef) for a BSN: weights 9..2 and -1 sum to a multiple of 11."""
    if len(bsn) != BSN_LENGTH or not bsn.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(int(d) * w for d, w in zip(bsn, weights, strict=True))
    return total % 11 == 0 and total != 0


# What is MACed for each kind of identifier, and how a MAC reads as a pseudonym.


def _child_message(bsn: str, check: bool = True) -> bytes:
    if check and not is_valid_bsn(bsn):
        raise InvalidBsnError("not a valid BSN (nine digits, eleven-check)")
    return f"child:{bsn}".encode()


def _household_message(household_key: str) -> bytes:
    return f"household:{household_key.replace(' ', '').upper()}".encode()


def _pupil_message(brin: str, pupil_key: str) -> bytes:
    return f"pupil:{brin.upper()}/{pupil_key}".encode()


def _readable(digest: bytes) -> str:
    return base64.b32encode(digest).decode().lower()[:32]


def _mac(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def child_pseudonym(secret: bytes, bsn: str, *, check: bool = True) -> str:
    """The pseudonym of a child, from its BSN (eleven-checked unless `check=False`)."""
    return _readable(_mac(secret, _child_message(bsn, check)))


def household_pseudonym(secret: bytes, household_key: str) -> str:
    """The pseudonym of a household, from a stable key such as postcode + house number."""
    return _readable(_mac(secret, _household_message(household_key)))


def school_pupil_pseudonym(secret: bytes, brin: str, pupil_key: str) -> str:
    """The pseudonym of a pupil known only by its school's key (no valid BSN)."""
    return _readable(_mac(secret, _pupil_message(brin, pupil_key)))


# ---------------------------------------------------------------------------------------------
# turning identifiers into pseudonyms, with or without the secret


class Pseudonymiser(Protocol):
    """Identifiers to pseudonyms: the backbone's secret, or answers from the pseudonym service."""

    def child(self, bsn: str) -> str: ...

    def pupil(self, brin: str, pupil_key: str) -> str: ...

    def household(self, household_key: str) -> str: ...


@dataclass(frozen=True)
class MacPseudonymiser:
    """A `Pseudonymiser` whose HMAC-SHA256 under the secret is computed elsewhere (`mac`:
    message → digest), e.g. inside an HSM that holds the secret: the same pseudonyms as
    `SecretPseudonymiser` with that secret."""

    mac: Callable[[bytes], bytes] = field(repr=False)

    def child(self, bsn: str) -> str:
        return _readable(self.mac(_child_message(bsn)))

    def pupil(self, brin: str, pupil_key: str) -> str:
        return _readable(self.mac(_pupil_message(brin, pupil_key)))

    def household(self, household_key: str) -> str:
        return _readable(self.mac(_household_message(household_key)))


class SecretPseudonymiser(MacPseudonymiser):
    """A `Pseudonymiser` holding the secret: the pseudonym service's own (and tests')."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(partial(_mac, secret))


# ---------------------------------------------------------------------------------------------
# the pseudonym service's wire protocol

PSEUDONYM_SUBJECT = "ketenbus.pseudonym"
PSEUDONYM_SERVICE = "pseudonym"  # its partner id: its X25519 key receives the identifiers
PSEUDONYM_REQUEST_TYP = "pseudonym-request+jws"
MAX_BATCH = 4000
MAX_IDENTIFIER_LENGTH = 64
# A full batch of the longest identifiers is about 0.8 MB signed (NATS max_payload: 1 MB).
MAX_REQUEST_BYTES = 1_000_000

PseudonymCode = Literal[
    "unknown-partner",
    "bad-signature",
    "stale-request",
    "invalid-request",
    "role-not-permitted",
    "rate-limited",
    "replayed-request",
    "invalid-bsn",
    "not-own-brin",
]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Text = Annotated[str, Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH)]


class ChildBsn(_Wire):
    """A child by its BSN (refused with `invalid-bsn` unless it passes the eleven-check)."""

    kind: Literal["bsn"] = "bsn"
    bsn: Text


class PupilKey(_Wire):
    """A pupil by its school's BRIN and pupil key; a school may only name its own BRIN."""

    kind: Literal["pupil"] = "pupil"
    brin: Text
    pupil_key: Text


class HouseholdKey(_Wire):
    """A household by a stable key such as postcode + house number."""

    kind: Literal["household"] = "household"
    household_key: Text


Identifier = Annotated[ChildBsn | PupilKey | HouseholdKey, Field(discriminator="kind")]


class SealedIdentifiers(_Wire):
    """The plaintext of `PseudonymRequest.identifiers` (never on the wire in clear)."""

    identifiers: list[Identifier] = Field(min_length=1, max_length=MAX_BATCH)


class PseudonymRequest(SignedRequest):
    """Give me the pseudonyms of these identifiers (sealed to the pseudonym service)."""

    op: Literal["pseudonym"] = "pseudonym"
    count: int = Field(ge=1, le=MAX_BATCH, description="How many identifiers are sealed")
    identifiers: str = Field(
        max_length=MAX_REQUEST_BYTES,
        description="JWE (ECDH-ES+A256KW/A256GCM) of SealedIdentifiers to the service's key",
    )


class PseudonymRefusal(_Wire):
    code: PseudonymCode
    reason: str


class PseudonymResult(_Wire):
    """One identifier's answer: its pseudonym, or why not."""

    pseudonym: Annotated[str, Field(pattern=PSEUDONYM_PATTERN)] | None = None
    code: PseudonymCode | None = None


class PseudonymAnswer(_Wire):
    """The service's answer: one result per identifier in request order, or a refusal."""

    ok: bool
    results: list[PseudonymResult] = Field(default_factory=list)
    refusal: PseudonymRefusal | None = None
    trace_id: str | None = None


def identifiers_of(identifiers: Sequence[ChildBsn | PupilKey | HouseholdKey]) -> dict[str, object]:
    """The JSON section `encrypt_to` seals for a `PseudonymRequest`."""
    return SealedIdentifiers(identifiers=list(identifiers)).model_dump(mode="json")

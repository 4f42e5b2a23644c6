"""Keyed pseudonyms: a child's BSN never travels, its HMAC under the backbone secret does.

The same BSN always gives the same pseudonym under one secret, so partners and services can
relate events to one child without learning who it is. Households get their own namespace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

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


def _pseudonym(secret: bytes, namespace: str, value: str) -> str:
    digest = hmac.new(secret, f"{namespace}:{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:32]


def child_pseudonym(secret: bytes, bsn: str, *, check: bool = True) -> str:
    """The pseudonym of a child, from its BSN (eleven-checked unless `check=False`)."""
    if check and not is_valid_bsn(bsn):
        raise InvalidBsnError("not a valid BSN (nine digits, eleven-check)")
    return _pseudonym(secret, "child", bsn)


def household_pseudonym(secret: bytes, household_key: str) -> str:
    """The pseudonym of a household, from a stable key such as postcode + house number."""
    return _pseudonym(secret, "household", household_key.replace(" ", "").upper())


def school_pupil_pseudonym(secret: bytes, brin: str, pupil_key: str) -> str:
    """The pseudonym of a pupil known only by its school's key (no valid BSN)."""
    return _pseudonym(secret, "pupil", f"{brin.upper()}/{pupil_key}")

"""Partner signatures on events: who said what, provable between organisations.

Every inbound envelope carries `ketenbussig`: the publishing partner's **JWS with detached
payload** (RFC 7515 appendix F, compact form ``<protected header>..<signature>``) made with its
Ed25519 key over the **RFC 8785 (JCS) canonical form** of the envelope without `ketenbussig`.

Why a detached JWS rather than a bare base64url Ed25519 signature: any JOSE library in any
language verifies it (give it the canonical bytes as the detached payload), and the protected
header names the algorithm and the key (``kid`` = ``<partner>#sig``, the partner's key id in the
registry), so keys can be rotated and the algorithm is never guessed. ``alg`` is ``Ed25519``
(fully-specified, RFC 9864); ``EdDSA`` is still accepted on verification.

The canonical form is computed here (a JCS implementation for the JSON types an envelope holds:
objects, arrays, strings, integers, finite floats, booleans and null), so this package stays
installable with pydantic, cryptography and joserfc alone. Verification works on the received
JSON (not on a re-serialised model), so a publisher in another language is verified on exactly
the bytes it meant.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import math
import warnings
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.util import urlsafe_b64decode

from ketenbus_contracts.envelope import CloudEvent, check_depth
from ketenbus_contracts.sealing import PartnerKeys

SIGNATURE_FIELD = "ketenbussig"
SIGNING_ALG = "Ed25519"
ACCEPTED_ALGS = ("Ed25519", "EdDSA")
SIGNATURE_TYP = "ketenbus-event+jws"

E = TypeVar("E", bound=CloudEvent[Any])

# ---------------------------------------------------------------------------------------------
# errors


class SignatureError(ValueError):
    """The event's signature is missing, malformed, forged or made by an unknown key."""

    code = "bad-signature"


class MissingSignatureError(SignatureError):
    """The event carries no `ketenbussig` (refused only where signatures are required)."""

    code = "missing-signature"


class ForgedSignatureError(SignatureError):
    """The signature does not verify: the event was altered, or signed by someone else."""

    code = "forged-signature"


class UnknownSignerError(SignatureError):
    """No public signing key is registered for the event's source."""

    code = "unknown-signer"


# ---------------------------------------------------------------------------------------------
# RFC 8785 canonical JSON


class CanonicalisationError(ValueError):
    """A value that has no JSON form (NaN, infinity, a non-string key, an unknown type)."""


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise CanonicalisationError("NaN and infinity have no JSON form")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    k = len(digits)
    n = exponent + len(digit_tuple)  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        power = n - 1
        text = f"{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + text


# json's own string encoder (C), what json.dumps(value, ensure_ascii=False) calls: it escapes
# exactly as ECMAScript JSON.stringify for well-formed strings: \" \\ \b \f \n \r \t, other
# controls as lowercase \u00xx, everything else literal. Called directly, not through
# json.dumps, which builds an encoder per string (the larger part of canonicalising before).
_string: Callable[[str], str] = json.encoder.encode_basestring


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def _members(value: Mapping[Any, Any]) -> list[Any]:
    """The keys in RFC 8785 order (section 3.2.3: by their UTF-16 code units)."""
    keys = list(value)
    for key in keys:
        if type(key) is not str and not isinstance(key, str):
            raise CanonicalisationError("object keys must be strings")
    # Code point order is UTF-16 order unless a key holds a character beyond the BMP (a
    # surrogate pair sorts below U+E000..U+FFFF in UTF-16): ASCII keys sort as they are.
    if all(key.isascii() for key in keys):
        keys.sort()
    else:
        keys.sort(key=_utf16)
    return keys


def _write(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is dict:
        _write_object(value, out)
    elif kind is int:
        out.append(int.__repr__(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is list:
        _write_array(value, out)
    # Subclasses (str enums, OrderedDict, ...) as their base type, as before.
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        # An int subclass (IntEnum) as its number: str() would give `Name.MEMBER`, not JSON.
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        _write_object(value, out)
    elif isinstance(value, list | tuple):
        _write_array(value, out)
    else:
        raise CanonicalisationError(f"{type(value).__name__} has no JSON form")


def _write_object(value: Mapping[Any, Any], out: list[str]) -> None:
    out.append("{")
    first = True
    for key in _members(value):
        if first:
            first = False
        else:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(value[key], out)
    out.append("}")


def _write_array(value: list[Any] | tuple[Any, ...], out: list[str]) -> None:
    out.append("[")
    first = True
    for item in value:
        if first:
            first = False
        else:
            out.append(",")
        _write(item, out)
    out.append("]")


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")


def signing_input(envelope: Mapping[str, Any]) -> bytes:
    """What is signed: the canonical form of the envelope without `ketenbussig`."""
    return canonicalize({k: v for k, v in envelope.items() if k != SIGNATURE_FIELD})


def _envelope_of(event: CloudEvent[Any]) -> dict[str, Any]:
    # Exactly what `to_bytes` puts on the wire (exclude_none), as JSON values.
    dumped: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    return dumped


# ---------------------------------------------------------------------------------------------
# signing and verifying


def signing_kid(partner: str) -> str:
    return f"{partner}#sig"


def sign_envelope(envelope: Mapping[str, Any], signing_key: OKPKey, partner: str) -> str:
    """The detached JWS (`header..signature`) over the envelope's canonical form."""
    header = {"alg": SIGNING_ALG, "kid": signing_kid(partner), "typ": SIGNATURE_TYP}
    token = jws.serialize_compact(
        header, signing_input(envelope), signing_key, algorithms=[SIGNING_ALG]
    )
    return jws.detach_content(token)


def sign_event(event: E, keys: PartnerKeys) -> E:
    """The event with `ketenbussig` set by the partner that holds `keys` (its source)."""
    if keys.partner != event.source:
        raise SignatureError(f"{keys.partner} cannot sign an event whose source is another")
    signature = sign_envelope(_envelope_of(event), keys.signing, keys.partner)
    return event.model_copy(update={SIGNATURE_FIELD: signature})


PublicKeys = Callable[[str], PartnerKeys | None] | Mapping[str, PartnerKeys]


def _public_key(public_keys: PublicKeys, partner: str) -> OKPKey:
    keys = public_keys.get(partner) if isinstance(public_keys, Mapping) else public_keys(partner)
    if keys is None:
        raise UnknownSignerError(f"no signing key is registered for {partner}")
    return keys.signing


def _header(signature: str) -> dict[str, Any]:
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise ForgedSignatureError("ketenbussig is not a JWS with detached payload")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, RecursionError):  # RecursionError: a nested header
        raise ForgedSignatureError("ketenbussig has no readable protected header") from None
    if not isinstance(header, dict):
        raise ForgedSignatureError("ketenbussig has no readable protected header")
    return header


def verify_envelope(envelope: Mapping[str, Any], public_keys: PublicKeys) -> str:
    """Check the envelope's signature against its source's key; returns the signer.

    Raises MissingSignatureError, UnknownSignerError or ForgedSignatureError.
    """
    signature = envelope.get(SIGNATURE_FIELD)
    if signature is None:
        raise MissingSignatureError("the event is not signed")
    if not isinstance(signature, str):
        raise ForgedSignatureError("ketenbussig is not a string")
    source = envelope.get("source")
    if not isinstance(source, str):
        raise ForgedSignatureError("the event names no source to verify against")
    header = _header(signature)
    if header.get("kid") != signing_kid(source):
        raise ForgedSignatureError("the event is signed with another partner's key")
    if header.get("alg") not in ACCEPTED_ALGS:
        raise ForgedSignatureError("ketenbussig uses an algorithm that is not accepted")
    key = _public_key(public_keys, source)
    payload = signing_input(envelope)
    try:
        if _verified_directly(signature, header, source, key, payload):
            return source
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "EdDSA is deprecated" (still accepted)
            jws.deserialize_compact(signature, key, payload=payload, algorithms=list(ACCEPTED_ALGS))
    except (JoseError, ValueError, InvalidSignature):
        raise ForgedSignatureError("the signature does not verify: altered or forged") from None
    return source


def _verified_directly(
    signature: str, header: Mapping[str, Any], source: str, key: OKPKey, payload: bytes
) -> bool:
    """The Ed25519 check of a signature whose header is exactly the one `sign_envelope` writes,
    without joserfc's per-call registry and header handling (about a fifth of a verification
    beside the Ed25519 verify itself); False leaves any other header to joserfc.

    What joserfc checks is checked here too: the key may sign with Ed25519 (type, `use`,
    `alg`), the protected header is strict base64url (it is what was signed), the signature
    strict base64url; the signing input is RFC 7515's `header.BASE64URL(payload)`. A signature
    that does not verify raises InvalidSignature (or binascii.Error, a ValueError)."""
    if header != {"alg": SIGNING_ALG, "kid": signing_kid(source), "typ": SIGNATURE_TYP}:
        return False
    public = key.public_key
    if key.key_type != "OKP" or not isinstance(public, Ed25519PublicKey):
        return False
    key.check_use("sig")
    key.check_alg(SIGNING_ALG)
    protected, _, encoded = signature.split(".")
    segment = protected.encode("ascii")
    urlsafe_b64decode(segment)  # strict, as joserfc reads the header it verifies
    public.verify(urlsafe_b64decode(encoded.encode("ascii")), segment + b"." + _b64url(payload))
    return True


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def verify_event(event: CloudEvent[Any], public_keys: PublicKeys) -> str:
    """Check a parsed event's signature (see `verify_envelope`); returns the signer."""
    return verify_envelope(_envelope_of(event), public_keys)


def verify_raw(raw: bytes | str, public_keys: PublicKeys) -> str:
    """Check the signature of an event as received (JSON bytes); returns the signer.

    Raises EventTooDeepError for JSON nested deeper than a contract event may be."""
    check_depth(raw)
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise ForgedSignatureError("the event is not JSON") from None
    if not isinstance(envelope, dict):
        raise ForgedSignatureError("the event is not a JSON object")
    return verify_envelope(envelope, public_keys)

"""Purpose sealing: fields about a child travel only as JWE sections, one per purpose.

A contract declares for each field that tells something about a child the purpose it is
processed for: ``Annotated[str, SealedUnder(Purpose.SIGNALLING)]``. The JSON schema (and so the
AsyncAPI document) shows it as ``"x-purpose": "signalling"``. The fields of one purpose are
sealed together into ``data.sealed[purpose]``: a JWE compact serialisation with

- ``alg`` ``dir`` and ``enc`` ``A256GCM`` under the data key of (child, purpose);
- ``kid`` ``<pseudonym>/<purpose>/<scope>/<version>`` naming that data key in kluis: one key per
  (child, purpose, scope), the scope being the writing partner (signalling, attendance,
  identity), the record (a handover id, ``arrangement/<id>``, ``youth-care/<id>``) or ``child``
  (the plan), as `infra/relations.yaml` says per purpose. A scope may itself contain ``/``: the
  pseudonym and purpose are the first two parts, the version the last, the scope all between.
  A kid of three parts (``<pseudonym>/<purpose>/<version>``, before scopes) has the empty scope;
- ``eid``, the id of the event that carries the section, in the protected header: the header is
  the additional authenticated data, so a section copied into another event does not open;
- ``kcv``, a key check value (HMAC-SHA256 of a fixed label under the data key, 8 bytes), so a
  wrong key is told apart from a tampered section.

Any JOSE library opens a section with the right key; ``eid`` and ``kcv`` are plain (not
``crit``) header members, which a library that does not know them ignores.

The second half of this module is the wire protocol of kluis, the key service (request/reply
over NATS), so a partner holding only this package can ask for keys: requests are JWS compact
serialisations signed with the partner's Ed25519 key; a released data key comes back as a JWE
(``ECDH-ES+A256KW``/``A256GCM``) to the partner's registered X25519 key. A ``KluisBatchRequest``
(``ketenbus.kluis.batch``) carries up to ``MAX_BATCH_ITEMS`` key and seal requests at once, each
decided on its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, get_args

from joserfc import jwe, jws
from joserfc.errors import DecodeError, JoseError
from joserfc.jwk import OctKey, OKPKey
from joserfc.registry import HeaderParameter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN, PSEUDONYM_PATTERN, CloudEvent
from ketenbus_contracts.purposes import Purpose

SECTION_ALG = "dir"
SECTION_ENC = "A256GCM"
DATA_KEY_BYTES = 32
KCV_LABEL = b"ketenbus key check value"
KCV_BYTES = 8

# ---------------------------------------------------------------------------------------------
# errors


class SealingError(Exception):
    """A section could not be sealed or opened."""


class MalformedSectionError(SealingError):
    """Not a JWE compact serialisation of a ketenbus section (dir/A256GCM with kid and eid)."""


class WrongKeyError(SealingError):
    """The key given is not the data key the section was sealed with."""


class TamperedSectionError(SealingError):
    """The section (header, IV, ciphertext or tag) was changed after sealing."""


class MovedSectionError(SealingError):
    """The section was sealed for another event than the one it is opened in."""


class UnsealedFieldError(SealingError):
    """A field was expected under a purpose the model does not declare."""


# ---------------------------------------------------------------------------------------------
# declaring purposes on fields


@dataclass(frozen=True)
class SealedUnder:
    """Field metadata: this field is sealed under `purpose` (shows as `x-purpose` in the schema).

    Use as ``concern: Annotated[str, SealedUnder(Purpose.SIGNALLING)]``.
    """

    purpose: Purpose

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["x-purpose"] = self.purpose.value
        return schema


def purpose_of_field(model: type[BaseModel], name: str) -> Purpose | None:
    """The purpose a field of `model` is sealed under (None: travels in clear)."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, SealedUnder):
            return meta.purpose
    return None


def fields_by_purpose(model: type[BaseModel]) -> dict[Purpose, tuple[str, ...]]:
    """The names of `model`'s sealed fields, grouped by purpose, in declaration order."""
    grouped: dict[Purpose, list[str]] = {}
    for name in model.model_fields:
        purpose = purpose_of_field(model, name)
        if purpose is not None:
            grouped.setdefault(purpose, []).append(name)
    return {purpose: tuple(names) for purpose, names in grouped.items()}


# ---------------------------------------------------------------------------------------------
# key ids and data keys


SCOPE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
LEGACY_SCOPE = ""  # a kid from before scopes: one key per (child, purpose)


@dataclass(frozen=True)
class KeyId:
    """`<pseudonym>/<purpose>/<scope>/<version>`: which data key of kluis sealed a section."""

    pseudonym: str
    purpose: Purpose
    scope: str
    version: int

    def __str__(self) -> str:
        if self.scope == LEGACY_SCOPE:
            return f"{self.pseudonym}/{self.purpose.value}/{self.version}"
        return f"{self.pseudonym}/{self.purpose.value}/{self.scope}/{self.version}"

    @classmethod
    def parse(cls, kid: str) -> KeyId:
        parts = kid.split("/")
        try:
            if len(parts) < 3:
                raise ValueError(kid)
            scope = "/".join(parts[2:-1])
            parsed = cls(parts[0], Purpose(parts[1]), scope, int(parts[-1]))
        except ValueError:
            raise MalformedSectionError(
                f"kid {kid!r} is not <pseudonym>/<purpose>/<scope>/<version>"
            ) from None
        if parsed.version < 1:
            raise MalformedSectionError(f"kid {kid!r} has no positive version")
        if scope != LEGACY_SCOPE and not valid_scope(scope):
            raise MalformedSectionError(f"kid {kid!r} names no valid scope")
        return parsed


def valid_scope(scope: str) -> bool:
    """A scope names a partner, a record or `child`; no empty parts, no `..`."""
    return (
        SCOPE_PATTERN.fullmatch(scope) is not None
        and "//" not in scope
        and not scope.endswith("/")
        and ".." not in scope
    )


def make_kid(pseudonym: str, purpose: Purpose, scope: str, version: int) -> str:
    return str(KeyId(pseudonym, purpose, scope, version))


@dataclass(frozen=True)
class DataKey:
    """A data key of (child, purpose, scope, version) as released by kluis. Never logged."""

    kid: str
    key: bytes = field(repr=False)

    @property
    def key_id(self) -> KeyId:
        return KeyId.parse(self.kid)


def key_check_value(key: bytes) -> str:
    """8 bytes of HMAC-SHA256(key, label), base64url: tells a wrong key from tampering."""
    digest = hmac.new(key, KCV_LABEL, hashlib.sha256).digest()[:KCV_BYTES]
    return _b64url(digest)


# ---------------------------------------------------------------------------------------------
# sealing and opening one section

_SECTION_REGISTRY = jwe.JWERegistry(
    header_registry={
        "eid": HeaderParameter("Id of the event that carries the section", "str", True),
        "kcv": HeaderParameter("Key check value of the data key", "str", True),
    },
    algorithms=[SECTION_ALG, SECTION_ENC],
)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _oct_key(key: bytes) -> OctKey:
    if len(key) != DATA_KEY_BYTES:
        raise WrongKeyError(f"a data key has {DATA_KEY_BYTES} bytes, this one {len(key)}")
    return OctKey.import_key(key)


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a section, read without opening it."""
    parts = token.split(".")
    if len(parts) != 5:
        raise MalformedSectionError("a JWE compact serialisation has five parts")
    return _protected_header(parts[0])


def _protected_header(part: str) -> dict[str, Any]:
    try:
        header = json.loads(_b64url_decode(part))
    except (ValueError, binascii.Error):
        raise MalformedSectionError("the protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise MalformedSectionError("the protected header is not a JSON object")
    return header


def kid_of(token: str) -> str:
    """The key id (`<pseudonym>/<purpose>/<scope>/<version>`) a section was sealed under."""
    kid = header_of(token).get("kid")
    if not isinstance(kid, str):
        raise MalformedSectionError("the section names no kid")
    KeyId.parse(kid)
    return kid


def bound_header(
    *, key: bytes, kid: str, event_id: uuid.UUID, cty: str = "application/json"
) -> dict[str, str]:
    """The protected header of what is sealed under a data key for one event (a section, an
    attachment): the key id, the event it is bound to (`eid`) and the key's check value."""
    KeyId.parse(kid)
    return {
        "alg": SECTION_ALG,
        "enc": SECTION_ENC,
        "kid": kid,
        "eid": str(event_id),
        "kcv": key_check_value(key),
        "cty": cty,
    }


def check_bound(token: str, *, key: bytes, event_id: uuid.UUID) -> str:
    """The kid of a sealed section or attachment, once its header says it is bound to
    `event_id` (else MovedSectionError) and sealed with `key` (else WrongKeyError)."""
    header = header_of(token)
    kid = kid_of(token)
    if header.get("eid") != str(event_id):
        raise MovedSectionError(f"section {kid} was sealed for another event than {event_id}")
    if header.get("kcv") != key_check_value(key):
        raise WrongKeyError(f"the key given is not the data key {kid}")
    return kid


def seal(section: Mapping[str, Any], *, key: bytes, kid: str, event_id: uuid.UUID) -> str:
    """Seal a JSON-able mapping as a JWE compact serialisation bound to `event_id`."""
    header = bound_header(key=key, kid=kid, event_id=event_id)
    plaintext = json.dumps(section, separators=(",", ":"), ensure_ascii=False).encode()
    return jwe.encrypt_compact(header, plaintext, _oct_key(key), registry=_SECTION_REGISTRY)


def open_section(token: str, *, key: bytes, event_id: uuid.UUID) -> dict[str, Any]:
    """Open a section sealed by `seal` in the event `event_id`.

    Raises MalformedSectionError, MovedSectionError (sealed for another event), WrongKeyError
    (not the key it was sealed with) or TamperedSectionError (changed after sealing).
    """
    header = header_of(token)
    if header.get("alg") != SECTION_ALG or header.get("enc") != SECTION_ENC:
        raise MalformedSectionError(f"a section is sealed with {SECTION_ALG}/{SECTION_ENC}")
    kid = check_bound(token, key=key, event_id=event_id)
    try:
        plaintext = jwe.decrypt_compact(token, _oct_key(key), registry=_SECTION_REGISTRY).plaintext
    except DecodeError:
        raise TamperedSectionError(f"section {kid} was changed after sealing") from None
    except JoseError as exc:
        raise MalformedSectionError(f"section {kid}: {exc.error}") from None
    if plaintext is None:
        raise MalformedSectionError(f"section {kid} has no content")
    opened = json.loads(plaintext)
    if not isinstance(opened, dict):
        raise MalformedSectionError(f"section {kid} is not a JSON object")
    return opened


# ---------------------------------------------------------------------------------------------
# sealing the purpose-annotated fields of a model

ModelT = TypeVar("ModelT", bound=BaseModel)
KeyForPurpose = Callable[[Purpose], DataKey]
KeyForKid = Callable[[str], bytes]


def sections_of(model: BaseModel) -> dict[Purpose, dict[str, Any]]:
    """The JSON values of `model`'s sealed fields, grouped by purpose (None values left out)."""
    values = model.model_dump(mode="json")
    return {
        purpose: {name: values[name] for name in names if values[name] is not None}
        for purpose, names in fields_by_purpose(type(model)).items()
    }


def seal_sections(
    sections: Mapping[Purpose, Mapping[str, Any]],
    *,
    event_id: uuid.UUID,
    key_for: KeyForPurpose,
) -> dict[Purpose, str]:
    """Seal each purpose's section with `key_for(purpose)`; empty sections are left out."""
    sealed: dict[Purpose, str] = {}
    for purpose, section in sections.items():
        if not section:
            continue
        data_key = key_for(purpose)
        if data_key.key_id.purpose is not purpose:
            raise WrongKeyError(f"key {data_key.kid} is not a {purpose.value} key")
        sealed[purpose] = seal(section, key=data_key.key, kid=data_key.kid, event_id=event_id)
    return sealed


def seal_fields(
    model: BaseModel, *, event_id: uuid.UUID, key_for: KeyForPurpose
) -> dict[Purpose, str]:
    """`data.sealed` for an instance of a model whose fields declare `SealedUnder` purposes."""
    return seal_sections(sections_of(model), event_id=event_id, key_for=key_for)


def open_sections(
    sealed: Mapping[Purpose, str], *, event_id: uuid.UUID, key_for: KeyForKid
) -> dict[Purpose, dict[str, Any]]:
    """Open every section of `data.sealed`, asking `key_for(kid)` for each data key."""
    opened: dict[Purpose, dict[str, Any]] = {}
    for purpose, token in sealed.items():
        kid = kid_of(token)
        if KeyId.parse(kid).purpose is not Purpose(purpose):
            raise MovedSectionError(f"section {kid} sits under purpose {purpose}")
        opened[Purpose(purpose)] = open_section(token, key=key_for(kid), event_id=event_id)
    return opened


def open_fields(
    model: type[ModelT],
    sealed: Mapping[Purpose, str],
    *,
    event_id: uuid.UUID,
    key_for: KeyForKid,
    clear: Mapping[str, Any] | None = None,
) -> ModelT:
    """Open `data.sealed` back into an instance of `model` (plus its `clear` fields, if any)."""
    declared = fields_by_purpose(model)
    values: dict[str, Any] = dict(clear or {})
    for purpose, section in open_sections(sealed, event_id=event_id, key_for=key_for).items():
        allowed = set(declared.get(purpose, ()))
        unexpected = set(section) - allowed
        if unexpected:
            raise UnsealedFieldError(
                f"{model.__name__} declares no {purpose.value} field named {sorted(unexpected)}"
            )
        values.update(section)
    return model.model_validate(values)


# ---------------------------------------------------------------------------------------------
# admitting sealed sections without opening them

# Why the backbone refuses an event's section at admission, without opening it (the reason code
# of the dead letter and of the publisher's receipt).
SectionRefusalCode = Literal[
    "purpose-not-allowed",
    "malformed-section",
    "wrong-section-algorithm",
    "section-of-another-purpose",
    "section-of-another-child",
    "section-of-another-event",
]
SECTION_REFUSALS: tuple[SectionRefusalCode, ...] = get_args(SectionRefusalCode)
# A JWE compact serialisation's part: base64url without padding.
_B64URL_PART = re.compile(r"[A-Za-z0-9_-]*")
_KCV = re.compile(rf"[A-Za-z0-9_-]{{{(KCV_BYTES * 8 + 5) // 6}}}")
# A256GCM's 96-bit IV and 128-bit tag, as base64url characters.
GCM_IV_CHARS = 16
GCM_TAG_CHARS = 22
# A section's protected header is about 300 base64url characters (a kid with a long scope).
MAX_SECTION_HEADER_CHARS = 2048


class SectionRefusedError(SealingError):
    """A section of an event is not one the backbone admits (`code`: why; `purpose`: which)."""

    def __init__(
        self, code: SectionRefusalCode, purpose: str, reason: str, loc: str | None = None
    ) -> None:
        self.loc = loc or f"data.sealed.{purpose}"
        super().__init__(f"{self.loc}: {reason}")
        self.code: SectionRefusalCode = code
        self.purpose = purpose


@functools.cache
def allowed_purposes(event_class: type[CloudEvent[Any]]) -> frozenset[Purpose]:
    """The purposes an event type may carry a section of: those of the `SealedUnder` fields of
    its `sealed_models` (the AsyncAPI document lists them under its `data.sealed`)."""
    return frozenset(p for model in event_class.sealed_models for p in fields_by_purpose(model))


def check_section(
    token: str, *, purpose: Purpose, event_id: uuid.UUID, subject: str, loc: str | None = None
) -> None:
    """Check one section of an event without opening it: a JWE compact serialisation under
    `dir`/`A256GCM` (no encrypted key, a 96-bit IV, a 128-bit tag), whose protected header has
    a `kcv`, a `kid` naming this event's child (`subject`) and this purpose, and `eid` this
    event's id. Raises SectionRefusedError at `loc` (by default `data.sealed.<purpose>`; what
    only the data key tells, a section sealed under a wrong key or tampered with, is found when
    it is opened)."""

    def refused(code: SectionRefusalCode, reason: str) -> SectionRefusedError:
        return SectionRefusedError(code, purpose.value, reason, loc)

    parts = token.split(".")
    # The ciphertext's characters are left to whoever opens it (as its content is: a fake one
    # cannot be told without the key), so a large section costs no more than a small one.
    if len(parts) != 5 or not all(_B64URL_PART.fullmatch(parts[n]) for n in (0, 1, 2, 4)):
        raise refused("malformed-section", "not a JWE compact serialisation (five base64url parts)")
    if len(parts[0]) > MAX_SECTION_HEADER_CHARS:
        raise refused("malformed-section", "the protected header is longer than a section's")
    try:
        header = _protected_header(parts[0])
    except (MalformedSectionError, RecursionError):
        raise refused("malformed-section", "the protected header is not a JSON object") from None
    if header.get("alg") != SECTION_ALG or header.get("enc") != SECTION_ENC:
        raise refused("wrong-section-algorithm", f"a section is sealed {SECTION_ALG}/{SECTION_ENC}")
    _, encrypted_key, iv, ciphertext, tag = parts
    if encrypted_key or len(iv) != GCM_IV_CHARS or not ciphertext or len(tag) != GCM_TAG_CHARS:
        raise refused("malformed-section", "not a dir/A256GCM JWE (key, IV, ciphertext or tag)")
    kcv, kid, eid = header.get("kcv"), header.get("kid"), header.get("eid")
    if not isinstance(kcv, str) or not _KCV.fullmatch(kcv):
        raise refused("malformed-section", "the protected header has no key check value (kcv)")
    if not isinstance(kid, str) or not isinstance(eid, str):
        raise refused("malformed-section", "the protected header names no kid or no eid")
    try:
        key_id = KeyId.parse(kid)
    except MalformedSectionError:
        raise refused(
            "malformed-section", "the kid is not <pseudonym>/<purpose>/<scope>/<version>"
        ) from None
    if key_id.purpose is not purpose:
        raise refused("section-of-another-purpose", "the kid names another purpose")
    if key_id.pseudonym != subject:
        raise refused("section-of-another-child", "the kid names another child than the subject")
    if eid != str(event_id):
        raise refused("section-of-another-event", "sealed for another event (eid is not the id)")


def check_sealed(event: CloudEvent[Any]) -> None:
    """Check every section of `event.data.sealed` without opening it: a purpose its type allows
    (`allowed_purposes`), each section as `check_section` says; and so each section the event
    carries elsewhere bound to itself (`sealed_elsewhere`: a dossier's). Raises
    SectionRefusedError."""
    for loc, purpose, token in event.sealed_elsewhere():
        check_section(token, purpose=purpose, event_id=event.id, subject=event.subject, loc=loc)
    sealed: Mapping[Purpose, str] = getattr(event.data, "sealed", None) or {}
    if not sealed:
        return
    allowed = allowed_purposes(type(event))
    for purpose, token in sealed.items():
        if purpose not in allowed:
            raise SectionRefusedError(
                "purpose-not-allowed",
                purpose.value,
                f"{event.type} carries no {purpose.value} section",
            )
        check_section(token, purpose=purpose, event_id=event.id, subject=event.subject)


# ---------------------------------------------------------------------------------------------
# partner keys: Ed25519 to sign requests, X25519 to receive data keys


@dataclass(frozen=True)
class PartnerKeys:
    """A partner's two key pairs (private parts only where the partner itself holds them).

    `older`: key pairs it used before a rotation, kept until retired, so that what was signed
    or sealed to them still verifies and opens. In a JWK Set the first Ed25519 and the first
    X25519 key are the current ones, the rest older.
    """

    partner: str
    signing: OKPKey
    encryption: OKPKey
    older: tuple[OKPKey, ...] = ()

    @classmethod
    def generate(cls, partner: str, generation: int = 1) -> PartnerKeys:
        """A fresh pair; a rotated one's kids name its generation (`kluis#sig-2`)."""
        suffix = "" if generation == 1 else f"-{generation}"
        return cls(
            partner,
            OKPKey.generate_key(
                "Ed25519", parameters={"kid": f"{partner}#sig{suffix}", "use": "sig"}
            ),
            OKPKey.generate_key(
                "X25519", parameters={"kid": f"{partner}#enc{suffix}", "use": "enc"}
            ),
        )

    def to_jwks(self, *, private: bool) -> dict[str, Any]:
        """A JWK Set with every key, the current ones first (public parts only unless
        `private`)."""
        keys = (self.signing, self.encryption, *self.older)
        return {"keys": [key.as_dict(private=private) for key in keys]}

    @classmethod
    def from_jwks(cls, partner: str, jwks: Mapping[str, Any]) -> PartnerKeys:
        current: dict[str, OKPKey] = {}
        older: list[OKPKey] = []
        for entry in jwks.get("keys", []):
            curve = entry.get("crv")
            if curve not in ("Ed25519", "X25519"):
                continue
            key = OKPKey.import_key(dict(entry))
            if curve in current:
                older.append(key)
            else:
                current[curve] = key
        try:
            return cls(partner, current["Ed25519"], current["X25519"], tuple(older))
        except KeyError as exc:
            raise SealingError(f"keys of {partner} lack a {exc.args[0]} key") from None

    def public(self) -> PartnerKeys:
        return PartnerKeys.from_jwks(self.partner, self.to_jwks(private=False))

    @property
    def generation(self) -> int:
        """The current pair's generation (1 before any rotation)."""
        _, _, suffix = str(self.signing.kid or "").partition("#sig-")
        return int(suffix) if suffix.isdigit() else 1

    def rotated(self) -> PartnerKeys:
        """A new current pair of the next generation, this one (and the older) kept."""
        fresh = PartnerKeys.generate(self.partner, self.generation + 1)
        return PartnerKeys(
            self.partner,
            fresh.signing,
            fresh.encryption,
            (self.signing, self.encryption, *self.older),
        )

    def retired(self) -> PartnerKeys:
        """The current pair alone: what was signed or sealed to the older no longer counts."""
        return PartnerKeys(self.partner, self.signing, self.encryption)

    def verification_keys(self) -> dict[str, OKPKey]:
        """Every Ed25519 key, current first, by kid."""
        keys = (self.signing, *self.older)
        return {str(k.kid): k for k in keys if k.as_dict().get("crv") == "Ed25519"}

    def decryption_keys(self) -> tuple[OKPKey, ...]:
        """Every X25519 key, current first: what was sealed to any of them opens."""
        keys = (self.encryption, *self.older)
        return tuple(k for k in keys if k.as_dict().get("crv") == "X25519")


# ---------------------------------------------------------------------------------------------
# kluis wire protocol

KLUIS_KEY_SUBJECT = "ketenbus.kluis.key"
KLUIS_SEAL_SUBJECT = "ketenbus.kluis.seal"
KLUIS_RESEAL_SUBJECT = "ketenbus.kluis.reseal"
KLUIS_BATCH_SUBJECT = "ketenbus.kluis.batch"
# A batch: at most this many items, and this many bytes signed (NATS max_payload is 1 MB). A
# larger one is refused whole (`batch-too-large`): the client splits (the keyring's `batches_of`).
MAX_BATCH_ITEMS = 500
MAX_BATCH_BYTES = 900_000
REQUEST_SIGNING_ALGS = ("Ed25519", "EdDSA")
DELIVERY_ALG = "ECDH-ES+A256KW"
DELIVERY_ENC = "A256GCM"
MAX_REQUEST_SKEW_SECONDS = 120

_DELIVERY_ALGS = [DELIVERY_ALG, DELIVERY_ENC]


RefusalCode = Literal[
    "unknown-partner",
    "bad-signature",
    "stale-request",
    "invalid-request",
    "role-not-permitted",
    "no-relation",
    "relation-ended",
    "scope-not-permitted",
    "child-erased",
    "unknown-key",
    "unopenable-section",
    "key-unavailable",
    "replayed-request",
    "batch-too-large",
]


class KluisProtocolError(SealingError):
    """A kluis request or answer is malformed, unsigned, stale or not for us."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RefusalCode = code
        self.reason = reason


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PartnerField = Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
PseudonymField = Annotated[str, Field(pattern=PSEUDONYM_PATTERN)]
ScopeField = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$",
        description="The key's scope: the writing partner, the record, or `child`",
    ),
]


NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
# Claims a sender must put in every signed request itself: a request without them is refused
# (`invalid-request`), not completed with defaults the way a sender's own model completes them.
SENDER_CLAIMS = ("issued_at", "nonce")


class SignedRequest(_Wire):
    """What every signed request to a backbone service carries: who asks, when (`issued_at`,
    within `MAX_REQUEST_SKEW_SECONDS` either way), once (`nonce`: a service answers a signed
    request once; the same nonce again within the window is `replayed-request`), in which
    trace."""

    partner: PartnerField
    traceparent: str | None = None
    issued_at: int = Field(
        default_factory=lambda: int(time.time()),
        description="Unix seconds; refused as `stale-request` beyond 120 s either way",
    )
    nonce: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        pattern=NONCE_PATTERN,
        description="Unique per request: a service answers a signed request once "
        "(`replayed-request` within the freshness window)",
    )


class KluisRequestBase(SignedRequest):
    child: PseudonymField
    purpose: Purpose
    scope: ScopeField


class KeyRequest(KluisRequestBase):
    """Give me the data key of (child, purpose, scope): `version` to open, None to seal."""

    op: Literal["key"] = "key"
    version: int | None = Field(default=None, ge=1)


class SealRequest(KluisRequestBase):
    """Seal this section for me (I may write this purpose but hold no relation to open it).

    `section` is the JSON section as a JWE (ECDH-ES+A256KW) to kluis's X25519 key.
    """

    op: Literal["seal"] = "seal"
    event_id: uuid.UUID
    section: str


class ResealRequest(KluisRequestBase):
    """Re-bind a section to another event (a service relaying a section it cannot open); the
    section keeps its scope, which `scope` must name."""

    op: Literal["reseal"] = "reseal"
    token: str
    from_event_id: uuid.UUID
    to_event_id: uuid.UUID


class BatchKey(_Wire):
    """In a batch: give me the data key of (child, purpose, scope), as a `KeyRequest`."""

    op: Literal["key"] = "key"
    child: PseudonymField
    purpose: Purpose
    scope: ScopeField
    version: int | None = Field(default=None, ge=1)


class BatchSeal(_Wire):
    """In a batch: seal the section at this item's place in `sections`, as a `SealRequest`."""

    op: Literal["seal"] = "seal"
    child: PseudonymField
    purpose: Purpose
    scope: ScopeField
    event_id: uuid.UUID


BatchItem = Annotated[BatchKey | BatchSeal, Field(discriminator="op")]


class KluisBatchRequest(SignedRequest):
    """Many key and seal requests in one signed request (an import of a whole school).

    Each item is decided on its own, as its single request would be, with a processing record
    of its own: one refused item refuses only itself. `sections` is one JWE (ECDH-ES+A256KW) to
    kluis's X25519 key of `{"sections": [...]}`, one entry per item (the section of a seal item,
    null for a key item). A signed batch is answered once: its `nonce` seen again within the
    freshness window is `replayed-request`.
    """

    op: Literal["batch"] = "batch"
    items: list[BatchItem] = Field(
        min_length=1,
        description=f"At most {MAX_BATCH_ITEMS} (more: `batch-too-large`)",
    )
    sections: str | None = Field(
        default=None, description="JWE to kluis's key of the seal items' sections, in order"
    )


class BatchSections(_Wire):
    """The plaintext of `KluisBatchRequest.sections` (never on the wire in clear)."""

    sections: list[dict[str, Any] | None]


KluisRequest = Annotated[KeyRequest | SealRequest | ResealRequest, Field(discriminator="op")]
_REQUESTS: TypeAdapter[KeyRequest | SealRequest | ResealRequest] = TypeAdapter(KluisRequest)


class Refusal(_Wire):
    code: RefusalCode
    reason: str


class KluisAnswer(_Wire):
    """kluis's answer: a key sealed to the requester, a sealed section, or a refusal."""

    ok: bool
    kid: str | None = None
    key: str | None = Field(default=None, description="JWE of the data key to the requester")
    token: str | None = Field(default=None, description="A section sealed by kluis")
    refusal: Refusal | None = None
    trace_id: str | None = None


class KluisBatchAnswer(_Wire):
    """kluis's answer to a batch: one `KluisAnswer` per item, in order, or a refusal of the
    whole batch (not signed, stale, replayed, too large, sections that do not open)."""

    ok: bool
    results: list[KluisAnswer] = Field(default_factory=list)
    refusal: Refusal | None = None
    trace_id: str | None = None


KLUIS_REQUEST_TYP = "kluis-request+jws"


def sign_request(
    request: SignedRequest, signing_key: OKPKey, *, typ: str = KLUIS_REQUEST_TYP
) -> bytes:
    """The request as a JWS compact serialisation signed with the partner's Ed25519 key."""
    header = {"alg": REQUEST_SIGNING_ALGS[0], "kid": request.partner, "typ": typ}
    payload = request.model_dump_json(exclude_none=True)
    return jws.serialize_compact(
        header, payload, signing_key, algorithms=[REQUEST_SIGNING_ALGS[0]]
    ).encode("ascii")


RequestT = TypeVar("RequestT", bound=SignedRequest)


def verify_signed(
    raw: bytes,
    public_key_for: Callable[[str], OKPKey | None],
    requests: TypeAdapter[RequestT],
    *,
    typ: str | None,
    now: float | None = None,
    max_payload_length: int | None = None,
    first_time: Callable[[str, str, float], bool] | None = None,
) -> RequestT:
    """Check a signed request of any backbone service: known partner, good signature, fresh,
    well-formed (as `requests` validates it, with the sender's own `issued_at` and `nonce`),
    of its service's `typ` (a token made for another service is refused, not read as this
    one's; None only where the caller checks the header itself), not seen before
    (`first_time(partner, nonce, now)`, the service's replay guard, when given);
    `max_payload_length` raises joserfc's default limit (128 kB) for a service that takes
    batches.

    Raises KluisProtocolError with `.code` set to the refusal code.
    """
    try:
        token = raw.decode("ascii")
        head = json.loads(_b64url_decode(token.split(".")[0]))
        partner = head["kid"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error):
        raise _protocol("invalid-request", "not a JWS compact serialisation") from None
    public = public_key_for(partner) if isinstance(partner, str) else None
    if public is None:
        raise _protocol("unknown-partner", "the signing partner is not registered")
    registry = jws.JWSRegistry(algorithms=list(REQUEST_SIGNING_ALGS))
    if max_payload_length is not None:
        registry.max_payload_length = max_payload_length
    try:
        verified = jws.deserialize_compact(token, public, registry=registry)
    except JoseError:
        raise _protocol("bad-signature", "the signature does not verify") from None
    if typ is not None and verified.headers().get("typ") != typ:
        raise _protocol("invalid-request", f"the request is not a {typ}")
    try:
        claims = json.loads(verified.payload)
        request = requests.validate_python(claims)
    except (ValueError, RecursionError):  # ValidationError is a ValueError
        raise _protocol("invalid-request", "the request does not match the protocol") from None
    missing = [name for name in SENDER_CLAIMS if name not in claims]
    if missing:
        raise _protocol("invalid-request", f"the request has no {' and no '.join(missing)}")
    if request.partner != partner:
        raise _protocol("bad-signature", "the request is signed by another partner")
    current = time.time() if now is None else now
    if abs(current - request.issued_at) > MAX_REQUEST_SKEW_SECONDS:
        raise _protocol("stale-request", "the request was issued too long ago or ahead")
    if first_time is not None and not first_time(request.partner, request.nonce, current):
        raise _protocol("replayed-request", "this signed request was answered before")
    return request


def verify_request(
    raw: bytes,
    public_key_for: Callable[[str], OKPKey | None],
    *,
    now: float | None = None,
    first_time: Callable[[str, str, float], bool] | None = None,
) -> KeyRequest | SealRequest | ResealRequest:
    """Check a signed kluis request (see `verify_signed`)."""
    return verify_signed(
        raw, public_key_for, _REQUESTS, typ=KLUIS_REQUEST_TYP, now=now, first_time=first_time
    )


_BATCH: TypeAdapter[KluisBatchRequest] = TypeAdapter(KluisBatchRequest)


def verify_batch_request(
    raw: bytes,
    public_key_for: Callable[[str], OKPKey | None],
    *,
    now: float | None = None,
) -> KluisBatchRequest:
    """Check a signed kluis batch (see `verify_signed`); `batch-too-large` beyond the limits."""
    if len(raw) > MAX_BATCH_BYTES:
        raise _protocol("batch-too-large", f"a batch is at most {MAX_BATCH_BYTES} bytes signed")
    request = verify_signed(
        raw,
        public_key_for,
        _BATCH,
        typ=KLUIS_REQUEST_TYP,
        now=now,
        max_payload_length=MAX_BATCH_BYTES,
    )
    if len(request.items) > MAX_BATCH_ITEMS:
        raise _protocol("batch-too-large", f"a batch holds at most {MAX_BATCH_ITEMS} items")
    return request


def _protocol(code: RefusalCode, reason: str) -> KluisProtocolError:
    return KluisProtocolError(code, reason)


def deliver_key(data_key: DataKey, recipient: OKPKey) -> str:
    """The data key as a JWE to the recipient's X25519 key (kid of the data key in the header)."""
    header = {"alg": DELIVERY_ALG, "enc": DELIVERY_ENC, "kid": data_key.kid}
    return jwe.encrypt_compact(header, data_key.key, recipient, algorithms=_DELIVERY_ALGS)


def receive_key(token: str, private: OKPKey) -> DataKey:
    """Open a key delivered by `deliver_key` with the recipient's own X25519 private key."""
    try:
        opened = jwe.decrypt_compact(token, private, algorithms=_DELIVERY_ALGS)
    except JoseError:
        raise KluisProtocolError(
            "invalid-request", "the delivered key does not open with our key"
        ) from None
    kid = opened.protected.get("kid")
    if not isinstance(kid, str) or opened.plaintext is None:
        raise KluisProtocolError("invalid-request", "the delivered key names no kid")
    KeyId.parse(kid)
    return DataKey(kid, opened.plaintext)


def encrypt_to(section: Mapping[str, Any], recipient: OKPKey) -> str:
    """A section as a JWE to kluis's X25519 key, for a `SealRequest`."""
    plaintext = json.dumps(section, separators=(",", ":"), ensure_ascii=False).encode()
    header = {"alg": DELIVERY_ALG, "enc": DELIVERY_ENC, "cty": "application/json"}
    return jwe.encrypt_compact(header, plaintext, recipient, algorithms=_DELIVERY_ALGS)


def decrypt_from(
    token: str, private: OKPKey | Sequence[OKPKey], *, max_length: int | None = None
) -> dict[str, Any]:
    """Open a section encrypted with `encrypt_to` (kluis side; `max_length` raises joserfc's
    default ciphertext limit of 64 kB for a service that takes batches). `private`: one key, or
    the current and the older ones of a rotation (`PartnerKeys.decryption_keys`), tried in turn."""
    registry = jwe.JWERegistry(algorithms=_DELIVERY_ALGS)
    if max_length is not None:
        registry.max_ciphertext_length = max_length
    plaintext: bytes | None = None
    for key in [private] if isinstance(private, OKPKey) else private:
        try:
            plaintext = jwe.decrypt_compact(token, key, registry=registry).plaintext
            break
        except JoseError:
            continue
    else:
        raise KluisProtocolError("invalid-request", "the section is not encrypted to kluis")
    opened = json.loads(plaintext or b"null")
    if not isinstance(opened, dict):
        raise KluisProtocolError("invalid-request", "the section is not a JSON object")
    return opened

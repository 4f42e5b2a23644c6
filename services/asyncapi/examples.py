"""An example on every message of the AsyncAPI document, made from its schemas.

Values are deterministic (the document is drift-checked): ids are derived from where they sit,
times fixed. The examples are real where that can be reproduced by a reader:

- an event is signed (`ketenbussig`) with the example Ed25519 key of its source, whose seed is
  the SHA-256 of `EXAMPLE_SEED_LABEL + <partner>` (Ed25519 signatures are deterministic);
- its sections are sealed under the example data key (SHA-256 of `EXAMPLE_DATA_KEY_LABEL`)
  with an IV derived from the event id and purpose (never do that outside an example: an IV
  is random), so they open with any JOSE library and hold an example of their section schema;
- a request is signed with the example key of its partner.

JWEs to a recipient's X25519 key (ECDH-ES) are randomised and so shown as placeholders.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jws
from joserfc.jwk import OKPKey

from ketenbus_contracts.feed import FEED_SIGNATURE_HEADER, FEED_SIGNATURE_TYP, FEED_SIGNER
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import SECTION_ALG, SECTION_ENC, key_check_value, make_kid
from ketenbus_contracts.signing import SIGNATURE_FIELD, SIGNING_ALG, sign_envelope, signing_kid
from services.asyncapi.events import SCHEMAS, event_schema_of

EXAMPLE_SEED_LABEL = "ketenbus asyncapi example signing key "
EXAMPLE_DATA_KEY_LABEL = "ketenbus asyncapi example data key"
EXAMPLE_PARTNER = "bs-de-regenboog"
EXAMPLE_PSEUDONYM = "k7zq3x2m4n5p6r7s2t3v4w5x6y7z2a3b"
EXAMPLE_TIME = "2026-09-14T09:30:00Z"
EXAMPLE_DATE = "2026-09-14"
EXAMPLE_ISSUED_AT = 1789378200  # EXAMPLE_TIME as Unix seconds
_NAMESPACE = uuid.UUID("6f1c1a52-5b8e-4c1e-9d0a-6b2f3c4d5e6f")

# Strings that stand for a JWE to a recipient's X25519 key (randomised: not reproducible).
_PLACEHOLDER_JWE = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAA.AAAA.AAAA"
# A value per pattern the contracts use: the first candidate the pattern matches is taken.
_CANDIDATES = (
    EXAMPLE_PARTNER,
    EXAMPLE_PSEUDONYM,
    "1.0",
    "application/json",
    "12-15",
    "0518",
    "99ZZ",
    "taalontwikkeling",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "c0ffee00c0ffee00c0ffee00c0ffee00",
    "1.2.3",
    "123456782",
    _PLACEHOLDER_JWE,
    "6f1c1a52-5b8e-4c1e-9d0a-6b2f3c4d5e6f:jgz-gelderland-zuid",
    "eyJhbGciOiJFZDI1NTE5In0..AAAA",
    "6f1c1a52-5b8e-4c1e-9d0a-6b2f3c4d5e6f/bijlage-1.pdf",
)
_JWE_FIELDS = {"section", "sections", "identifiers", "token", "key", "sealed"}

# Examples a schema's fields alone cannot give (a rule across fields).
_OVERRIDES: dict[str, dict[str, Any]] = {
    "KluisAnswer": {
        "kid": f"{EXAMPLE_PSEUDONYM}/signalling/{EXAMPLE_PARTNER}/1",
        "key": _PLACEHOLDER_JWE,
    },
    "Receipt": {
        "status": "accepted",
        "stream_seq": 42,
        "event_id": "cb094976-e6be-52d4-ab53-653eb7561cd6",
        "service": "signalling",
    },
}


class ExampleError(ValueError):
    """A schema the example generator cannot fill (an unknown pattern: add a candidate)."""


def example_signing_key(partner: str) -> OKPKey:
    seed = hashlib.sha256((EXAMPLE_SEED_LABEL + partner).encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return OKPKey.import_key(private)


def example_data_key() -> bytes:
    return hashlib.sha256(EXAMPLE_DATA_KEY_LABEL.encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def example_seal(section: dict[str, Any], *, kid: str, event_id: str) -> str:
    """`ketenbus_contracts.sealing.seal` with a derived IV, so the example is reproducible."""
    key = example_data_key()
    header = {
        "alg": SECTION_ALG,
        "enc": SECTION_ENC,
        "kid": kid,
        "eid": event_id,
        "kcv": key_check_value(key),
        "cty": "application/json",
    }
    protected = _b64(json.dumps(header, separators=(",", ":")).encode())
    iv = hashlib.sha256(f"{event_id}/{kid}".encode()).digest()[:12]
    plaintext = json.dumps(section, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode("ascii"))
    return f"{protected}..{_b64(iv)}.{_b64(sealed[:-16])}.{_b64(sealed[-16:])}"


def _feed_signature(body: bytes) -> str:
    """The feed's signature over `body` with the example key of `feed` (as `sign_feed_entry`)."""
    header = {"alg": SIGNING_ALG, "kid": signing_kid(FEED_SIGNER), "typ": FEED_SIGNATURE_TYP}
    token = jws.serialize_compact(header, body, example_signing_key(FEED_SIGNER), [SIGNING_ALG])
    return jws.detach_content(token)


class _Generator:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.full = False  # fill optional fields too (a section's example shows them all)

    def value(self, schema: dict[str, Any], path: str) -> Any:
        if "examples" in schema:
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if "$ref" in schema:
            name = schema["$ref"].removeprefix(SCHEMAS)
            value = self.value(self.schemas[name], path)
            if isinstance(value, dict) and name in _OVERRIDES:
                value.update(_OVERRIDES[name])
            return value
        if "enum" in schema:
            return schema["enum"][0]
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            usable = [o for o in options if o.get("type") != "null"]
            return self.value(usable[0], path)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.obj(schema, path)
        if kind == "array":
            count = max(1, schema.get("minItems", 1))
            return [self.value(schema.get("items", {}), f"{path}/{i}") for i in range(count)]
        if kind == "string":
            return self.string(schema, path)
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return float(max(1, schema.get("minimum", 1)))
        if kind == "boolean":
            return True
        return None

    def obj(self, schema: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            options = prop.get("anyOf", [])
            optional = "default" in prop and prop["default"] in (None, [], {}, "")
            if name not in required and not self.full and (optional or {"type": "null"} in options):
                continue
            value = self.value(prop, f"{path}/{name}")
            if value is not None:
                out[name] = value
        return out

    def string(self, schema: dict[str, Any], path: str) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid5(_NAMESPACE, path))
        if fmt == "date-time":
            return EXAMPLE_TIME
        if fmt == "date":
            return EXAMPLE_DATE
        if fmt == "binary":
            return ""
        pattern = schema.get("pattern")
        if pattern is not None:
            for candidate in _CANDIDATES:
                if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), candidate):
                    return candidate
            raise ExampleError(
                f"no example value for pattern {pattern!r} (at {path}): add one to "
                "services/asyncapi/examples.py _CANDIDATES"
            )
        if path.rsplit("/", 1)[-1] in _JWE_FIELDS:
            return _PLACEHOLDER_JWE
        text = "voorbeeld"
        return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), "x")


def _event_example(gen: _Generator, schema_name: str) -> dict[str, Any]:
    schemas = gen.schemas
    envelope: dict[str, Any] = gen.value({"$ref": SCHEMAS + schema_name}, schema_name)
    envelope["source"] = EXAMPLE_PARTNER
    envelope["subject"] = EXAMPLE_PSEUDONYM
    envelope["time"] = EXAMPLE_TIME
    event_id = envelope["id"]
    data_schema = schemas[schemas[schema_name]["properties"]["data"]["$ref"].removeprefix(SCHEMAS)]
    sections = data_schema["properties"].get("sealed", {}).get("properties", {})
    sealed: dict[str, str] = {}
    for purpose, prop in sections.items():
        section_name = prop["x-ketenbus-section"]["$ref"].removeprefix(SCHEMAS)
        gen.full = True
        try:
            content = gen.value(schemas[section_name], f"{schema_name}/{purpose}")
        finally:
            gen.full = False
        kid = make_kid(EXAMPLE_PSEUDONYM, Purpose(purpose), EXAMPLE_PARTNER, 1)
        sealed[purpose] = example_seal(content, kid=kid, event_id=event_id)
    envelope["data"]["sealed"] = sealed
    if not sealed:
        del envelope["data"]["sealed"]
    envelope["purposes"] = sorted(sealed)
    if not sealed:
        del envelope["purposes"]
    envelope.pop(SIGNATURE_FIELD, None)
    envelope[SIGNATURE_FIELD] = sign_envelope(
        envelope, example_signing_key(EXAMPLE_PARTNER), EXAMPLE_PARTNER
    )
    return envelope


def _signed_request(gen: _Generator, jws_schema: dict[str, Any], path: str) -> str:
    spec = jws_schema["x-ketenbus-jws"]
    header = gen.value(spec["protectedHeader"], f"{path}/header")
    header["kid"] = EXAMPLE_PARTNER
    claims = gen.value(spec["claims"], f"{path}/claims")
    claims["partner"] = EXAMPLE_PARTNER
    claims["issued_at"] = EXAMPLE_ISSUED_AT
    if "child" in claims:
        claims["child"] = EXAMPLE_PSEUDONYM
    if "sha256" in claims:  # an attachment put: the example's chunk (its body) is empty
        claims["sha256"] = hashlib.sha256(b"").hexdigest()
    if "chunk" in claims:
        claims["chunk"] = 0
    payload = json.dumps(claims, separators=(",", ":"))
    key = example_signing_key(EXAMPLE_PARTNER)
    return jws.serialize_compact(header, payload, key, algorithms=[header["alg"]])


def _headers_example(gen: _Generator, headers: dict[str, Any], path: str) -> dict[str, Any]:
    schema = headers
    if "$ref" in schema:
        schema = gen.schemas[schema["$ref"].removeprefix(SCHEMAS)]
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if "x-ketenbus-jws" in prop:
            out[name] = _signed_request(gen, prop, f"{path}/{name}")
        else:
            out[name] = gen.value(prop, f"{path}/{name}")
    return out


SUMMARY = (
    "Reproducible: signed with the example Ed25519 key of `{partner}` (seed: SHA-256 of "
    "`{seed}{partner}`); sections sealed under the example data key (SHA-256 of `{data}`)."
)


def complete(doc: dict[str, Any]) -> None:
    components = doc["components"]
    gen = _Generator(components["schemas"])
    for key, message in components["messages"].items():
        payload = message.get("payload", {})
        example: dict[str, Any] = {"name": key}
        if "x-ketenbus-jws" in payload:
            example["payload"] = _signed_request(gen, payload, key)
            example["summary"] = SUMMARY.format(
                partner=EXAMPLE_PARTNER, seed=EXAMPLE_SEED_LABEL, data=EXAMPLE_DATA_KEY_LABEL
            )
        elif (event := event_schema_of(payload)) is not None:
            example["payload"] = _event_example(gen, event)
            example["summary"] = SUMMARY.format(
                partner=EXAMPLE_PARTNER, seed=EXAMPLE_SEED_LABEL, data=EXAMPLE_DATA_KEY_LABEL
            )
        else:
            example["payload"] = gen.value(payload, key)
        if "headers" in message:
            example["headers"] = _headers_example(gen, message["headers"], key)
            if "Nats-Msg-Id" in example["headers"] and isinstance(example["payload"], dict):
                event_id = example["payload"].get("id")
                msg_id = example["headers"]["Nats-Msg-Id"]
                if event_id is not None and ":" in msg_id:
                    example["headers"]["Nats-Msg-Id"] = f"{event_id}:{msg_id.split(':', 1)[1]}"
                elif event_id is not None:
                    example["headers"]["Nats-Msg-Id"] = event_id
            if FEED_SIGNATURE_HEADER in example["headers"]:
                body = json.dumps(example["payload"], separators=(",", ":")).encode()
                example["headers"][FEED_SIGNATURE_HEADER] = _feed_signature(body)
        message["examples"] = [example]

"""The worked example of docs/partners.md: every key derived from a fixed seed, every time
fixed, so what is deterministic (canonical form, Ed25519 signatures, claims, headers) comes out
byte for byte, and what is not (the random IVs and ephemeral keys of a JWE) is checked by
opening it (tests/unit/test_partners_doc.py).

A seed is the SHA-256 of `ketenbus worked example <name>`; a key pair is the Ed25519 or X25519
key whose private key is that seed. Never use these keys for anything but the example.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import OKPKey

from ketenbus_contracts.plan import PlanQuery
from ketenbus_contracts.pseudonym import PseudonymRequest
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import KeyRequest, PartnerKeys, SealRequest, make_kid
from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData

PARTNER = "bs-de-regenboog"
CHILD = "abcdefghijklmnopqrstuvwxyz234567"
EVENT_ID = uuid.UUID("0b7c3c52-6f1e-4c61-9a57-3d2f5e1a0c01")
SIGNAL_ID = uuid.UUID("5d0e8a3b-2c4f-4b7a-8e19-6a1f0c2d3e4f")
TIME = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
ISSUED_AT = int(TIME.timestamp())  # 1793525400
NONCE = "5f4dcc3b5aa765d61d8327deb882cf99"  # the pseudonym request's; each request has its own
KEY_NONCE = "9b2f0c1e7d4a4e3f8c6b5a4d3e2f1a0b"
SEAL_NONCE = "3c1e5a7f9b2d4c6e8a0f1b3d5c7e9a2b"
PLAN_NONCE = "7e4a2c9f1b3d5e6a8c0b2d4f6a8c0e1f"
BSN = "111222333"
SIGNALLING_SECTION = {"concern": ["sociaal-emotioneel"], "notes": "Trekt zich terug in de klas."}
IDENTITY_SECTION = {"bsn": BSN, "name": "Sam Voorbeeld", "birth_date": "2016-03-14"}
SIGNALLING_KID = make_kid(CHILD, Purpose.SIGNALLING, PARTNER, 1)
IDENTITY_KID = make_kid(CHILD, Purpose.IDENTITY, PARTNER, 1)


def seed(name: str) -> bytes:
    return hashlib.sha256(f"ketenbus worked example {name}".encode()).digest()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def okp_jwk(curve: str, name: str, kid: str) -> dict[str, Any]:
    """The private JWK of the example key pair `name` (Ed25519 or X25519)."""
    private = seed(name)
    key = (
        Ed25519PrivateKey.from_private_bytes(private)
        if curve == "Ed25519"
        else X25519PrivateKey.from_private_bytes(private)
    )
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    use = "sig" if curve == "Ed25519" else "enc"
    return {"crv": curve, "d": b64url(private), "kid": kid, "kty": "OKP", "use": use,
            "x": b64url(public)}  # fmt: skip


def partner_keys(partner: str = PARTNER) -> PartnerKeys:
    """The example partner's two key pairs."""
    return PartnerKeys.from_jwks(
        partner,
        {
            "keys": [
                okp_jwk("Ed25519", f"{partner} sig", f"{partner}#sig"),
                okp_jwk("X25519", f"{partner} enc", f"{partner}#enc"),
            ]
        },
    )


def service_key(service: str) -> OKPKey:
    """The X25519 key pair of a backbone service in the example (kluis, pseudonym)."""
    return OKPKey.import_key(okp_jwk("X25519", f"{service} enc", f"{service}#enc"))


def data_key(purpose: Purpose) -> bytes:
    """The data key kluis holds for (CHILD, purpose, PARTNER), version 1, in the example."""
    return seed(f"data key {purpose.value}")


def public_jwks() -> str:
    """What the partner registers: its public JWK Set."""
    return json.dumps(partner_keys().to_jwks(private=False), indent=2)


def key_request() -> KeyRequest:
    return KeyRequest(
        partner=PARTNER,
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope=PARTNER,
        issued_at=ISSUED_AT,
        nonce=KEY_NONCE,
    )


def seal_request(section_jwe: str) -> SealRequest:
    return SealRequest(
        partner=PARTNER,
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope=PARTNER,
        event_id=EVENT_ID,
        section=section_jwe,
        issued_at=ISSUED_AT,
        nonce=SEAL_NONCE,
    )


def pseudonym_request(identifiers_jwe: str) -> PseudonymRequest:
    return PseudonymRequest(
        partner=PARTNER, nonce=NONCE, count=1, identifiers=identifiers_jwe, issued_at=ISSUED_AT
    )


def plan_query() -> PlanQuery:
    return PlanQuery(partner=PARTNER, child=CHILD, issued_at=ISSUED_AT, nonce=PLAN_NONCE)


def event(sealed: dict[Purpose, str]) -> SignalRegistered:
    """The example's signal-registered, unsigned, with these sealed sections."""
    return SignalRegistered.create(
        id=EVENT_ID,
        time=TIME,
        source=PARTNER,
        subject=CHILD,
        purposes=sorted(sealed),
        data=SignalRegisteredData(
            sealed=sealed,
            signal_id=SIGNAL_ID,
            signaller=Signaller(
                partner=PARTNER, role="ib-er", contact="Mevr. Çelik (ib-er), 0481-123456"
            ),
            registered_on=date(2026, 11, 1),
            planned_removal_on=date(2028, 10, 31),
        ),
    )

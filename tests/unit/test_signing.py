"""Partner signatures on events: canonical form, signing, and the named refusals."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import Signaller, SignalRegistered
from ketenbus_contracts.signing import (
    CanonicalisationError,
    ForgedSignatureError,
    MissingSignatureError,
    UnknownSignerError,
    canonicalize,
    sign_event,
    signing_input,
    verify_event,
    verify_raw,
)
from ketenbus_partner.keys import load_public_keys
from ketenbus_partner.publish import DataDirKeys
from services.runtime.partner import sign_on_behalf
from services.runtime.partners import PARTNERS_PATH, load_partners
from services.runtime.settings import Settings
from services.runtime.signatures import verifying
from tests import events

SCHOOL = "bs-de-regenboog"
OTHER = "kdv-het-speelhuis"
CHILD = "a" * 32


def signal(source: str = SCHOOL) -> SignalRegistered:
    signaller = Signaller(partner=source, role="school", contact="ib@example.org")
    on, at = date(2026, 11, 24), datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return events.signal(
        signaller, on, CHILD, event_id=uuid.UUID(int=1), signal_id=uuid.UUID(int=2), at=at
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, PartnerKeys]:
    return {SCHOOL: PartnerKeys.generate(SCHOOL), OTHER: PartnerKeys.generate(OTHER)}


def public(keys: dict[str, PartnerKeys]) -> dict[str, PartnerKeys]:
    return {partner: k.public() for partner, k in keys.items()}


def test_canonical_form_follows_rfc_8785_examples() -> None:
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert expected.encode() == canonicalize(value)


def test_canonical_form_sorts_members_by_utf16_code_units() -> None:
    value = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    keys = list(json.loads(canonicalize(value)))
    assert ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"] == keys


def test_canonical_form_writes_subclasses_and_other_sequences_as_their_json_type() -> None:
    class Colour(StrEnum):
        RED = "red"

    value = OrderedDict([("b", (1, Colour.RED, [])), ("a", {}), ("\u00e9", "\u0000\u2028")])
    expected = '{"a":{},"b":[1,"red",[]],"\u00e9":"\\u0000\u2028"}'
    assert expected.encode() == canonicalize(value)


def test_canonical_form_writes_an_int_enum_as_its_number() -> None:
    class Level(IntEnum):
        HIGH = 3

    assert b'{"level":3}' == canonicalize({"level": Level.HIGH})


@pytest.mark.parametrize(
    "value", [{1: "a"}, {"a": float("nan")}, [float("inf")], {"a": {1, 2}}, b"bytes"]
)
def test_canonical_form_refuses_values_without_a_json_form(value: object) -> None:
    with pytest.raises(CanonicalisationError):
        canonicalize(value)


def test_signed_event_verifies_with_the_sources_key(keys: dict[str, PartnerKeys]) -> None:
    signed = sign_event(signal(), keys[SCHOOL])
    assert signed.ketenbussig is not None
    _, payload, _ = signed.ketenbussig.split(".")
    assert "" == payload  # detached
    assert SCHOOL == verify_event(signed, public(keys))
    assert SCHOOL == verify_raw(signed.to_bytes(), public(keys))


def test_signature_is_over_the_canonical_form_not_the_byte_layout(
    keys: dict[str, PartnerKeys],
) -> None:
    signed = sign_event(signal(), keys[SCHOOL])
    reordered = json.dumps(dict(reversed(json.loads(signed.to_bytes()).items())), indent=2)
    assert SCHOOL == verify_raw(reordered, public(keys))


def test_an_altered_event_is_forged(keys: dict[str, PartnerKeys]) -> None:
    envelope = json.loads(sign_event(signal(), keys[SCHOOL]).to_bytes())
    envelope["data"]["registered_on"] = "2026-11-23"
    with pytest.raises(ForgedSignatureError):
        verify_raw(json.dumps(envelope), public(keys))


def test_a_partner_cannot_sign_as_another(keys: dict[str, PartnerKeys]) -> None:
    # The other partner signs an event that claims the school as its source.
    envelope = json.loads(signal().to_bytes())
    from ketenbus_contracts.signing import sign_envelope

    envelope["ketenbussig"] = sign_envelope(envelope, keys[OTHER].signing, SCHOOL)
    with pytest.raises(ForgedSignatureError):
        verify_raw(json.dumps(envelope), public(keys))
    with pytest.raises(ForgedSignatureError, match="another partner's key"):
        envelope["ketenbussig"] = sign_envelope(envelope, keys[OTHER].signing, OTHER)
        verify_raw(json.dumps(envelope), public(keys))


def test_unsigned_and_unknown_signer_have_their_own_errors(keys: dict[str, PartnerKeys]) -> None:
    with pytest.raises(MissingSignatureError):
        verify_event(signal(), public(keys))
    stranger = PartnerKeys.generate("onbekend-bureau")
    with pytest.raises(UnknownSignerError):
        verify_event(sign_event(signal("onbekend-bureau"), stranger), public(keys))


def test_signing_input_leaves_out_the_signature(keys: dict[str, PartnerKeys]) -> None:
    signed = sign_event(signal(), keys[SCHOOL])
    envelope = json.loads(signed.to_bytes())
    assert signing_input(envelope) == canonicalize(json.loads(signal().to_bytes()))


def decode(raw: bytes) -> str:
    return "decoded"


def test_verifying_decoder_refuses_forgeries_at_ketenbussig(
    keys: dict[str, PartnerKeys], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    decoder = verifying(decode, settings, public_keys=public(keys))
    envelope = json.loads(sign_event(signal(), keys[SCHOOL]).to_bytes())
    assert "decoded" == decoder(json.dumps(envelope).encode())
    envelope["subject"] = "b" * 32
    with pytest.raises(ValidationError) as refused:
        decoder(json.dumps(envelope).encode())
    error = refused.value.errors()[0]
    assert ("ketenbussig", "forged-signature") == (error["loc"][0], error["type"])


def test_verifying_decoder_refuses_unsigned_by_default_and_lets_them_through_when_migrating(
    keys: dict[str, PartnerKeys], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KETENBUS_SIGNATURES", raising=False)
    unsigned = signal().to_bytes()
    strict = verifying(decode, Settings(data_dir=tmp_path), public_keys=public(keys))
    lenient = verifying(
        decode,
        Settings(data_dir=tmp_path, signatures="verify-if-present"),
        public_keys=public(keys),
    )
    with pytest.raises(ValidationError) as refused:
        strict(unsigned)
    error = refused.value.errors()[0]
    assert ("ketenbussig", "missing-signature") == (error["loc"][0], error["type"])
    assert "decoded" == lenient(unsigned)
    assert "decoded" == strict(b"{oops")  # not JSON: left to the decoder to refuse


def test_a_partners_message_is_signed_by_its_source_on_its_inbound_subject(
    tmp_path: Path,
) -> None:
    signer = DataDirKeys(tmp_path)
    message = signer.message(signal())
    school = load_public_keys(tmp_path, SCHOOL)
    assert school is not None
    assert SCHOOL == verify_raw(message.payload, {SCHOOL: school})
    assert ("in.bs-de-regenboog.signalling.signal-registered", str(uuid.UUID(int=1))) == (
        message.subject,
        message.headers["Nats-Msg-Id"],
    )
    assert message == signer.message(signal())  # Ed25519 is deterministic: dedup still works


def test_an_unsigned_file_is_signed_on_behalf_of_a_demo_partner_only(tmp_path: Path) -> None:
    unsigned = signal().to_bytes()
    signed = sign_on_behalf(unsigned, SCHOOL, tmp_path)
    school = load_public_keys(tmp_path, SCHOOL)
    assert school is not None
    assert SCHOOL == verify_raw(signed, {SCHOOL: school})
    stranger = signal("bs-onbekend").to_bytes()  # not in the registry: no keys to sign with
    assert [signed, stranger, unsigned, b"{oops"] == [
        sign_on_behalf(signed, SCHOOL, tmp_path),
        sign_on_behalf(stranger, "bs-onbekend", tmp_path),
        sign_on_behalf(unsigned, OTHER, tmp_path),  # another partner's event
        sign_on_behalf(b"{oops", SCHOOL, tmp_path),
    ]
    assert not (tmp_path / "secrets" / "partners" / "bs-onbekend.jwk").exists()


def test_registry_names_role_codes_and_nats_user_of_every_partner() -> None:
    registry = load_partners(PARTNERS_PATH)
    school = next(p for p in registry.partners if p.id == SCHOOL)
    assert ("school", "99ZZ", SCHOOL) == (
        school.role,
        school.organisation_codes["brin"],
        school.nats_user.user,
    )
    assert all(p.nats_user.user for p in registry.partners)


def test_registry_refuses_a_malformed_oin() -> None:
    from services.runtime.partners import PartnerEntry

    with pytest.raises(ValidationError):
        PartnerEntry(id="gemeente-x", name="x", role="wijkteam", organisation_codes={"oin": "12"})


def test_signature_verifies_without_joserfc_as_rfc_7515_detached_jws(
    keys: dict[str, PartnerKeys],
) -> None:
    """Any JOSE stack (here: bare Ed25519 from `cryptography`) verifies it the standard way."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signed = sign_event(signal(), keys[SCHOOL])
    assert signed.ketenbussig is not None
    header_b64, _, signature_b64 = signed.ketenbussig.split(".")
    payload = signing_input(json.loads(signed.to_bytes()))
    payload_b64 = base64.urlsafe_b64encode(payload).rstrip(b"=")
    x = keys[SCHOOL].signing.as_dict(private=False)["x"]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    public.verify(signature, header_b64.encode() + b"." + payload_b64)  # raises if invalid
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert {"alg": "Ed25519", "kid": f"{SCHOOL}#sig", "typ": "ketenbus-event+jws"} == header


def test_a_signature_under_the_older_eddsa_header_still_verifies(
    keys: dict[str, PartnerKeys],
) -> None:
    """Headers other than the one `sign_envelope` writes are verified by joserfc, as before."""
    import warnings

    from joserfc import jws

    envelope = json.loads(signal().to_bytes())
    header = {"alg": "EdDSA", "kid": f"{SCHOOL}#sig", "typ": "ketenbus-event+jws"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = jws.serialize_compact(
            header, signing_input(envelope), keys[SCHOOL].signing, algorithms=["EdDSA"]
        )
    envelope["ketenbussig"] = jws.detach_content(token)
    assert SCHOOL == verify_raw(json.dumps(envelope), public(keys))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sig: sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1],  # another signature
        lambda sig: sig + "==",  # padded: not the strict base64url JWS uses
        lambda sig: sig[:-4],  # too short for Ed25519
    ],
)
def test_a_tampered_signature_is_forged(keys: dict[str, PartnerKeys], tamper: Any) -> None:
    envelope = json.loads(sign_event(signal(), keys[SCHOOL]).to_bytes())
    envelope["ketenbussig"] = tamper(envelope["ketenbussig"])
    with pytest.raises(ForgedSignatureError):
        verify_raw(json.dumps(envelope), public(keys))

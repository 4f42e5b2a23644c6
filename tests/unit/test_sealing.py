"""Sealing sections under a purpose: JWE dir/A256GCM, kid, event binding, clear errors."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from datetime import date
from typing import Annotated

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    DataKey,
    KeyId,
    KeyRequest,
    KluisProtocolError,
    MalformedSectionError,
    MovedSectionError,
    PartnerKeys,
    SealedUnder,
    SealRequest,
    TamperedSectionError,
    WrongKeyError,
    decrypt_from,
    deliver_key,
    encrypt_to,
    fields_by_purpose,
    header_of,
    kid_of,
    make_kid,
    open_fields,
    open_section,
    open_sections,
    receive_key,
    seal,
    seal_fields,
    sign_request,
    verify_request,
)

CHILD = "a" * 32
EVENT = uuid.UUID("0b8e2f5c-1d7a-4c1e-9a55-6a1f0e0c2d11")
KEY = bytes(range(32))
KID = make_kid(CHILD, Purpose.SIGNALLING, "jgz-gelderland-zuid", 1)


class Pupil(BaseModel):
    model_config = ConfigDict(frozen=True)

    school: str
    name: Annotated[str, SealedUnder(Purpose.IDENTITY)]
    bsn: Annotated[str, SealedUnder(Purpose.IDENTITY)]
    born_on: Annotated[date, SealedUnder(Purpose.IDENTITY)]
    concern: Annotated[str | None, SealedUnder(Purpose.SIGNALLING)] = None


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_fields_declare_their_purpose_in_the_json_schema() -> None:
    properties = Pupil.model_json_schema()["properties"]

    expected = ("identity", "signalling", None)

    assert expected == (
        properties["name"]["x-purpose"],
        properties["concern"]["x-purpose"],
        properties["school"].get("x-purpose"),
    )


def test_fields_by_purpose_lists_sealed_fields_per_purpose() -> None:
    expected = {Purpose.IDENTITY: ("name", "bsn", "born_on"), Purpose.SIGNALLING: ("concern",)}

    assert expected == fields_by_purpose(Pupil)


def test_a_sealed_section_opens_with_its_key_in_its_event() -> None:
    token = seal({"concern": "zorgen over thuissituatie"}, key=KEY, kid=KID, event_id=EVENT)

    expected = {"concern": "zorgen over thuissituatie"}

    assert expected == open_section(token, key=KEY, event_id=EVENT)


def test_the_section_header_is_dir_a256gcm_with_kid_and_event_id() -> None:
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)
    header = header_of(token)

    expected = ("dir", "A256GCM", KID, str(EVENT))
    assert expected == (
        header["alg"],
        header["enc"],
        header["kid"],
        header["eid"],
    )
    expected_kid = KID
    assert expected_kid == kid_of(token)


def test_the_clear_value_is_not_in_the_token() -> None:
    token = seal({"concern": "canary-7f3a"}, key=KEY, kid=KID, event_id=EVENT)

    assert "canary-7f3a" not in token
    assert b"canary-7f3a" not in b64url_decode(token.split(".")[3])


def test_any_jose_implementation_opens_a_section_per_rfc_7516() -> None:
    """Opened here with plain AES-GCM: the AAD is the ASCII of the protected header's b64."""
    token = seal({"concern": "zorgen", "n": 2}, key=KEY, kid=KID, event_id=EVENT)
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")

    plaintext = AESGCM(KEY).decrypt(
        b64url_decode(iv),
        b64url_decode(ciphertext) + b64url_decode(tag),
        protected.encode("ascii"),
    )

    expected = ("", {"concern": "zorgen", "n": 2})
    assert expected == (encrypted_key, json.loads(plaintext))


def test_opening_with_another_key_is_a_wrong_key_error() -> None:
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)

    with pytest.raises(WrongKeyError, match=KID):
        open_section(token, key=os.urandom(32), event_id=EVENT)


def test_a_changed_ciphertext_is_a_tampered_section_error() -> None:
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)
    parts = token.split(".")
    flipped = bytearray(b64url_decode(parts[3]))
    flipped[0] ^= 1
    parts[3] = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()

    with pytest.raises(TamperedSectionError, match="changed after sealing"):
        open_section(".".join(parts), key=KEY, event_id=EVENT)


def test_a_header_rebound_to_another_event_is_a_tampered_section_error() -> None:
    other = uuid.uuid4()
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)
    parts = token.split(".")
    header = header_of(token) | {"eid": str(other)}
    parts[0] = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()

    with pytest.raises(TamperedSectionError):
        open_section(".".join(parts), key=KEY, event_id=other)


def test_a_section_copied_into_another_event_is_a_moved_section_error() -> None:
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)

    with pytest.raises(MovedSectionError, match="another event"):
        open_section(token, key=KEY, event_id=uuid.uuid4())


def test_garbage_is_a_malformed_section_error() -> None:
    with pytest.raises(MalformedSectionError):
        open_section("not.a.jwe", key=KEY, event_id=EVENT)


def test_a_kid_must_name_pseudonym_purpose_and_version() -> None:
    with pytest.raises(MalformedSectionError):
        seal({"x": 1}, key=KEY, kid="someone/else", event_id=EVENT)

    assert KeyId(CHILD, Purpose.PLAN, "child", 3) == KeyId.parse(f"{CHILD}/plan/child/3")


def test_a_kid_names_its_scope_between_purpose_and_version_and_the_scope_may_hold_slashes() -> None:
    kid = make_kid(CHILD, Purpose.SUPPORT, "arrangement/0c2d", 2)

    assert KeyId(CHILD, Purpose.SUPPORT, "arrangement/0c2d", 2) == KeyId.parse(kid)
    assert f"{CHILD}/support/arrangement/0c2d/2" == kid


def test_a_kid_from_before_scopes_parses_with_the_empty_scope() -> None:
    assert KeyId(CHILD, Purpose.PLAN, "", 3) == KeyId.parse(f"{CHILD}/plan/3")


@pytest.mark.parametrize("scope", ["a//b", "a/", "../x", " x", "a/../b"])
def test_a_kid_with_a_malformed_scope_is_refused(scope: str) -> None:
    with pytest.raises(MalformedSectionError):
        KeyId.parse(f"{CHILD}/plan/{scope}/1")


def test_a_model_seals_per_purpose_and_opens_back() -> None:
    pupil = Pupil(school="99XX00", name="Sanne de Vries", bsn="123456782", born_on=date(2016, 3, 1))
    keys = {p: DataKey(make_kid(CHILD, p, "child", 1), os.urandom(32)) for p in Purpose}
    by_kid = {k.kid: k.key for k in keys.values()}

    sealed = seal_fields(pupil, event_id=EVENT, key_for=keys.__getitem__)
    opened = open_fields(
        Pupil, sealed, event_id=EVENT, key_for=by_kid.__getitem__, clear={"school": "99XX00"}
    )

    expected_purposes = [Purpose.IDENTITY]  # concern is None: no empty section
    assert expected_purposes == list(sealed)
    assert pupil == opened


def test_open_sections_refuses_a_section_filed_under_another_purpose() -> None:
    token = seal({"x": 1}, key=KEY, kid=KID, event_id=EVENT)

    with pytest.raises(MovedSectionError):
        open_sections({Purpose.PLAN: token}, event_id=EVENT, key_for=lambda kid: KEY)


def test_a_delivered_key_opens_only_for_its_recipient() -> None:
    partner = PartnerKeys.generate("jgz-gelderland-zuid")
    data_key = DataKey(KID, KEY)

    token = deliver_key(data_key, partner.public().encryption)

    assert data_key == receive_key(token, partner.encryption)
    assert KEY not in token.encode()
    with pytest.raises(KluisProtocolError):
        receive_key(token, PartnerKeys.generate("someone-else").encryption)


def test_a_signed_request_verifies_with_the_partners_public_key() -> None:
    partner = PartnerKeys.generate("bs-de-regenboog")
    request = KeyRequest(
        partner="bs-de-regenboog", child=CHILD, purpose=Purpose.IDENTITY, scope="bs-de-regenboog"
    )
    public = {"bs-de-regenboog": partner.public().signing}

    assert request == verify_request(sign_request(request, partner.signing), public.get)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown-partner", "unknown-partner"),
        ("other-key", "bad-signature"),
        ("stale", "stale-request"),
        ("garbage", "invalid-request"),
        ("another-service", "invalid-request"),
    ],
)
def test_a_bad_request_is_refused_with_a_code(case: str, code: str) -> None:
    partner = PartnerKeys.generate("bs-de-regenboog")
    issued_at = int(time.time()) - (3600 if case == "stale" else 0)
    request = KeyRequest(
        partner="bs-de-regenboog",
        child=CHILD,
        purpose=Purpose.IDENTITY,
        scope="bs-de-regenboog",
        issued_at=issued_at,
    )
    signer = PartnerKeys.generate("x-x").signing if case == "other-key" else partner.signing
    # A token the partner made for another service (a plan query's typ) is not a kluis request.
    typ = "plan-query+jws" if case == "another-service" else "kluis-request+jws"
    raw = b"garbage" if case == "garbage" else sign_request(request, signer, typ=typ)
    known = {} if case == "unknown-partner" else {"bs-de-regenboog": partner.public().signing}

    with pytest.raises(KluisProtocolError) as refused:
        verify_request(raw, known.get)

    assert code == refused.value.code


def test_a_section_for_remote_sealing_travels_encrypted_to_kluis() -> None:
    kluis = PartnerKeys.generate("kluis")
    token = encrypt_to({"concern": "canary-7f3a"}, kluis.public().encryption)
    request = SealRequest(
        partner="bs-de-regenboog",
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope="bs-de-regenboog",
        event_id=EVENT,
        section=token,
    )

    assert "canary-7f3a" not in request.model_dump_json()
    expected = {"concern": "canary-7f3a"}
    assert expected == decrypt_from(token, kluis.encryption)

"""docs/partners.md's worked example holds: its deterministic bytes (claims, JWS, the canonical
form, the event signature, section headers) are what the contracts make from the example's
fixed keys (tests/partners_example.py), and what is random (every JWE) opens with them."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.plan import PlanQuery, sign_plan_query
from ketenbus_contracts.pseudonym import (
    PSEUDONYM_REQUEST_TYP,
    PseudonymRequest,
    SealedIdentifiers,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    KeyRequest,
    KluisAnswer,
    MovedSectionError,
    SealRequest,
    decrypt_from,
    header_of,
    open_section,
    receive_key,
    sign_request,
)
from ketenbus_contracts.signalling import SignalRegistered
from ketenbus_contracts.signing import canonicalize, sign_envelope, verify_raw
from tests import partners_example as example

DOC = Path(__file__).resolve().parents[2] / "docs" / "partners.md"
BLOCK = re.compile(r"<!-- example: ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)\n```\n", re.DOTALL)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall(DOC.read_text(encoding="utf-8")))


def test_the_example_registers_the_partners_public_keys_made_from_the_documented_seeds() -> None:
    doc = blocks()

    assert example.partner_keys().to_jwks(private=False) == json.loads(doc["partner-public-jwks"])
    assert example.service_key("kluis").as_dict(private=False) == json.loads(
        doc["kluis-public-jwk"]
    )


def test_the_pseudonym_request_is_signed_over_its_claims_and_its_identifiers_open() -> None:
    doc = blocks()
    request = PseudonymRequest.model_validate_json(doc["pseudonym-request-claims"])
    keys = example.partner_keys()

    signed = sign_request(request, keys.signing, typ=PSEUDONYM_REQUEST_TYP).decode()
    identifiers = decrypt_from(request.identifiers, example.service_key("pseudonym"))

    assert doc["pseudonym-request-claims"] == request.model_dump_json(exclude_none=True)
    assert example.pseudonym_request(request.identifiers) == request
    assert doc["pseudonym-request-jws"] == signed
    assert {"identifiers": [{"kind": "bsn", "bsn": example.BSN}]} == SealedIdentifiers(
        **identifiers
    ).model_dump(mode="json")


def test_the_key_request_is_the_documented_claims_and_jws() -> None:
    doc = blocks()
    request = example.key_request()

    assert doc["key-request-claims"] == request.model_dump_json(exclude_none=True)
    assert request == KeyRequest.model_validate_json(doc["key-request-claims"])
    assert doc["key-request-jws"] == sign_request(request, example.partner_keys().signing).decode()


def test_the_key_answer_opens_with_the_partners_key_to_the_signalling_data_key() -> None:
    doc = blocks()
    answer = KluisAnswer.model_validate_json(doc["key-answer"])
    assert answer.key is not None

    released = receive_key(answer.key, example.partner_keys().encryption)

    assert (example.SIGNALLING_KID, example.data_key(Purpose.SIGNALLING)) == (
        released.kid,
        released.key,
    )
    assert example.b64url(released.key) == doc["signalling-data-key"]


def test_the_seal_request_carries_the_section_to_kluis_and_is_signed_over_its_claims() -> None:
    doc = blocks()
    request = SealRequest.model_validate_json(doc["seal-request-claims"])
    kluis = OKPKey.import_key(example.okp_jwk("X25519", "kluis enc", "kluis#enc"))

    assert example.seal_request(request.section) == request
    assert doc["seal-request-claims"] == request.model_dump_json(exclude_none=True)
    assert doc["seal-request-jws"] == sign_request(request, example.partner_keys().signing).decode()
    assert example.SIGNALLING_SECTION == decrypt_from(request.section, kluis)


def test_the_sections_open_with_their_data_keys_in_their_event_only() -> None:
    doc = blocks()
    event = json.loads(doc["envelope"])
    sealed = event["data"]["sealed"]
    seal_answer = KluisAnswer.model_validate_json(doc["seal-answer"])

    opened = {
        purpose: open_section(
            sealed[purpose.value], key=example.data_key(purpose), event_id=example.EVENT_ID
        )
        for purpose in (Purpose.SIGNALLING, Purpose.IDENTITY)
    }

    assert seal_answer.token == sealed["signalling"]
    assert json.loads(doc["signalling-section"]) == opened[Purpose.SIGNALLING]
    assert json.loads(doc["identity-section"]) == opened[Purpose.IDENTITY]
    assert json.loads(doc["signalling-section-header"]) == header_of(sealed["signalling"])
    assert doc["identity-data-key"] == example.b64url(example.data_key(Purpose.IDENTITY))
    assert ["identity", "signalling"] == event["purposes"]
    with pytest.raises(MovedSectionError):
        open_section(
            sealed["signalling"], key=example.data_key(Purpose.SIGNALLING), event_id=uuid.uuid4()
        )


def test_the_event_is_signed_over_the_documented_canonical_form_with_the_documented_header() -> (
    None
):
    doc = blocks()
    envelope = json.loads(doc["envelope"])
    keys = example.partner_keys()

    signature = sign_envelope(envelope, keys.signing, example.PARTNER)
    signed = json.loads(doc["signed-event"])
    event = parse_event(doc["signed-event"])

    assert doc["canonical"] == canonicalize(envelope).decode()
    assert doc["ketenbussig"] == signature
    assert json.loads(doc["ketenbussig-header"]) == json.loads(
        base64.urlsafe_b64decode(signature.split(".")[0] + "==")
    )
    assert {**envelope, "ketenbussig": signature} == signed
    assert example.PARTNER == verify_raw(doc["signed-event"], {example.PARTNER: keys.public()})
    assert isinstance(event, SignalRegistered)
    assert doc["subject"] == event.inbound_subject(event.source)
    assert json.loads(example.event(envelope["data"]["sealed"]).to_bytes()) == envelope


def test_the_receipt_and_the_plan_query_are_what_the_contracts_make() -> None:
    doc = blocks()
    query = PlanQuery.model_validate_json(doc["plan-query-claims"])

    assert example.plan_query() == query
    assert doc["plan-query-claims"] == query.model_dump_json(exclude_none=True)
    assert doc["plan-query-jws"] == sign_plan_query(query, example.partner_keys().signing)
    assert "accepted" == Receipt.model_validate_json(doc["receipt"]).status


def test_every_example_block_of_the_guide_is_checked() -> None:
    checked = {
        "partner-public-jwks", "kluis-public-jwk", "pseudonym-request-claims",
        "pseudonym-request-jws", "key-request-claims", "key-request-jws", "key-answer",
        "seal-request-claims", "seal-request-jws", "seal-answer", "signalling-data-key",
        "signalling-section", "signalling-section-header", "identity-data-key",
        "identity-section", "envelope", "ketenbussig-header", "canonical", "ketenbussig",
        "subject", "signed-event", "receipt", "plan-query-claims", "plan-query-jws",
    }  # fmt: skip

    assert checked == set(blocks())

"""Every message of the AsyncAPI document has an example, and the example is true: it validates
against the message's schemas, an event is a contract event signed by its source whose
sections open with the example data key to their section schemas, a request verifies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from joserfc import jws

from ketenbus_contracts.envelope import parse_event, registered_types
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.handover import EarlyEducationForm
from ketenbus_contracts.sealing import PartnerKeys, fields_by_purpose, kid_of, open_section
from ketenbus_contracts.signing import verify_envelope
from services.asyncapi.examples import (
    EXAMPLE_PARTNER,
    example_data_key,
    example_signing_key,
)
from tests.contract.document import b64_json, document, errors, message_errors, resolve

MESSAGES = document()["components"]["messages"]


def example_keys() -> PartnerKeys:
    generated = PartnerKeys.generate(EXAMPLE_PARTNER)
    return PartnerKeys(EXAMPLE_PARTNER, example_signing_key(EXAMPLE_PARTNER), generated.encryption)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_an_example_that_validates_against_its_schemas(key: str) -> None:
    message = MESSAGES[key]
    [example] = message["examples"]

    assert [] == message_errors(message, example["payload"], example.get("headers"))


EVENT_MESSAGES = sorted(k for k in MESSAGES if k.startswith("inbound."))


@pytest.mark.parametrize("key", EVENT_MESSAGES)
def test_an_inbound_example_is_a_signed_contract_event_whose_sections_open(key: str) -> None:
    [example] = MESSAGES[key]["examples"]
    payload: dict[str, Any] = example["payload"]

    event = parse_event(json.dumps(payload))
    signer = verify_envelope(payload, {EXAMPLE_PARTNER: example_keys().public()})
    opened = {
        purpose: open_section(token, key=example_data_key(), event_id=event.id)
        for purpose, token in payload["data"].get("sealed", {}).items()
    }

    assert (EXAMPLE_PARTNER, sorted(opened)) == (signer, payload.get("purposes", []))
    envelope = resolve(MESSAGES[key]["payload"]["allOf"][0])
    sealed_schema = resolve(resolve(envelope["properties"]["data"])["properties"]["sealed"])
    for purpose, content in opened.items():
        section = sealed_schema["properties"][purpose]
        assert purpose == section["x-purpose"]
        assert [] == errors(section["x-ketenbus-section"], content)
        assert [] == errors(section["x-ketenbus-protected-header"], _header(payload, purpose))
        assert content, f"the {purpose} section of the example is empty"


def _header(payload: dict[str, Any], purpose: str) -> dict[str, Any]:
    token = payload["data"]["sealed"][purpose]
    kid_of(token)
    header: dict[str, Any] = b64_json(token.split(".")[0])
    return header


def test_every_event_that_seals_shows_each_section_with_its_purpose() -> None:
    schemas = document()["components"]["schemas"]
    for cls in registered_types().values():
        sealed = resolve(
            resolve(schemas[cls.__name__]["properties"]["data"])["properties"]["sealed"]
        )
        shown = {p: s["x-purpose"] for p, s in sealed.get("properties", {}).items()}
        declared = {
            purpose.value for model in cls.sealed_models for purpose in fields_by_purpose(model)
        }
        assert {p: p for p in declared} == shown, cls.__name__


def test_every_model_with_sealed_fields_is_a_section_schema_of_the_document() -> None:
    schemas = document()["components"]["schemas"]
    models = {m for cls in registered_types().values() for m in cls.sealed_models}
    models.add(EarlyEducationForm)  # a handover dossier's `early-education` section

    for model in models:
        for purpose, names in fields_by_purpose(model).items():
            section = schemas[f"{model.__name__}.{purpose.value}"]
            assert (purpose.value, list(names)) == (
                section["x-purpose"],
                list(section["properties"]),
            )


def test_every_inbound_event_has_a_channel_with_its_exact_subject() -> None:
    doc = document()
    inbound_types = {m["name"] for k, m in MESSAGES.items() if k.startswith("inbound.")}
    addresses = {c["address"] for c in doc["channels"].values()}
    for event_type in inbound_types:
        cls = registered_types()[event_type]
        assert cls.inbound_subject("{partner}") in addresses
    assert {"SignalRegistered", "PupilEnrolled", "GoalSet"} <= {
        k.removeprefix("inbound.") for k in MESSAGES if k.startswith("inbound.")
    }


REQUESTS = sorted(k for k in MESSAGES if k.startswith("request."))


@pytest.mark.parametrize("key", REQUESTS)
def test_a_request_example_verifies_with_its_partners_key(key: str) -> None:
    message = MESSAGES[key]
    [example] = message["examples"]
    payload = example["payload"]
    token = payload if payload else next(iter(example["headers"].values()))
    public = example_keys().public().signing

    verified = jws.deserialize_compact(token, public, algorithms=["Ed25519"])

    assert EXAMPLE_PARTNER == verified.headers()["kid"] == json.loads(verified.payload)["partner"]


def test_the_inbound_payload_is_one_event_not_a_batch() -> None:
    doc = document()
    for key, channel in doc["channels"].items():
        for ref in channel.get("messages", {}).values():
            payload = resolve(ref).get("payload", {})
            assert "array" != resolve(payload).get("type"), key


def test_the_receipt_example_is_a_receipt() -> None:
    [example] = MESSAGES["feed.receipt:Message"]["examples"]

    receipt = Receipt.model_validate(example["payload"])

    assert ("accepted", str(receipt.id)) == (receipt.status, example["headers"]["Nats-Msg-Id"])


def test_an_unsigned_inbound_event_does_not_fit() -> None:
    message = MESSAGES["inbound.SignalRegistered"]
    [example] = message["examples"]
    unsigned = {k: v for k, v in example["payload"].items() if k != "ketenbussig"}

    found = message_errors(message, unsigned, example["headers"])

    assert ["'ketenbussig' is a required property"] == [e.split(": ", 1)[1] for e in found]


def test_a_message_that_breaks_its_schema_is_told_apart() -> None:
    message = MESSAGES["inbound.SignalRegistered"]
    [example] = message["examples"]
    broken = {**example["payload"], "subject": "Jan Jansen"}

    found = message_errors(message, broken, {"Nats-Msg-Id": str(uuid.uuid4())})

    assert ["subject: 'Jan Jansen' does not match '^[a-z2-7]{32}$'"] == found

"""The events in the AsyncAPI document as a partner meets them on the wire.

faststream documents a subscriber's payload as its handler reads it: a batch consumer's as an
array, a service reading several event types as one union. On the wire every message is one
CloudEvent, so here

- a stream consumer's array payload becomes the one event it holds;
- a union of contract events becomes one message per event type, shared between the channels
  that carry it, with the headers of where it travels (inbound, a domain stream, a feed);
- each inbound event gets a channel of its own with its exact subject
  (`in.{partner}.<domain>.<event>`);
- `data.sealed` of each event names its sections: per purpose the JWE, marked `x-purpose`, the
  schema of what it opens to (`x-ketenbus-section`, from the event's `sealed_models`) and the
  JWE's protected header (`eid`, `kcv`);
- `ketenbussig` of each event names the protected header of the event signature.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ketenbus_contracts.envelope import (
    PARTNER_ID_PATTERN,
    PSEUDONYM_PATTERN,
    CloudEvent,
    registered_types,
)
from ketenbus_contracts.feed import (
    FEED_SIGNATURE_HEADER,
    FEED_SIGNATURE_TYP,
    FEED_SIGNER,
    Receipt,
)
from ketenbus_contracts.handover import EarlyEducationForm
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    DATA_KEY_BYTES,
    KCV_BYTES,
    KCV_LABEL,
    SECTION_ALG,
    SECTION_ENC,
    allowed_purposes,
    fields_by_purpose,
)
from ketenbus_contracts.signing import ACCEPTED_ALGS, SIGNATURE_FIELD, SIGNATURE_TYP, SIGNING_ALG
from ketenbus_partner.feed import FEED_STREAM, feed_durable, feed_filter

SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"

# A JWS with detached payload, compact: `<protected header>..<signature>`.
DETACHED_JWS_PATTERN = r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$"
# A JWE compact serialisation: five base64url parts (the second empty under `dir`).
JWE_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KCV_LENGTH = (KCV_BYTES * 8 + 5) // 6  # base64url without padding

SECTION_HEADER = "SealedSectionHeader"
EVENT_SIGNATURE_HEADER = "EventSignatureHeader"
INBOUND_HEADERS = "InboundHeaders"
OUTBOX_HEADERS = "OutboxHeaders"
FEED_HEADERS = "FeedHeaders"

# Where an event travels, by the first token of the subject: its message's key prefix and
# headers.
INBOUND, STREAM, FEED = "inbound", "event", "feed"
KLUIS = "kluis"
EARLY_EDUCATION = "early-education"
HEADERS_OF = {INBOUND: INBOUND_HEADERS, STREAM: OUTBOX_HEADERS, FEED: FEED_HEADERS}


def event_classes() -> dict[str, type[CloudEvent[Any]]]:
    return {cls.__name__: cls for cls in registered_types().values()}


# How the backbone admits an inbound event's sections, without opening them.
SECTION_ADMISSION = (
    "The backbone checks each section of an inbound event when it admits the event, without "
    "opening it (only this header), and refuses the event with its reason code: a purpose the "
    "event's type carries no section of (`purpose-not-allowed`); not a JWE compact "
    "serialisation with `kid`, `eid` and `kcv` in its protected header (`malformed-section`); "
    "not `dir`/`A256GCM` (`wrong-section-algorithm`); a `kid` naming another purpose than the "
    "section's (`section-of-another-purpose`) or another child than the event's `subject` "
    "(`section-of-another-child`); an `eid` other than the event's `id` "
    "(`section-of-another-event`). What only the data key tells (a wrong key, a changed "
    "ciphertext) is found by whoever opens the section."
)


def header_schemas() -> dict[str, dict[str, Any]]:
    """The protected headers of a sealed section and of an event signature, and the NATS
    headers of each kind of event message."""
    signature = {
        "title": EVENT_SIGNATURE_HEADER,
        "description": (
            f"The protected header of `{SIGNATURE_FIELD}`: a JWS with detached payload "
            "(RFC 7515 appendix F) whose payload is the RFC 8785 (JCS) canonical form of the "
            f"envelope without `{SIGNATURE_FIELD}`, signed with the source's Ed25519 key (its "
            "`<partner>#sig` key in the partner registry). Any JOSE library verifies it given "
            f"those bytes as the detached payload; `{ACCEPTED_ALGS[1]}` is still accepted."
        ),
        "type": "object",
        "properties": {
            "alg": {"type": "string", "enum": list(ACCEPTED_ALGS), "default": SIGNING_ALG},
            "kid": {
                "type": "string",
                "pattern": PARTNER_ID_PATTERN.removesuffix("$") + "#sig$",
                "description": "`<source>#sig`: the envelope's `source` and its signing key",
            },
            "typ": {"type": "string", "const": SIGNATURE_TYP},
        },
        "required": ["alg", "kid"],
    }
    section = {
        "title": SECTION_HEADER,
        "description": (
            "The protected header of a sealed section (`data.sealed[purpose]`), a JWE compact "
            f"serialisation (`{SECTION_ALG}`/`{SECTION_ENC}`) under the {DATA_KEY_BYTES}-byte "
            "data key kluis keeps for (child, purpose, scope). The header is the additional "
            "authenticated data: `eid` binds the section to its event, so a section copied "
            "into another event does not open. `eid` and `kcv` are plain (not `crit`) "
            "members: a JOSE library that does not know them ignores them. " + SECTION_ADMISSION
        ),
        "type": "object",
        "properties": {
            "alg": {"type": "string", "const": SECTION_ALG},
            "enc": {"type": "string", "const": SECTION_ENC},
            "kid": {
                "type": "string",
                "pattern": PSEUDONYM_PATTERN.removesuffix("$") + r"/[a-z_]+/(.+/)?[1-9][0-9]*$",
                "description": (
                    "`<pseudonym>/<purpose>/<scope>/<version>`: the data key in kluis. The "
                    "scope (the writing partner, a record such as `arrangement/<id>`, or "
                    "`child`) may contain `/`: pseudonym and purpose are the first two parts, "
                    "the version the last (a kid of three parts, from before scopes, has "
                    "none). Ask kluis (`ketenbus.kluis.key`) for this kid's key to open the "
                    "section."
                ),
            },
            "eid": {
                "type": "string",
                "format": "uuid",
                "description": "The id of the event that carries the section",
            },
            "kcv": {
                "type": "string",
                "pattern": f"^[A-Za-z0-9_-]{{{KCV_LENGTH}}}$",
                "description": (
                    f"Key check value: the first {KCV_BYTES} bytes of HMAC-SHA256 under the "
                    f"data key of the label `{KCV_LABEL.decode()}`, base64url: tells a wrong "
                    "key from a tampered section"
                ),
            },
            "cty": {"type": "string", "const": "application/json"},
        },
        "required": ["alg", "enc", "kid", "eid", "kcv"],
    }
    msg_id = {
        "type": "string",
        "format": "uuid",
        "description": "The event id: JetStream drops a re-publish within the duplicate window.",
    }
    outbox = {
        "title": OUTBOX_HEADERS,
        "type": "object",
        "description": "What a service's outbox relay sets (and nothing else).",
        "properties": {"Nats-Msg-Id": msg_id},
        "required": ["Nats-Msg-Id"],
    }
    inbound = outbox | {
        "title": INBOUND_HEADERS,
        "description": (
            "What a partner sets when it publishes an event (JetStream publish). `Nats-Msg-Id` "
            "is not required, but without it a re-publish (after a lost acknowledgement) is "
            "stored twice; the partner kit always sets it."
        ),
        "required": [],
    }
    feed = {
        "title": FEED_HEADERS,
        "type": "object",
        "description": "What the feed service sets on each copy of an event.",
        "properties": {
            "Nats-Msg-Id": {
                "type": "string",
                "pattern": f"^{UUID_PATTERN}:{PARTNER_ID_PATTERN.removeprefix('^')}",
                "description": "`<event id>:<partner>`: one copy per event and reader",
            },
            FEED_SIGNATURE_HEADER: {
                "type": "string",
                "pattern": DETACHED_JWS_PATTERN,
                "description": (
                    "The feed's JWS with detached payload over the body bytes exactly as "
                    f"received: Ed25519, `kid` `{FEED_SIGNER}#sig` (after a rotation "
                    f"`{FEED_SIGNER}#sig-<n>`), `typ` `{FEED_SIGNATURE_TYP}`; verify with the "
                    f"key of that kid in the `{FEED_SIGNER}` entry of the bucket "
                    "`ketenbus-signers` (read it again for a kid it does not have). A copy's own "
                    f"`{SIGNATURE_FIELD}` is its source's and no longer covers a copy from "
                    "which sections were removed."
                ),
            },
        },
        "required": ["Nats-Msg-Id", FEED_SIGNATURE_HEADER],
    }
    return {
        s["title"]: s  # type: ignore[misc]
        for s in (signature, section, inbound, outbox, feed)
    }


def _kind(address: str) -> str:
    first = address.split(".", 1)[0]
    return {"in": INBOUND, "feed": FEED}.get(first, STREAM)


def _resolve(schemas: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema and schema["$ref"].startswith(SCHEMAS):
        schema = schemas[schema["$ref"].removeprefix(SCHEMAS)]
    return schema


def _event_names(
    schemas: dict[str, Any], schema: dict[str, Any], events: dict[str, Any]
) -> list[str] | None:
    """The contract events a payload schema stands for (None: it is no event or union)."""
    if schema.get("type") == "array" and "items" in schema:
        schema = schema["items"]
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(SCHEMAS)
        if name in events:
            return [name]
        return _event_names(schemas, schemas.get(name, {}), events) if name in schemas else None
    options = schema.get("oneOf") or schema.get("anyOf")
    if not options:
        return None
    names: list[str] = []
    for option in options:
        found = _event_names(schemas, option, events)
        if found is None:
            return None
        names.extend(n for n in found if n not in names)
    return names


def event_message_key(kind: str, event: str) -> str:
    return f"{kind}.{event}"


def _event_message(doc: dict[str, Any], kind: str, cls: type[CloudEvent[Any]]) -> str:
    key = event_message_key(kind, cls.__name__)
    summary = " ".join((cls.__doc__ or "").split()) or cls.event_type()
    where = {
        INBOUND: f"as its source publishes it on `{cls.inbound_subject('{partner}')}`",
        STREAM: f"as the backbone records it, on `{cls.outbound_subject()}`",
        FEED: (
            "as a reader's feed copy: only the sections (and `purposes`) the reader may hold "
            "and a current relation opens; each remaining JWE as it was"
        ),
    }[kind]
    doc["components"]["messages"][key] = {
        "name": cls.event_type(),
        "title": f"{cls.__name__} ({kind})",
        "summary": summary,
        "description": f"`{cls.event_type()}`, {where}.",
        "contentType": "application/json",
        "headers": {"$ref": SCHEMAS + HEADERS_OF[kind]},
        "payload": event_payload(kind, cls.__name__),
    }
    return key


def event_payload(kind: str, schema: str) -> dict[str, Any]:
    """An event's payload schema; inbound, its signature is required (unsigned: refused) and
    its sections only under the purposes its type carries (others: refused)."""
    if kind != INBOUND:
        return {"$ref": SCHEMAS + schema}
    allowed = sorted(allowed_purposes(event_classes()[schema]))
    sealed: dict[str, Any] = (
        {"propertyNames": {"enum": [p.value for p in allowed]}} if allowed else {"maxProperties": 0}
    )
    inbound = {
        "required": [SIGNATURE_FIELD],
        "properties": {"data": {"properties": {"sealed": sealed}}},
    }
    return {
        "allOf": [{"$ref": SCHEMAS + schema}, inbound],
        "description": f"`{schema}`, signed: an inbound event without `{SIGNATURE_FIELD}` is "
        "refused (`missing-signature`). "
        + (
            f"Its sections: {', '.join(f'`{p.value}`' for p in allowed)} (another purpose: "
            f"refused, `purpose-not-allowed`), each admitted as `{SECTION_HEADER}` says."
            if allowed
            else "It carries no sections (one: refused, `purpose-not-allowed`)."
        ),
    }


def event_schema_of(payload: dict[str, Any]) -> str | None:
    """The event schema an event message's payload names (see `event_payload`)."""
    ref = payload.get("$ref") or payload.get("allOf", [{}])[0].get("$ref", "")
    name = str(ref).removeprefix(SCHEMAS)
    return name if name in event_classes() else None


def split_event_messages(doc: dict[str, Any]) -> None:
    """One message per contract event on every channel that carries events."""
    events = event_classes()
    components = doc["components"]
    schemas, messages = components["schemas"], components["messages"]
    replaced: set[str] = set()
    for key, channel in doc["channels"].items():
        address = channel.get("address")
        if address is None:
            continue
        kind = _kind(address)
        new: dict[str, Any] = {}
        for name, ref in channel.get("messages", {}).items():
            message_key = ref["$ref"].removeprefix(MESSAGES)
            message = messages[message_key]
            payload = message.get("payload", {})
            found = _event_names(schemas, payload, events)
            if not found:
                new[name] = ref
                continue
            replaced.add(message_key)
            for event in found:
                new[event] = {"$ref": MESSAGES + _event_message(doc, kind, events[event])}
        if new.keys() != channel.get("messages", {}).keys():
            channel["messages"] = new
            _retarget_operations(doc, key, list(new))
    for message_key in replaced:
        payload_ref = messages.pop(message_key).get("payload", {}).get("$ref", "")
        # faststream's own payload schemas (`<title>:Message:Payload`) go with their message.
        if ":Payload" in payload_ref:
            schemas.pop(payload_ref.removeprefix(SCHEMAS), None)


def _retarget_operations(doc: dict[str, Any], channel_key: str, names: list[str]) -> None:
    ref = f"#/channels/{channel_key}"
    for operation in doc["operations"].values():
        if operation.get("channel", {}).get("$ref") == ref:
            operation["messages"] = [{"$ref": f"{ref}/messages/{name}"} for name in names]


def inbound_channels(doc: dict[str, Any]) -> None:
    """A channel per inbound event with its exact subject, and the backbone receiving it."""
    events = event_classes()
    inbound: list[type[CloudEvent[Any]]] = []
    for channel in doc["channels"].values():
        address = channel.get("address") or ""
        if _kind(address) != INBOUND:
            continue
        for name in channel.get("messages", {}):
            cls = events.get(name)
            if cls is not None and cls not in inbound:
                inbound.append(cls)
    for cls in inbound:
        key = f"in.{cls.domain}.{cls.name}"
        doc["channels"][key] = {
            "address": cls.inbound_subject("{partner}"),
            "title": f"{cls.domain}: {cls.name} (inbound)",
            "description": (
                f"A partner publishes `{cls.event_type()}` here, signed (`{SIGNATURE_FIELD}`) "
                "and with everything about the child sealed, with JetStream (`Nats-Msg-Id` = "
                "the event id). Its NATS user may publish only under `in.<its id>.>`, and "
                "`source` must be that id. The backbone answers each message on "
                "`feed.<partner>.receipt`: `accepted` with the INBOUND stream sequence, or "
                "`refused` with a reason code (a refused message is dead-lettered, never "
                "retried)."
            ),
            "parameters": {
                "partner": {
                    "description": (
                        "The publishing partner's registered id (pattern "
                        f"`{PARTNER_ID_PATTERN}`); it equals the event's `source`."
                    )
                }
            },
            "messages": {
                cls.__name__: {"$ref": MESSAGES + event_message_key(INBOUND, cls.__name__)}
            },
            "x-ketenbus-streams": ["INBOUND"],
        }
        doc["operations"][f"inbound.{cls.domain}.{cls.name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"Receive {cls.name} from a partner",
            "summary": " ".join((cls.__doc__ or "").split()) or cls.event_type(),
            "security": [
                {"$ref": "#/components/securitySchemes/nats"},
                {"$ref": "#/components/securitySchemes/eventSignature"},
            ],
            "messages": [{"$ref": f"#/channels/{key}/messages/{cls.__name__}"}],
        }


def section_schemas(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`(sections, definitions)`: per purpose the schema of what `model`'s section of that
    purpose opens to, and the schemas they refer to."""
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    definitions = schema.pop("$defs", {})
    required = set(schema.get("required", []))
    sections: dict[str, Any] = {}
    for purpose, names in fields_by_purpose(model).items():
        sections[purpose.value] = {
            "title": f"{model.__name__}.{purpose.value}",
            "description": (
                f"What the `{purpose.value}` section of `{model.__name__}` holds once opened: "
                "the JWE's plaintext, a UTF-8 JSON object of these fields (fields without a "
                "value left out). " + " ".join((model.__doc__ or "").split())
            ).strip(),
            "type": "object",
            "x-purpose": purpose.value,
            "properties": {n: schema["properties"][n] for n in names},
            "required": [n for n in names if n in required],
            "additionalProperties": False,
        }
    return sections, definitions


def describe_dossier_sections(schemas: dict[str, Any]) -> None:
    """A handover dossier's sections (`data.sections[].sealed`), each sealed under `handover`:
    an OSO category's content, or the early-education form."""
    sections, definitions = section_schemas(EarlyEducationForm)
    for name, definition in definitions.items():
        schemas.setdefault(name, definition)
    for section in sections.values():
        schemas[section["title"]] = section
    for name in ("DossierSection", "DeliveredSection"):
        sealed = schemas.get(name, {}).get("properties", {}).get("sealed")
        if sealed is None:
            continue
        sealed.update(
            {
                "pattern": JWE_PATTERN,
                "description": (
                    "The category's content sealed under `handover` (a JWE compact "
                    f"serialisation, protected header `{SECTION_HEADER}`): an OSO category as "
                    "the OSO adapter reads it, or for `early-education` the early-education "
                    "form. Bound to the event it was sealed in: in `dossier-prepared` that "
                    "event itself (`eid` its `id`, `kid` naming its `subject` and `handover`), "
                    f"admitted as `{SECTION_HEADER}` says; in a `DeliveredSection` the event "
                    "`sealed_in` names."
                ),
                "x-purpose": Purpose.HANDOVER.value,
                "x-ketenbus-protected-header": {"$ref": SCHEMAS + SECTION_HEADER},
                "x-ketenbus-section-of-category": {
                    EARLY_EDUCATION: {"$ref": SCHEMAS + f"EarlyEducationForm.{Purpose.HANDOVER}"}
                },
            }
        )


def describe_sections(doc: dict[str, Any]) -> None:
    """`data.sealed` and `ketenbussig` of every event schema, spelled out."""
    schemas: dict[str, Any] = doc["components"]["schemas"]
    describe_dossier_sections(schemas)
    for name, schema in header_schemas().items():
        schemas[name] = schema
    for name, cls in event_classes().items():
        envelope = schemas.get(name)
        if envelope is None:
            continue
        signature = envelope["properties"].get(SIGNATURE_FIELD)
        if signature is not None:
            signature["x-ketenbus-protected-header"] = {"$ref": SCHEMAS + EVENT_SIGNATURE_HEADER}
        data = _resolve(schemas, envelope["properties"]["data"])
        sealed = data.get("properties", {}).get("sealed")
        if sealed is None:
            continue
        properties: dict[str, Any] = {}
        for model in cls.sealed_models:
            sections, definitions = section_schemas(model)
            for def_name, definition in definitions.items():
                schemas.setdefault(def_name, definition)
            for purpose, section in sections.items():
                section_name = section["title"]
                schemas[section_name] = section
                properties[purpose] = {
                    "type": "string",
                    "pattern": JWE_PATTERN,
                    "description": (
                        f"The `{purpose}` section: a JWE compact serialisation "
                        f"(`{SECTION_ALG}`/`{SECTION_ENC}`, protected header "
                        f"`{SECTION_HEADER}`) that opens to `{section_name}`."
                    ),
                    "x-purpose": purpose,
                    "x-ketenbus-section": {"$ref": SCHEMAS + section_name},
                    "x-ketenbus-protected-header": {"$ref": SCHEMAS + SECTION_HEADER},
                }
        if properties:
            sealed["properties"] = properties
        sealed["description"] = (
            "Per purpose, a JWE compact serialisation of the fields sealed under it "
            f"(protected header `{SECTION_HEADER}`)"
            + (
                f"; this event's sections: {', '.join(f'`{p}`' for p in properties)}"
                if properties
                else ""
            )
        )


RECEIPT_HEADERS = "ReceiptHeaders"
DEAD_LETTER = "DeadLetter"
DEAD_LETTER_HEADERS = "DeadLetterHeaders"
DEAD_LETTER_FIELDS = (
    "service", "reason", "details", "subject", "partner", "stream_seq", "refused_at", "size",
    "sha256", "original",
)  # fmt: skip


def receipt_headers(doc: dict[str, Any]) -> None:
    """The receipt's NATS headers (faststream documents the receipt publisher's payload only)."""
    schemas, messages = doc["components"]["schemas"], doc["components"]["messages"]
    schemas[RECEIPT_HEADERS] = {
        "title": RECEIPT_HEADERS,
        "type": "object",
        "properties": {
            "Nats-Msg-Id": {
                "type": "string",
                "format": "uuid",
                "description": "The receipt's id: one receipt per inbound message",
            }
        },
        "required": ["Nats-Msg-Id"],
    }
    for message in messages.values():
        if message.get("payload") == {"$ref": SCHEMAS + "Receipt"}:
            message.pop("correlationId", None)
            message["name"] = Receipt.event_type()
            message["headers"] = {"$ref": SCHEMAS + RECEIPT_HEADERS}


def dead_letters(doc: dict[str, Any]) -> None:
    """`ketenbus.deadletter.<service>`: what a service refused, for the operators (no partner
    reads it); the record `services/runtime/deadletter.py` writes."""
    schemas, messages = doc["components"]["schemas"], doc["components"]["messages"]
    code = {"type": "string", "pattern": r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"}
    schemas[DEAD_LETTER] = {
        "title": DEAD_LETTER,
        "description": (
            "A refused message: the reason without any input value, where it came from, and "
            "the original only sealed to kluis (it may hold personal data in clear), or "
            "withheld (too large, no key, or beyond the dead letter's size limit)."
        ),
        "type": "object",
        "properties": {
            "service": {"type": "string", "description": "The service that refused it"},
            "reason": {**code, "description": "The refusal's code, e.g. `invalid-event`"},
            "details": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Where the input failed (field paths and error kinds, no values)",
            },
            "subject": {"type": "string", "description": "The subject it arrived on"},
            "partner": {
                "anyOf": [{"type": "string", "pattern": PARTNER_ID_PATTERN}, {"type": "null"}],
                "description": "The publishing partner of an inbound subject",
            },
            "stream_seq": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "refused_at": {"type": "string", "format": "date-time"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "original": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "sealed_to": {"type": "string", "const": KLUIS},
                            "jwe": {
                                "type": "string",
                                "pattern": JWE_PATTERN,
                                "description": "JWE (ECDH-ES+A256KW/A256GCM) to kluis's X25519 "
                                'key of `{"original_b64": <the bytes, base64>}`',
                            },
                        },
                        "required": ["sealed_to", "jwe"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"withheld": {"type": "string"}},
                        "required": ["withheld"],
                        "additionalProperties": False,
                    },
                ]
            },
        },
        "required": list(DEAD_LETTER_FIELDS),
        "additionalProperties": False,
        "examples": [
            {
                "service": "signalling",
                "reason": "invalid-event",
                "details": [{"type": "json_invalid", "loc": []}],
                "subject": "in.bs-de-regenboog.signalling.signal-registered",
                "partner": "bs-de-regenboog",
                "stream_seq": 17,
                "refused_at": "2026-09-14T09:30:00.125000+00:00",
                "size": 5,
                "sha256": "0d0a1b1e0b4e6b2b8b4f0b9e2f6d3c1a4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091",
                "original": {"withheld": "no key to seal the original to"},
            }
        ],
    }
    schemas[DEAD_LETTER_HEADERS] = {
        "title": DEAD_LETTER_HEADERS,
        "type": "object",
        "properties": {
            "Ketenbus-Reason": code,
            "Nats-Msg-Id": {
                "type": "string",
                "description": "`<service>:<first subject token>:<stream sequence>`, when the "
                "message came from a stream: one dead letter per refused message",
            },
        },
        "required": ["Ketenbus-Reason"],
        "examples": [
            {"Ketenbus-Reason": "invalid-event", "Nats-Msg-Id": "signalling:in:17"},
        ],
    }
    messages[DEAD_LETTER] = {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A message a service refused, with its reason code.",
        "contentType": "application/json",
        "headers": {"$ref": SCHEMAS + DEAD_LETTER_HEADERS},
        "payload": {"$ref": SCHEMAS + DEAD_LETTER},
    }
    doc["channels"]["deadletter"] = {
        "address": "ketenbus.deadletter.{service}",
        "title": "Dead letters",
        "description": (
            "Refused input, per refusing service, never retried (stream DEADLETTER): a "
            "partner learns of its own refusals from its receipts (`feed.<partner>.receipt`)."
        ),
        "parameters": {"service": {"description": "The service that refused the message"}},
        "messages": {DEAD_LETTER: {"$ref": MESSAGES + DEAD_LETTER}},
        "x-ketenbus-streams": ["DEADLETTER"],
    }
    doc["operations"]["deadletter"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/deadletter"},
        "summary": "A service dead-letters what it refused.",
        "messages": [{"$ref": f"#/channels/deadletter/messages/{DEAD_LETTER}"}],
    }


FEED_READING = (
    " A partner reads its feed (event copies and receipts) by fetching from its durable pull "
    "consumer `{durable}` on stream `{stream}` (filter `{filter}`, which the backbone creates "
    "and owns; `$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}`) and acknowledging each entry; "
    "its NATS user may do nothing else with the stream."
)


def feed_reading(doc: dict[str, Any]) -> None:
    """How a partner reads the feed channels: its own durable consumer."""
    partner = "{partner}"
    facts = {
        "stream": FEED_STREAM,
        "durable": feed_durable(partner),
        "filterSubjects": [feed_filter(partner)],
        "ackPolicy": "explicit",
    }
    text = FEED_READING.format(
        durable=feed_durable("<partner>"), stream=FEED_STREAM, filter=feed_filter("<partner>")
    )
    for channel in doc["channels"].values():
        address = channel.get("address") or ""
        if address.startswith("feed.{partner}."):
            if "durable consumer" not in channel.get("description", ""):
                channel["description"] = channel.get("description", "").rstrip() + text
            channel["x-ketenbus-consumer"] = facts


def complete(doc: dict[str, Any]) -> None:
    split_event_messages(doc)
    feed_reading(doc)
    inbound_channels(doc)
    describe_sections(doc)
    receipt_headers(doc)
    if "ketenbus.deadletter.{service}" not in {c.get("address") for c in doc["channels"].values()}:
        dead_letters(doc)

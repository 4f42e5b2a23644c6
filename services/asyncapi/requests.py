"""The request/reply operations in the AsyncAPI document, as a partner calls them.

faststream sees a request handler's body as bytes or a string: what it is (a JWS compact
serialisation of a signed request) is said here. Each request channel gets one message whose
payload names, in `x-ketenbus-jws`, the JWS's protected header (`alg`, `kid` = the bare partner
id, `typ`) and its claims (the request model of the contracts); the security schemes say how a
partner connects and signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN
from ketenbus_contracts.handover import (
    ATTACHMENT_GET_SUBJECT,
    ATTACHMENT_PUT_SUBJECT,
    ATTACHMENT_REQUEST_HEADER,
    ATTACHMENT_REQUEST_TYP,
    AttachmentRequest,
)
from ketenbus_contracts.plan import (
    PLAN_QUERY_SUBJECT,
    PLAN_QUERY_TYP,
    WORKLIST_QUERY_SUBJECT,
    PlanQuery,
)
from ketenbus_contracts.pseudonym import (
    MAX_BATCH,
    PSEUDONYM_REQUEST_TYP,
    PSEUDONYM_SERVICE,
    PSEUDONYM_SUBJECT,
    PseudonymRequest,
)
from ketenbus_contracts.sealing import (
    DELIVERY_ALG,
    DELIVERY_ENC,
    KLUIS_BATCH_SUBJECT,
    KLUIS_KEY_SUBJECT,
    KLUIS_REQUEST_TYP,
    KLUIS_RESEAL_SUBJECT,
    KLUIS_SEAL_SUBJECT,
    MAX_BATCH_ITEMS,
    MAX_REQUEST_SKEW_SECONDS,
    REQUEST_SIGNING_ALGS,
    KeyRequest,
    KluisBatchRequest,
    ResealRequest,
    SealRequest,
)
from services.asyncapi.events import MESSAGES, SCHEMAS

JWS_COMPACT_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
KLUIS_PARTNER = "kluis"

FRESHNESS = (
    f"`issued_at` (Unix seconds) must lie within {MAX_REQUEST_SKEW_SECONDS} s of the "
    "service's clock (else `stale-request`); a `nonce` (16 to 64 of `A-Za-z0-9_-`, unique per "
    "request) seen again within that window is `replayed-request`, and a request without "
    "`issued_at` or `nonce` is `invalid-request`; `partner` must equal the header's `kid`."
)


@dataclass(frozen=True)
class Request:
    """One request subject: its claims model, JWS `typ`, and what to know about it."""

    subject: str
    claims: type[BaseModel]
    typ: str
    description: str
    header: str | None = None  # the NATS header that carries the JWS (else: the body)
    op: str | None = None  # the claims' `op` on this subject, where one model serves two
    required: tuple[str, ...] = ()  # claims this subject needs beyond the model's required


REQUESTS = (
    Request(
        KLUIS_KEY_SUBJECT,
        KeyRequest,
        KLUIS_REQUEST_TYP,
        "Ask kluis for the data key of (child, purpose, scope): without `version` the current "
        "key to seal with, with `version` that version to open a section (its kid names it). "
        f"The key comes back in `KluisAnswer.key`, a JWE ({DELIVERY_ALG}/{DELIVERY_ENC}) to "
        "the partner's registered X25519 key, whose protected header names the kid. kluis "
        "answers only when the processing register lets the partner's role hold the purpose "
        "and a current relation with the child opens the scope (`no-relation`, "
        "`role-not-permitted`, `scope-not-permitted`, `relation-ended`, `child-erased` "
        "otherwise).",
    ),
    Request(
        KLUIS_SEAL_SUBJECT,
        SealRequest,
        KLUIS_REQUEST_TYP,
        "Have kluis seal a section: for a partner that may write the purpose but holds no "
        "relation that opens the scope yet, such as a first signaller (its signal is what "
        "starts the relation) or a partner writing under another's record; a key request "
        "answered `no-relation`, `relation-ended`, `scope-not-permitted` or "
        "`role-not-permitted` is the sign to seal here instead. `section` is the section's "
        f"JSON as a JWE ({DELIVERY_ALG}/{DELIVERY_ENC}) to kluis's X25519 public key (the "
        f"`{KLUIS_PARTNER}` entry of the partner registry); `event_id` the event it goes into. "
        "The sealed section comes back in `KluisAnswer.token`.",
    ),
    Request(
        KLUIS_RESEAL_SUBJECT,
        ResealRequest,
        KLUIS_REQUEST_TYP,
        "Bind a sealed section to another event (a backbone service relaying a section it "
        "cannot open); the section keeps its scope. The new section comes back in "
        "`KluisAnswer.token`.",
    ),
    Request(
        KLUIS_BATCH_SUBJECT,
        KluisBatchRequest,
        KLUIS_REQUEST_TYP,
        f"Up to {MAX_BATCH_ITEMS} key and seal items in one request (an import of a whole "
        "school), each decided and recorded on its own; the seal items' sections travel in "
        f"`sections`, one JWE to kluis's X25519 key. A batch is answered once (`nonce`).",
    ),
    Request(
        PLAN_QUERY_SUBJECT,
        PlanQuery,
        PLAN_QUERY_TYP,
        "Ask for a child's integral plan (`op` `plan`, `child` its pseudonym), as the asking "
        "partner may see it: sections stay sealed, opened with the partner's own keys.",
        op="plan",
    ),
    Request(
        WORKLIST_QUERY_SUBJECT,
        PlanQuery,
        PLAN_QUERY_TYP,
        "Ask for the partner's own worklist (`op` `worklist`, no `child`): its open actions "
        "and who reports to it.",
        op="worklist",
    ),
    Request(
        PSEUDONYM_SUBJECT,
        PseudonymRequest,
        PSEUDONYM_REQUEST_TYP,
        f"Turn up to {MAX_BATCH} identifiers (BSN, a school's BRIN + pupil key, a household "
        "key) into pseudonyms. The identifiers travel only in `identifiers`, a JWE "
        f'({DELIVERY_ALG}/{DELIVERY_ENC}) of `{{"identifiers": [...]}}` to the pseudonym '
        f"service's X25519 public key (the `{PSEUDONYM_SERVICE}` entry of the partner "
        "registry); in clear only how many (`count`). Answered once (`nonce`).",
    ),
    Request(
        ATTACHMENT_PUT_SUBJECT,
        AttachmentRequest,
        ATTACHMENT_REQUEST_TYP,
        "The handover's sender hands over one chunk of a sealed attachment: the body is the "
        f"chunk; the header `{ATTACHMENT_REQUEST_HEADER}` carries the signed request (`op` "
        "`put`, the chunk's `sha256`, `last` on the last one).",
        header=ATTACHMENT_REQUEST_HEADER,
        op="put",
        required=("sha256",),
    ),
    Request(
        ATTACHMENT_GET_SUBJECT,
        AttachmentRequest,
        ATTACHMENT_REQUEST_TYP,
        "The sender, or the receiver once the dossier is delivered, gets one chunk of a "
        f"sealed attachment; the header `{ATTACHMENT_REQUEST_HEADER}` carries the signed "
        "request (`op` `get`); the body is empty.",
        header=ATTACHMENT_REQUEST_HEADER,
        op="get",
    ),
)

ATTACHMENT_ANSWER = "AttachmentAnswer"


def _typ_name(typ: str) -> str:
    head = typ.removesuffix("+jws")
    return "".join(part.capitalize() for part in head.split("-")) + "Header"


def request_header_schema(typ: str) -> dict[str, Any]:
    return {
        "title": _typ_name(typ),
        "description": (
            "The protected header of a signed request (JWS compact serialisation, signed with "
            "the partner's Ed25519 key). Unlike an event signature (`<partner>#sig`), `kid` is "
            "the bare partner id."
        ),
        "type": "object",
        "properties": {
            "alg": {
                "type": "string",
                "enum": list(REQUEST_SIGNING_ALGS),
                "default": REQUEST_SIGNING_ALGS[0],
            },
            "kid": {
                "type": "string",
                "pattern": PARTNER_ID_PATTERN,
                "description": "The signing partner's id",
            },
            "typ": {"type": "string", "const": typ},
        },
        "required": ["alg", "kid"],
    }


def attachment_answer_schema() -> dict[str, Any]:
    return {
        "title": ATTACHMENT_ANSWER,
        "description": (
            '`{"ok": true}` for a put, `{"ok": true, "chunks": N, "data": <base64>}` for '
            'a get, or `{"ok": false, "reason": <code>}`: `unsigned-request`, '
            "`invalid-request`, `unknown-partner`, `bad-signature`, `stale-request`, "
            "`replayed-request`, `unknown-handover`, `not-the-sender`, `not-a-party`, "
            "`invalid`, `out-of-order`, `too-large`, `exists`, `not-found`, `failed`."
        ),
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "reason": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
            "chunks": {"type": "integer", "minimum": 1},
            "data": {"type": "string", "contentEncoding": "base64"},
        },
        "required": ["ok"],
        "additionalProperties": False,
        "examples": [{"ok": True, "chunks": 3, "data": "JVBERi0xLjcK"}],
    }


def _claims_schema(doc: dict[str, Any], request: Request) -> str:
    schemas: dict[str, Any] = doc["components"]["schemas"]
    schema = request.claims.model_json_schema(ref_template=SCHEMAS + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    properties = schema["properties"]
    properties["issued_at"]["description"] = (
        f"Unix seconds; within {MAX_REQUEST_SKEW_SECONDS} s of the service's clock"
    )
    properties["partner"]["description"] = "The asking partner: equals the header's `kid`"
    name = request.claims.__name__
    if request.op is not None:
        properties["op"] = {**properties["op"], "const": request.op}
        properties["op"].pop("enum", None)
        properties["op"].pop("default", None)
        name = f"{name}.{request.op}"
        schema["title"] = name
    # What a client must send: the models fill `issued_at`, `nonce` and `op` in when a client
    # builds them, but a request without them is no fresh, once-only request of this subject.
    must = ["op", "issued_at", "nonce", *request.required]
    required = schema.setdefault("required", [])
    required.extend(n for n in must if n in properties and n not in required)
    schemas[name] = schema
    return name


def complete(doc: dict[str, Any]) -> None:
    """A message per request subject with its JWS header and claims; the attachment answers;
    the security schemes."""
    components = doc["components"]
    schemas, messages = components["schemas"], components["messages"]
    schemas[ATTACHMENT_ANSWER] = attachment_answer_schema()
    by_address = {c.get("address"): (k, c) for k, c in doc["channels"].items()}
    for request in REQUESTS:
        if request.subject not in by_address:
            continue  # a broker without that service (a test's)
        key, channel = by_address[request.subject]
        header_name = _typ_name(request.typ)
        schemas[header_name] = request_header_schema(request.typ)
        claims = _claims_schema(doc, request)
        jws = {
            "type": "string",
            "pattern": JWS_COMPACT_PATTERN,
            "description": (
                f"A JWS compact serialisation (`typ` `{request.typ}`) of `{claims}`, signed "
                f"with the partner's Ed25519 key. {FRESHNESS}"
            ),
            "contentMediaType": "application/jose",
            "x-ketenbus-jws": {
                "protectedHeader": {"$ref": SCHEMAS + header_name},
                "claims": {"$ref": SCHEMAS + claims},
            },
        }
        message_key = f"request.{key}"
        message: dict[str, Any] = {
            "name": request.subject,
            "title": f"{claims} (signed)",
            "summary": request.description.split(". ")[0].rstrip(".") + ".",
            "description": request.description,
        }
        if request.header is None:
            message["contentType"] = "application/jose"
            message["payload"] = jws
        else:
            message["contentType"] = "application/octet-stream"
            message["headers"] = {
                "type": "object",
                "properties": {request.header: jws},
                "required": [request.header],
            }
            message["payload"] = {
                "type": "string",
                "format": "binary",
                "description": "A put: the chunk's bytes (bound by the claims' `sha256`); a "
                "get: empty",
            }
        old = [ref["$ref"].removeprefix(MESSAGES) for ref in channel["messages"].values()]
        for name in old:
            payload_ref = messages.pop(name).get("payload", {}).get("$ref", "")
            if ":Payload" in payload_ref:
                schemas.pop(payload_ref.removeprefix(SCHEMAS), None)
        messages[message_key] = message
        channel["messages"] = {"Request": {"$ref": MESSAGES + message_key}}
        channel["description"] = request.description
        ref = f"#/channels/{key}"
        for operation in doc["operations"].values():
            if operation.get("channel", {}).get("$ref") != ref:
                continue
            operation["messages"] = [{"$ref": f"{ref}/messages/Request"}]
            operation["security"] = [
                {"$ref": "#/components/securitySchemes/nats"},
                {"$ref": "#/components/securitySchemes/requestSignature"},
            ]
            reply = operation.get("reply")
            if reply is not None and request.header is not None:
                reply_key = reply["channel"]["$ref"].removeprefix("#/channels/")
                for ref_ in doc["channels"][reply_key]["messages"].values():
                    reply_message = messages[ref_["$ref"].removeprefix(MESSAGES)]
                    payload_ref = reply_message["payload"].get("$ref", "")
                    if ":Payload" in payload_ref:
                        schemas.pop(payload_ref.removeprefix(SCHEMAS), None)
                    reply_message["payload"] = {"$ref": SCHEMAS + ATTACHMENT_ANSWER}
    components["securitySchemes"] = security_schemes()
    _string_discriminators(schemas)
    health(doc)
    instance_ping(doc)


HEALTH_ADDRESS = "ketenbus.health.{service}"


def health(doc: dict[str, Any]) -> None:
    """`ketenbus.health.<service>`: the supervisor's liveness probe, answered with the service's
    health report by a running service (core NATS request/reply; no partner may send it)."""
    messages = doc["components"]["messages"]
    messages["health.request"] = {
        "name": "health",
        "title": "Health probe",
        "summary": "Is the service running? (empty body)",
        "payload": {"type": "string", "maxLength": 0},
        "examples": [{"name": "health.request", "payload": ""}],
    }
    task = {
        "type": "object",
        "required": ["failures", "restarts", "error"],
        "properties": {
            "failures": {"type": "integer", "minimum": 0, "description": "Failures in a row"},
            "restarts": {"type": "integer", "minimum": 0},
            "error": {"type": "string", "description": "The last error's type name, or empty"},
            "since_ok_seconds": {
                "type": ["number", "null"],
                "minimum": 0,
                "description": "Seconds since the task last made progress (the ticks: since "
                "the last tick that ran through); null before its first",
            },
        },
        "additionalProperties": False,
    }
    messages["health.reply"] = {
        "name": "health-report",
        "title": "Health answer",
        "summary": "The service's health report: ready when its store answers, it is connected "
        "and none of its watched tasks is failing (`ketenbus status` shows it).",
        "payload": {
            "type": "object",
            "required": ["service", "nats", "tasks", "store", "ready"],
            "properties": {
                "service": {"type": "string"},
                "nats": {"type": "boolean", "description": "Connected to NATS"},
                "tasks": {"type": "object", "additionalProperties": task},
                "instance": {
                    "type": "string",
                    "description": "This instance's name, where a service runs as several",
                },
                "partitions": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "The partitions this instance consumes",
                },
                "duties": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The once-only duties this instance holds",
                },
                "outbox_lag": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Events recorded and not yet relayed (a service with an outbox)",
                },
                "store": {
                    "type": "string",
                    "description": "`ok`, `no answer`, or the type name of the store's error",
                },
                "ready": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "examples": [
            {
                "name": "health.reply",
                "payload": {
                    "service": "signalling",
                    "nats": True,
                    "tasks": {"consumers": {"failures": 0, "restarts": 0, "error": ""}},
                    "outbox_lag": 0,
                    "store": "ok",
                    "ready": True,
                },
            }
        ],
    }
    doc["channels"]["health"] = {
        "address": HEALTH_ADDRESS,
        "title": "Health",
        "description": "The supervisor asks each service whether it runs and is ready; it "
        "answers its health report.",
        "parameters": {"service": {"description": "The service's name"}},
        "messages": {"Request": {"$ref": MESSAGES + "health.request"}},
    }
    doc["channels"]["health.reply"] = {
        "address": None,
        "description": "The answer to a health probe, on the supervisor's inbox.",
        "messages": {"Message": {"$ref": MESSAGES + "health.reply"}},
    }
    doc["operations"]["health"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/health"},
        "summary": "A service answers the supervisor's health probe.",
        "messages": [{"$ref": "#/channels/health/messages/Request"}],
        "reply": {
            "channel": {"$ref": "#/channels/health.reply"},
            "messages": [{"$ref": "#/channels/health.reply/messages/Message"}],
        },
    }
    for server in doc.get("servers", {}).values():
        server["security"] = [{"$ref": "#/components/securitySchemes/nats"}]


INSTANCE_ADDRESS = "ketenbus.instance.{service}.{token}"


def instance_ping(doc: dict[str, Any]) -> None:
    """`ketenbus.instance.<service>.<token>`: an instance of a service answers there for as long
    as its connection lives; the others ask before taking a lease it holds
    (services/runtime/leases.py). Services only: no partner may send or read it."""
    messages = doc["components"]["messages"]
    messages["instance.request"] = {
        "name": "instance-ping",
        "title": "Instance ping",
        "summary": "Is this instance still there? (empty body)",
        "payload": {"type": "string", "maxLength": 0},
        "examples": [{"name": "instance.request", "payload": ""}],
    }
    messages["instance.reply"] = {
        "name": "instance-alive",
        "title": "Instance alive",
        "summary": "The instance is there (no responders: it is gone).",
        "payload": {"type": "string", "const": "alive"},
        "examples": [{"name": "instance.reply", "payload": "alive"}],
    }
    doc["channels"]["instance"] = {
        "address": INSTANCE_ADDRESS,
        "title": "Instance",
        "description": "Where an instance of a service answers while it lives.",
        "parameters": {
            "service": {"description": "The service's name"},
            "token": {"description": "The instance's random token, new at each start"},
        },
        "messages": {"Request": {"$ref": MESSAGES + "instance.request"}},
    }
    doc["channels"]["instance.reply"] = {
        "address": None,
        "description": "The instance's answer, on the asking instance's inbox.",
        "messages": {"Message": {"$ref": MESSAGES + "instance.reply"}},
    }
    doc["operations"]["instance"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/instance"},
        "summary": "An instance answers another instance's ping.",
        "messages": [{"$ref": "#/channels/instance/messages/Request"}],
        "reply": {
            "channel": {"$ref": "#/channels/instance.reply"},
            "messages": [{"$ref": "#/channels/instance.reply/messages/Message"}],
        },
    }


def _string_discriminators(node: Any) -> None:
    """pydantic writes OpenAPI's `discriminator` object; an AsyncAPI schema names the
    property only (faststream does the same for the schemas it writes)."""
    if isinstance(node, dict):
        found = node.get("discriminator")
        if isinstance(found, dict):
            node["discriminator"] = found["propertyName"]
        for value in node.values():
            _string_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _string_discriminators(value)


def security_schemes() -> dict[str, Any]:
    return {
        "nats": {
            "type": "userPassword",
            "description": (
                "Each partner connects as its own NATS user: its id in the partner registry "
                "(`infra/partners.yaml`, or the entry's `nats.user`); in production with the "
                "public user NKEY the entry names (`nats.nkey`), else with the password the "
                "operator issues (kept by the backbone as `KETENBUS_NATS_PW_<USER>`, the id "
                "upper-cased with `-` as `_`). The generated authorization "
                "(`infra/nats/auth.conf`) lets a partner publish only under `in.<its id>.>` "
                "and on the request subjects its role may use, receive replies only on its "
                "own inbox prefix `_INBOX.<its id>.>`, and read only its own feed "
                "`feed.<its id>.>` through the durable consumer `feed-<its id>` that the "
                "backbone creates."
            ),
        },
        "eventSignature": {
            "type": "asymmetricEncryption",
            "description": (
                "Every inbound event is signed by its source: `ketenbussig`, a JWS with "
                "detached payload (Ed25519; protected header `EventSignatureHeader`: `kid` "
                "`<partner>#sig`, `typ` `ketenbus-event+jws`) over the RFC 8785 canonical form "
                "of the envelope without `ketenbussig`, verified against the public key the "
                "partner registry holds for the source. Sections about the child are JWEs "
                "under data keys of kluis (`SealedSectionHeader`)."
            ),
        },
        "requestSignature": {
            "type": "asymmetricEncryption",
            "description": (
                "Every request to a backbone service is a JWS compact serialisation signed "
                "with the partner's Ed25519 key: protected header `alg` `Ed25519`, `kid` the "
                "bare partner id, `typ` per service (`kluis-request+jws`, `plan-query+jws`, "
                "`pseudonym-request+jws`, `attachment-request+jws`). " + FRESHNESS + " Keys "
                "and identifiers come back, or go, as JWEs (ECDH-ES+A256KW/A256GCM) to the "
                "X25519 key registered for the recipient: a partner's own, or the `kluis` or "
                "`pseudonym` entry of the partner registry."
            ),
        },
    }

"""kluis's subscribers: relations from signalling's events; key requests over request/reply.

- `ketenbus.kluis.key`, `ketenbus.kluis.seal`, `ketenbus.kluis.reseal` (core NATS
  request/reply, queue group `kluis`): the body is a JWS signed by the requesting partner; the
  answer is a `KluisAnswer` JSON (a data key only ever as a JWE to the requester's X25519 key).
- `ketenbus.kluis.batch`: many key and seal requests in one signed `KluisBatchRequest` (an
  import of a whole school); the answer is a `KluisBatchAnswer`, one `KluisAnswer` per item.
- Durable pull consumer `kluis` on stream SIGNALLING: a registered signal gives its signaller a
  relation with the child; a withdrawn signal ends it.
"""

from __future__ import annotations

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.sealing import (
    KLUIS_BATCH_SUBJECT,
    KLUIS_KEY_SUBJECT,
    KLUIS_RESEAL_SUBJECT,
    KLUIS_SEAL_SUBJECT,
    MAX_BATCH_ITEMS,
)
from services.kluis.application import KluisApplication
from services.runtime.service import Answers, Consumes
from services.runtime.streams import (
    KLUIS_ARRANGEMENTS,
    KLUIS_HANDOVER,
    KLUIS_PLAN,
    KLUIS_SIGNALLING,
    KLUIS_TRUANCY,
)

RELATIONS = "relations with the child that its events start or end."

# The streams kluis derives relations from (the AsyncAPI document shows their events); each
# event says which relations it starts or ends (`relation_changes`).
CONSUMERS = (KLUIS_SIGNALLING, KLUIS_HANDOVER, KLUIS_ARRANGEMENTS, KLUIS_TRUANCY, KLUIS_PLAN)
CONSUMES = tuple(Consumes(consumer, RELATIONS, decode=parse_event) for consumer in CONSUMERS)
REQUESTS = (
    (KLUIS_KEY_SUBJECT, "a data key (KeyRequest), sealed to the requester's X25519 key"),
    (KLUIS_SEAL_SUBJECT, "a section sealed by kluis for a provider without a relation"),
    (KLUIS_RESEAL_SUBJECT, "a section re-bound to another event, for relaying services"),
)
SIGNED = (
    "The request is a JWS signed with the partner's Ed25519 key; the answer is a KluisAnswer "
    "(ok, kid, key | token | refusal)."
)
ANSWERS = (
    *(
        Answers(s, f"Request/reply: {what}. {SIGNED}", KluisApplication.answer)
        for s, what in REQUESTS
    ),
    Answers(
        KLUIS_BATCH_SUBJECT,
        f"Request/reply: up to {MAX_BATCH_ITEMS} key and seal requests in one KluisBatchRequest "
        "(a JWS signed with the partner's Ed25519 key, the seal items' sections in one JWE to "
        "kluis's X25519 key), each item decided and recorded on its own; the answer is a "
        "KluisBatchAnswer (one KluisAnswer per item, or a refusal of the whole batch: "
        "replayed-request, batch-too-large, ...).",
        KluisApplication.answer_batch,
    ),
)

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

from typing import Any

from faststream.nats import NatsMessage, NatsRouter
from pydantic import SkipValidation

from ketenbus_contracts.arrangements import ArrangementsEvent
from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.handover import HandoverEvent
from ketenbus_contracts.plan import PlanEvent
from ketenbus_contracts.sealing import (
    KLUIS_BATCH_SUBJECT,
    KLUIS_KEY_SUBJECT,
    KLUIS_RESEAL_SUBJECT,
    KLUIS_SEAL_SUBJECT,
    MAX_BATCH_ITEMS,
    KluisAnswer,
    KluisBatchAnswer,
)
from ketenbus_contracts.signalling import SignallingEvent
from ketenbus_contracts.truancy import TruancyEvent
from services.kluis.application import KluisApplication
from services.runtime.batching import batch_consumer
from services.runtime.host import ServiceContext
from services.runtime.streams import (
    KLUIS_ARRANGEMENTS,
    KLUIS_HANDOVER,
    KLUIS_PLAN,
    KLUIS_SIGNALLING,
    KLUIS_TRUANCY,
    ConsumerSpec,
)

# The streams kluis derives relations from, with the events on them (for the AsyncAPI
# document); each event says which relations it starts or ends (`relation_changes`).
FEEDS: tuple[tuple[ConsumerSpec, Any], ...] = (
    (KLUIS_SIGNALLING, SignallingEvent),
    (KLUIS_HANDOVER, HandoverEvent),
    (KLUIS_ARRANGEMENTS, ArrangementsEvent),
    (KLUIS_TRUANCY, TruancyEvent),
    (KLUIS_PLAN, PlanEvent),
)
CONSUMERS = tuple(consumer for consumer, _ in FEEDS)
QUEUE = "kluis"

REQUESTS = (
    (KLUIS_KEY_SUBJECT, "a data key (KeyRequest), sealed to the requester's X25519 key"),
    (KLUIS_SEAL_SUBJECT, "a section sealed by kluis for a provider without a relation"),
    (KLUIS_RESEAL_SUBJECT, "a section re-bound to another event, for relaying services"),
)


def _application(ctx: ServiceContext | None) -> tuple[ServiceContext, KluisApplication]:
    if ctx is None or not isinstance(ctx.application, KluisApplication):
        raise RuntimeError("kluis router used without its running service")
    return ctx, ctx.application


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    for consumer, payload in FEEDS:
        batch_consumer(
            router,
            consumer,
            ctx,
            payload,
            parse_event,
            signed=False,
            title=f"kluis/{consumer.stream.name.lower()}",
            description="relations with the child that its events start or end.",
        )

    for subject, what in REQUESTS:

        @router.subscriber(
            subject,
            queue=QUEUE,
            title=f"kluis/{subject.rsplit('.', 1)[-1]}",
            description=(
                f"Request/reply: {what}. The request is a JWS signed with the partner's "
                "Ed25519 key; the answer is a KluisAnswer (ok, kid, key | token | refusal)."
            ),
        )
        async def on_request(body: SkipValidation[bytes], msg: NatsMessage) -> KluisAnswer:
            # `body` is the JWS compact serialisation of the request, checked by `answer` from
            # the raw bytes: faststream would decode a JSON body and refuse it without an answer.
            service, app = _application(ctx)
            answer: KluisAnswer = await service.call(app.answer, msg.body)
            return answer

    @router.subscriber(
        KLUIS_BATCH_SUBJECT,
        queue=QUEUE,
        title="kluis/batch",
        description=(
            f"Request/reply: up to {MAX_BATCH_ITEMS} key and seal requests in one "
            "KluisBatchRequest (a JWS signed with the partner's Ed25519 key, the seal items' "
            "sections in one JWE to kluis's X25519 key), each item decided and recorded on its "
            "own; the answer is a KluisBatchAnswer (one KluisAnswer per item, or a refusal of "
            "the whole batch: replayed-request, batch-too-large, ...)."
        ),
    )
    async def on_batch(body: SkipValidation[bytes], msg: NatsMessage) -> KluisBatchAnswer:
        service, app = _application(ctx)
        answer: KluisBatchAnswer = await service.call(app.answer_batch, msg.body)
        return answer

    return router

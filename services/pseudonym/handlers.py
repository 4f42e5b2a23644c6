"""The pseudonym service's subscriber: `ketenbus.pseudonym` over core NATS request/reply.

Queue group `pseudonym`: the body is a `PseudonymRequest` JWS signed by the partner, its
identifiers sealed to the service's X25519 key; the answer is a `PseudonymAnswer` JSON.
"""

from __future__ import annotations

from faststream.nats import NatsMessage, NatsRouter
from pydantic import SkipValidation

from ketenbus_contracts.pseudonym import MAX_BATCH, PSEUDONYM_SUBJECT, PseudonymAnswer
from services.pseudonym.application import PseudonymApplication
from services.runtime.host import ServiceContext

QUEUE = "pseudonym"


def create_router(ctx: ServiceContext | None = None) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        PSEUDONYM_SUBJECT,
        queue=QUEUE,
        title="pseudonym/request",
        description=(
            f"Request/reply: the pseudonyms of up to {MAX_BATCH} identifiers (BSN, a school's "
            "BRIN + pupil key, household key). The request is a PseudonymRequest JWS signed "
            "with the partner's Ed25519 key, the identifiers a JWE to the service's X25519 key; "
            "the answer is a PseudonymAnswer (ok, results | refusal), rate-limited per partner."
        ),
    )
    async def on_request(body: SkipValidation[bytes], msg: NatsMessage) -> PseudonymAnswer:
        # `body` is the JWS compact serialisation of the request, checked by `answer` from the
        # raw bytes: faststream would decode a JSON body (an unsigned request) and refuse it
        # unanswered, so it is not validated here.
        if ctx is None or not isinstance(ctx.application, PseudonymApplication):
            raise RuntimeError("pseudonym router used without its running service")
        answer: PseudonymAnswer = await ctx.call(ctx.application.answer, msg.body)
        return answer

    return router

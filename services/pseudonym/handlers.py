"""The pseudonym service's subscriber: `ketenbus.pseudonym` over core NATS request/reply.

Queue group `pseudonym`: the body is a `PseudonymRequest` JWS signed by the partner, its
identifiers sealed to the service's X25519 key; the answer is a `PseudonymAnswer` JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from faststream.nats import NatsRouter

from ketenbus_contracts.pseudonym import MAX_BATCH, PSEUDONYM_SUBJECT, PseudonymAnswer
from services.pseudonym.application import PseudonymApplication
from services.runtime.host import ServiceContext
from services.runtime.service import answers

QUEUE = "pseudonym"


def _answer(app: PseudonymApplication) -> Callable[[bytes], PseudonymAnswer]:
    return app.answer


def requests(router: NatsRouter, ctx: ServiceContext | None) -> None:
    answers(
        router, ctx, PSEUDONYM_SUBJECT, _answer, returns=PseudonymAnswer, queue=QUEUE,
        title="pseudonym/request",
        description=(
            f"Request/reply: the pseudonyms of up to {MAX_BATCH} identifiers (BSN, a school's "
            "BRIN + pupil key, household key). The request is a PseudonymRequest JWS signed "
            "with the partner's Ed25519 key, the identifiers a JWE to the service's X25519 key; "
            "the answer is a PseudonymAnswer (ok, results | refusal), rate-limited per partner."
        ),
    )  # fmt: skip

"""The pseudonym service's subscriber: `ketenbus.pseudonym` over core NATS request/reply.

Queue group `pseudonym`: the body is a `PseudonymRequest` JWS signed by the partner, its
identifiers sealed to the service's X25519 key; the answer is a `PseudonymAnswer` JSON.
"""

from __future__ import annotations

from ketenbus_contracts.pseudonym import MAX_BATCH, PSEUDONYM_SUBJECT
from services.pseudonym.application import PseudonymApplication
from services.runtime.service import Answers

ANSWERS = (
    Answers(
        PSEUDONYM_SUBJECT,
        f"Request/reply: the pseudonyms of up to {MAX_BATCH} identifiers (BSN, a school's BRIN + "
        "pupil key, household key). The request is a PseudonymRequest JWS signed with the "
        "partner's Ed25519 key, the identifiers a JWE to the service's X25519 key; the answer is "
        "a PseudonymAnswer (ok, results | refusal), rate-limited per partner.",
        PseudonymApplication.answer,
        title="pseudonym/request",
    ),
)

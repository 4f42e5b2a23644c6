"""The pseudonym application: signed requests in, pseudonyms out, every call recorded.

`answer(raw)` is the whole request/reply protocol without NATS: verify the signed request (the
same machinery as kluis's, `verify_signed`), check the requester's role and rate limit, open
the identifiers sealed to the service's X25519 key, pseudonymise each, record the call (as a
`PseudonymCall` in the event store, which the audit chain witnesses) and return the answer.
The secret lives only in the `Pseudonymiser` given here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from pydantic import TypeAdapter, ValidationError

from ketenbus_contracts.pseudonym import (
    MAX_REQUEST_BYTES,
    PSEUDONYM_REQUEST_TYP,
    PseudonymAnswer,
    PseudonymCode,
    Pseudonymiser,
    PseudonymRefusal,
    PseudonymRequest,
    SealedIdentifiers,
)
from ketenbus_contracts.sealing import (
    KluisProtocolError,
    decrypt_from,
    verify_signed,
)
from services.ldv import ProcessingRecord, new_span_id, trace_of
from services.pseudonym.domain import (
    Answered,
    PseudonymCall,
    PseudonymError,
    PseudonymPolicy,
    RateLimiter,
    Requester,
    may_ask,
    outcomes,
    pseudonymise,
)
from services.pseudonym.policy import RequesterDirectory
from services.runtime.service import RequestDesk

log = structlog.get_logger(__name__)

_REQUESTS: TypeAdapter[PseudonymRequest] = TypeAdapter(PseudonymRequest)
# What `verify_signed` refuses with (the signed-request codes kluis uses too).
_PROTOCOL_CODES: dict[str, PseudonymCode] = {
    "unknown-partner": "unknown-partner",
    "bad-signature": "bad-signature",
    "stale-request": "stale-request",
    "invalid-request": "invalid-request",
}


class PseudonymApplication(RequestDesk[RequesterDirectory]):
    name = "pseudonym"
    refusals = (PseudonymError,)

    def __init__(
        self, *args: Any, policy: PseudonymPolicy, pseudonymiser: Pseudonymiser, **desk: Any
    ) -> None:
        super().__init__(*args, **desk)
        self.policy = policy
        self.pseudonymiser = pseudonymiser
        self.limiter = RateLimiter(policy)

    def answer(self, raw: bytes) -> PseudonymAnswer:
        """Answer one signed request (the bytes of a `sign_request` JWS)."""
        now = self.clock()
        try:
            request = verify_signed(
                raw,
                self.directory.signing_key,
                _REQUESTS,
                typ=PSEUDONYM_REQUEST_TYP,
                now=now.timestamp(),
                max_payload_length=MAX_REQUEST_BYTES,
            )
        except KluisProtocolError as exc:
            # Not known to be anyone's: refused without a record (nothing to attribute it to).
            log.warning("pseudonym_request_rejected", code=exc.code)
            return _refused(_PROTOCOL_CODES.get(exc.code, "invalid-request"), exc.reason)
        requester = self.directory.requester(request.partner)
        if requester is None:  # signed with a key, but no longer registered
            return _refused("unknown-partner", "the signing partner is not registered")
        trace_id, parent_span = trace_of(request.traceparent)

        def record(refusal_code: PseudonymCode | None, answered: Sequence[Answered] = ()) -> None:
            self.save(
                PseudonymCall.record(
                    self.policy,
                    trace_id=trace_id,
                    span_id=new_span_id(),
                    parent_span_id=parent_span,
                    requester=requester.id,
                    at=now,
                    refusal_code=refusal_code,
                    answered=answered,
                )
            )

        refusal = self._refusal(requester, request, now)
        identifiers = self._identifiers(request) if refusal is None else None
        if refusal is None and identifiers is None:
            refusal = PseudonymRefusal(
                code="invalid-request", reason="the identifiers do not open or do not match"
            )
        if refusal is not None or identifiers is None:
            code = refusal.code if refusal is not None else "invalid-request"
            record(code)
            log.info("pseudonym_refused", requester=requester.id, code=code, trace_id=trace_id)
            return PseudonymAnswer(ok=False, refusal=refusal, trace_id=trace_id)
        results = [pseudonymise(self.pseudonymiser, requester, i) for i in identifiers.identifiers]
        record(None, outcomes(identifiers.identifiers, results))
        log.info(
            "pseudonyms_given",
            requester=requester.id,
            count=len(results),
            refused=sum(1 for r in results if r.code),
            trace_id=trace_id,
        )
        return PseudonymAnswer(ok=True, results=results, trace_id=trace_id)

    def _refusal(
        self, requester: Requester, request: PseudonymRequest, now: datetime
    ) -> PseudonymRefusal | None:
        if not self.replays.first_time(requester.id, request.nonce, now.timestamp()):
            return PseudonymRefusal(
                code="replayed-request", reason="this signed request was answered before"
            )
        if not may_ask(self.policy, requester):
            return PseudonymRefusal(
                code="role-not-permitted", reason=f"role {requester.role} may not ask"
            )
        if not self.limiter.take(requester, request.count, now):
            return PseudonymRefusal(
                code="rate-limited", reason="the partner's pseudonym allowance is used up"
            )
        return None

    def _identifiers(self, request: PseudonymRequest) -> SealedIdentifiers | None:
        try:
            opened = SealedIdentifiers.model_validate(
                decrypt_from(
                    request.identifiers, self.decryption_keys(), max_length=MAX_REQUEST_BYTES
                )
            )
        except (KluisProtocolError, ValidationError, ValueError):
            return None
        return opened if len(opened.identifiers) == request.count else None

    def processing_records(
        self, *, requester: str | None = None, data_subject: str | None = None
    ) -> list[ProcessingRecord]:
        """Every call's processing records, oldest first (filtered by requester, subject)."""
        found: list[ProcessingRecord] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=500)
            for notification in page:
                call: object = self.repository.get(uuid.UUID(str(notification.originator_id)))
                if isinstance(call, PseudonymCall):
                    found += call.processing_records()
            if len(page) < 500:
                break
            start = page[-1].id + 1
        return [
            r
            for r in found
            if (requester is None or r.requester == requester)
            and (data_subject is None or r.data_subject == data_subject)
        ]


def _refused(code: PseudonymCode, reason: str) -> PseudonymAnswer:
    return PseudonymAnswer(ok=False, refusal=PseudonymRefusal(code=code, reason=reason))

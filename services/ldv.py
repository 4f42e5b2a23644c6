"""Processing records in the shape of the Logboek Dataverwerkingen (LDV), for every service that
processes personal data on request (kluis's key decisions, the pseudonym service's answers).

One record per processing: trace and span ids (W3C trace context, so a partner's own log links
to ours), the processing activity of the register, the data subject by pseudonym only, who
asked, for which purpose, and what was decided. No I/O here: each service stores its records
and hands them to the audit chain.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ketenbus_contracts.purposes import Purpose

DATA_SUBJECT_ID_TYPE = "ketenbus-child-pseudonym"


class Decision(StrEnum):
    RELEASED = "released"
    REFUSED = "refused"
    DESTROYED = "destroyed"  # keys destroyed when the register's retention ran out


def new_trace_id() -> str:
    """A new W3C trace id (16 random bytes, hex)."""
    return secrets.token_hex(16)


def new_span_id() -> str:
    """A new W3C span id (8 random bytes, hex)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, kw_only=True)
class ProcessingRecord:
    """One processing (a key release or refusal, a seal, a pseudonym given) as LDV logs it.

    `resource` names the service that processed; `data_subject` is a pseudonym (empty when the
    request was refused before it named anyone).
    """

    operation: StrEnum
    processing_activity_id: str
    data_subject: str
    requester: str
    purpose: Purpose
    decision: Decision
    at: datetime
    register_version: str
    refusal_code: str | None = None
    kid: str | None = None
    # A new trace of its own unless the request carried one (`trace_of`).
    trace_id: str = field(default_factory=new_trace_id)
    span_id: str = field(default_factory=new_span_id)
    parent_span_id: str | None = None
    resource: str = "kluis"
    data_subject_id_type: str = DATA_SUBJECT_ID_TYPE
    # The key scope asked for (kluis): a refusal has no kid, so this says which record or
    # writer's sections were refused. None where the processing has no scope (pseudonyms).
    scope: str | None = None
    # The person who asked, where a person did (the web app): a pseudonymous employee id from
    # their login, so the FG can answer "who looked at this child's plan".
    employee: str | None = None

    def as_ldv(self) -> dict[str, Any]:
        """The record in the Logboek Dataverwerkingen (OpenTelemetry span) shape."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": f"{self.resource}.{self.operation.value}",
            "start_time": self.at.isoformat(),
            "end_time": self.at.isoformat(),
            # A refusal is the service doing its job, not a failure: LDV reserves ERROR for those.
            "status_code": "UNSET" if self.decision is Decision.REFUSED else "OK",
            "resource": {"name": self.resource, "version": self.register_version},
            "attributes": {
                "dpl.core.processing_activity_id": self.processing_activity_id,
                "dpl.core.data_subject_id": self.data_subject,
                "dpl.core.data_subject_id_type": self.data_subject_id_type,
                "ketenbus.requester": self.requester,
                "ketenbus.purpose": self.purpose.value,
                "ketenbus.decision": self.decision.value,
                "ketenbus.refusal_code": self.refusal_code,
                "ketenbus.kid": self.kid,
                "ketenbus.scope": self.scope,
            }
            | ({"ketenbus.employee": self.employee} if self.employee else {}),
        }


def trace_of(traceparent: str | None) -> tuple[str, str | None]:
    """(trace id, parent span id) of a request from its W3C traceparent; a new trace without
    a parent when it has none or a malformed one."""
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
            return parts[1], parts[2]
    return new_trace_id(), None

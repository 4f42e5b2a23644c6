"""The pseudonym service's rules: who may ask, for which identifiers, how often. No I/O here.

- A partner whose role the policy names may ask; a backbone service never needs to.
- A BSN must pass the eleven-check (`invalid-bsn`); a school may only name pupil keys under its
  own BRIN, its first four characters as registered in infra/partners.yaml (`not-own-brin`).
- Each identifier counts against the partner's limits: a token bucket (`burst`, refilled at
  `per_minute`) and a ceiling per UTC day (`per_day`). A request that does not fit is refused
  whole (`rate-limited`) and costs nothing.
- Every call is recorded (`PseudonymCall`): one processing record per identifier answered, or
  one for a refused request, in the Logboek Dataverwerkingen shape (services/ldv.py). The
  record names the child only by the pseudonym given; the identifier asked is never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from ketenbus_contracts.pseudonym import (
    ChildBsn,
    HouseholdKey,
    PseudonymCode,
    Pseudonymiser,
    PseudonymResult,
    PupilKey,
    is_valid_bsn,
)
from ketenbus_contracts.purposes import Purpose
from services.ldv import DATA_SUBJECT_ID_TYPE, Decision, ProcessingRecord

BRIN4 = 4
HOUSEHOLD_SUBJECT_TYPE = "ketenbus-household-pseudonym"
NAMESPACE = uuid.UUID("3c1f0d52-0a0e-4b55-8a43-70736575646f")


class PseudonymError(Exception):
    """A rule of the pseudonym service refused the command."""


class InvalidPolicyError(PseudonymError):
    """The pseudonym policy (infra/pseudonym/policy.yaml) is inconsistent."""


class Operation(StrEnum):
    PSEUDONYMISE = "pseudonymise"


# ---------------------------------------------------------------------------------------------
# the policy


@dataclass(frozen=True)
class Limits:
    """How many identifiers a partner may have pseudonymised: at once, per minute, per day."""

    burst: int
    per_minute: int
    per_day: int

    def __post_init__(self) -> None:
        if min(self.burst, self.per_minute, self.per_day) < 1:
            raise InvalidPolicyError("every limit is a positive number of identifiers")


@dataclass(frozen=True)
class PseudonymPolicy:
    version: str
    activity_id: str
    purpose: Purpose
    roles: frozenset[str]
    default: Limits
    by_role: Mapping[str, Limits] = field(default_factory=dict)
    by_partner: Mapping[str, Limits] = field(default_factory=dict)

    def limits_for(self, partner: str, role: str) -> Limits:
        return self.by_partner.get(partner) or self.by_role.get(role) or self.default


@dataclass(frozen=True)
class Requester:
    """A registered partner as the service sees it: id, role, and its own BRINs."""

    id: str
    role: str
    brins: frozenset[str] = frozenset()

    def owns_brin(self, brin: str) -> bool:
        """A BRIN is the partner's own when its first four characters are (BRIN4 of a school,
        also when the registry names a vestiging, BRIN6)."""
        return brin.strip().upper()[:BRIN4] in {b.upper()[:BRIN4] for b in self.brins}


# ---------------------------------------------------------------------------------------------
# rate limits


@dataclass
class Allowance:
    """One partner's bucket and day count."""

    tokens: float
    updated: datetime
    day: date
    used_today: int = 0


class RateLimiter:
    """Token buckets per partner, in memory (a restart forgets them: limits only loosen)."""

    def __init__(self, policy: PseudonymPolicy) -> None:
        self.policy = policy
        self._allowances: dict[str, Allowance] = {}

    def take(self, requester: Requester, count: int, now: datetime) -> bool:
        """Take `count` identifiers from the partner's allowance; False (nothing taken) when
        they do not fit in the bucket or in the day."""
        limits = self.policy.limits_for(requester.id, requester.role)
        allowance = self._allowances.get(requester.id)
        if allowance is None:
            allowance = Allowance(float(limits.burst), now, now.date())
            self._allowances[requester.id] = allowance
        elapsed = max((now - allowance.updated).total_seconds(), 0.0)
        allowance.tokens = min(
            float(limits.burst), allowance.tokens + elapsed * limits.per_minute / 60
        )
        allowance.updated = now
        if allowance.day != now.date():
            allowance.day, allowance.used_today = now.date(), 0
        if count > allowance.tokens or allowance.used_today + count > limits.per_day:
            return False
        allowance.tokens -= count
        allowance.used_today += count
        return True


# ---------------------------------------------------------------------------------------------
# answering


def may_ask(policy: PseudonymPolicy, requester: Requester) -> bool:
    return requester.role in policy.roles


def pseudonymise(
    pseudonymiser: Pseudonymiser,
    requester: Requester,
    identifier: ChildBsn | PupilKey | HouseholdKey,
) -> PseudonymResult:
    """The pseudonym of one identifier, or the code saying why not."""
    if isinstance(identifier, ChildBsn):
        if not is_valid_bsn(identifier.bsn):
            return PseudonymResult(code="invalid-bsn")
        return PseudonymResult(pseudonym=pseudonymiser.child(identifier.bsn))
    if isinstance(identifier, PupilKey):
        if not requester.owns_brin(identifier.brin):
            return PseudonymResult(code="not-own-brin")
        return PseudonymResult(pseudonym=pseudonymiser.pupil(identifier.brin, identifier.pupil_key))
    return PseudonymResult(pseudonym=pseudonymiser.household(identifier.household_key))


# ---------------------------------------------------------------------------------------------
# processing records


@dataclass(frozen=True)
class Answered:
    """One identifier's outcome as recorded: pseudonym (or none), its kind, refusal code."""

    pseudonym: str | None
    household: bool
    code: PseudonymCode | None


def outcomes(
    identifiers: Sequence[ChildBsn | PupilKey | HouseholdKey], results: Sequence[PseudonymResult]
) -> list[Answered]:
    return [
        Answered(result.pseudonym, isinstance(identifier, HouseholdKey), result.code)
        for identifier, result in zip(identifiers, results, strict=True)
    ]


class PseudonymCall(Aggregate):
    """One answered request: who asked, when, in which trace, and what it got (pseudonyms only)."""

    @staticmethod
    def create_id(trace_id: str, span_id: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"call/{trace_id}/{span_id}")

    @event("Answered")
    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        requester: str,
        at: datetime,
        policy_version: str,
        activity_id: str,
        purpose: str,
        refusal_code: str | None,
        answered: list[list[Any]],
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.requester = requester
        self.at = at
        self.policy_version = policy_version
        self.activity_id = activity_id
        self.purpose = purpose
        self.refusal_code = refusal_code
        # [pseudonym | None, household?, code | None] per identifier, in request order
        self.answered = answered

    @classmethod
    def record(
        cls,
        policy: PseudonymPolicy,
        *,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        requester: str,
        at: datetime,
        refusal_code: PseudonymCode | None,
        answered: Sequence[Answered] = (),
    ) -> PseudonymCall:
        return cls(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            requester=requester,
            at=at,
            policy_version=policy.version,
            activity_id=policy.activity_id,
            purpose=policy.purpose.value,
            refusal_code=refusal_code,
            answered=[[a.pseudonym, a.household, a.code] for a in answered],
        )

    def processing_records(self) -> list[ProcessingRecord]:
        """The call as LDV records: one per identifier answered, one for a refused request."""

        def record(subject: str, household: bool, code: str | None) -> ProcessingRecord:
            return ProcessingRecord(
                trace_id=self.trace_id,
                span_id=self.span_id,
                parent_span_id=self.parent_span_id,
                operation=Operation.PSEUDONYMISE,
                processing_activity_id=self.activity_id,
                data_subject=subject,
                requester=self.requester,
                purpose=Purpose(self.purpose),
                decision=Decision.REFUSED if code else Decision.RELEASED,
                refusal_code=code,
                at=self.at,
                register_version=self.policy_version,
                resource="pseudonym",
                data_subject_id_type=HOUSEHOLD_SUBJECT_TYPE if household else DATA_SUBJECT_ID_TYPE,
            )

        if self.refusal_code is not None:
            return [record("", False, self.refusal_code)]
        return [record(p or "", bool(h), c) for p, h, c in self.answered]

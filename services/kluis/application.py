"""The kluis application: relations from events, key decisions, keys, processing records.

Relations are event-sourced (`ChildRelations` aggregates, recorded with the stream position
they came from). Keys, erasures and processing records live in the `Keystore`, a plain table
that erasure deletes from physically.

`answer(raw)` is the whole request/reply protocol without NATS: verify the signed request,
decide by the register and the relations, act (release a key sealed to the requester, seal or
re-bind a section), record the processing, and return the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as datetime_time
from typing import Any

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking
from joserfc.jwk import OKPKey

from ketenbus_contracts.envelope import RelationChange
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from ketenbus_contracts.sealing import (
    MAX_BATCH_BYTES,
    BatchKey,
    BatchSeal,
    BatchSections,
    DataKey,
    KeyId,
    KeyRequest,
    KluisAnswer,
    KluisBatchAnswer,
    KluisBatchRequest,
    KluisProtocolError,
    Refusal,
    RefusalCode,
    ResealRequest,
    SealingError,
    SealRequest,
    decrypt_from,
    deliver_key,
    kid_of,
    open_section,
    seal,
    verify_batch_request,
    verify_request,
)
from services.kluis.domain import (
    ChildRelations,
    Decision,
    KluisError,
    Operation,
    ProcessingRecord,
    UnknownPartnerError,
    UnknownRelationError,
    Verdict,
    decide,
    expired_purposes,
    retention_end,
    scope_retention_start,
)
from services.kluis.keystore import Keystore
from services.ldv import trace_of
from services.policy.loading import load_relations
from services.policy.relations import RelationRules
from services.runtime.partners import PartnerRegistry
from services.runtime.service import RequestDesk
from services.runtime.store import Batch

log = structlog.get_logger(__name__)


SIGNAL_BASIS = "signal"
KLUIS = "kluis"  # the requester of what kluis does by itself (retention)
AnyRequest = KeyRequest | SealRequest | ResealRequest


class KluisApplication(RequestDesk[PartnerRegistry]):
    name = "kluis"
    refusals = (KluisError,)

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        register: ProcessingRegister,
        keystore: Keystore,
        rules: RelationRules | None = None,
        retention_interval: float = 3600.0,
        **desk: Any,
    ) -> None:
        super().__init__(env, **desk)
        self.register_ = register
        self.keystore = keystore
        self.rules = rules or load_relations()
        self.retention_interval = retention_interval
        self._last_retention: datetime | None = None

    def close(self) -> None:
        super().close()
        self.keystore.close()

    # relations

    def relations_of(self, child: str) -> ChildRelations:
        try:
            relations: ChildRelations = self.repository.get(ChildRelations.create_id(child))
        except AggregateNotFoundError:
            return ChildRelations(child)
        return relations

    def add_relation(
        self,
        child: str,
        partner: str,
        *,
        basis: str,
        basis_id: str,
        tracking: Tracking | None = None,
    ) -> None:
        """Give `partner` a relation with `child` on `basis` (signal, enrolment, handover, ...)."""
        self._change(child, RelationChange(partner, basis, basis_id, active=True), tracking)

    def end_relation(
        self,
        child: str,
        partner: str | None = None,
        *,
        basis: str,
        basis_id: str,
        tracking: Tracking | None = None,
    ) -> None:
        """End the relation on `basis`/`basis_id` (for `partner`, or for every partner on it)."""
        self._change(child, RelationChange(partner, basis, basis_id, active=False), tracking)

    def _change(self, child: str, change: RelationChange, tracking: Tracking | None) -> None:
        """One change asked for directly (not by a consumed event): an end of a relation the
        partner does not have is refused."""
        if tracking and self._seen(tracking):
            return
        relations, on = self.relations_of(child), (change.basis, change.basis_id)
        partner = change.partner
        if not change.active and partner is not None and not relations.has_active_on(partner, *on):
            raise UnknownRelationError(f"no active {change.basis} relation {change.basis_id}")
        self._apply(relations, change, self.clock())
        self._save(relations, tracking)

    def handle(self, batch: Batch, message: Any) -> None:
        """Derive relations from one consumed contract event: what it says it starts or ends."""
        changes = message.relation_changes()
        if not changes:
            return
        child = message.subject
        relations = batch.get(ChildRelations.create_id(child), lambda: ChildRelations(child))
        now = self.clock()
        for change in changes:
            self._apply(relations, change, now)

    def _apply(self, relations: ChildRelations, change: RelationChange, now: datetime) -> None:
        """A relation starts, ends for one partner, or ends for every partner on its basis."""
        facts = {"basis": change.basis, "basis_id": change.basis_id}
        if change.active and change.partner is not None:
            until = _end_of(change.until)
            if relations.add(change.partner, change.basis, change.basis_id, now, until):
                log.info("relation_added", partner=change.partner, **facts)
            return
        if change.partner is None:
            ended = relations.end_basis(change.basis, change.basis_id, now)
        elif relations.has_active_on(change.partner, change.basis, change.basis_id):
            relations.end(change.partner, change.basis, change.basis_id, now)
            ended = [change.partner]
        else:
            ended = []
        for partner in ended:
            log.info("relation_ended", partner=partner, **facts)

    def _seen(self, tracking: Tracking) -> bool:
        return self.has_processed(tracking.application_name, tracking.notification_id)

    def _save(self, aggregate: ChildRelations, tracking: Tracking | None) -> None:
        if tracking is None:
            self.save(aggregate)
        else:
            self.record(tracking, aggregate)

    # retention

    def tick(self, now: datetime) -> list[tuple[str, Purpose, str]]:
        """The service host's periodic call: retention (see `retention_due`)."""
        return self.retention_due(now)

    def retention_due(self, now: datetime) -> list[tuple[str, Purpose, str]]:
        """Run `expire_retention` when `retention_interval` passed since the last run (the
        service ticks often; the check itself runs at the interval from the settings)."""
        last = self._last_retention
        if last is not None and (now - last).total_seconds() < self.retention_interval:
            return []
        self._last_retention = now
        return self.expire_retention(now)

    def expire_retention(self, now: datetime) -> list[tuple[str, Purpose, str]]:
        """Destroy the keys of every scope whose retention (from the register) has run out.

        A scope's period runs from the end of the last relation that opened it
        (`scope_retention_start`); each destruction is a processing record. A child whose every
        purpose expired since its last relation ended is erased as a whole: kluis refuses it
        from then on and its `RetentionExpired` event goes out as `child-erased` (reason
        retention).
        """
        destroyed: list[tuple[str, Purpose, str]] = []
        for child, scopes in self.keystore.scopes_by_child().items():
            relations = self.relations_of(child)
            gone: list[tuple[Purpose, str]] = []
            for purpose, scope in sorted(scopes):
                start = scope_retention_start(
                    relations, self.rules, purpose=purpose, scope=scope, now=now
                )
                retention = self.register_.activity(purpose).retention
                if start is None or retention_end(start, retention) > now:
                    continue
                kid = self.keystore.erase_scope(child, purpose, scope)
                self._record_destruction(child, purpose, scope, kid, now)
                gone.append((purpose, scope))
            every = expired_purposes(relations, self.register_, now)
            erased = set(every) >= set(self.register_.activities)
            if erased:
                self.keystore.erase(child)
            if not gone and not erased:
                continue
            destroyed += [(child, purpose, scope) for purpose, scope in gone]
            purposes = sorted({purpose for purpose, _ in gone} | (set(every) if erased else set()))
            relations.expire(purposes, now, erased=erased)
            self.save(relations)
            log.info(
                "retention_expired",
                purposes=[p.value for p in purposes],
                scopes=len(gone),
                erased=erased,
            )
        return destroyed

    def _record_destruction(
        self, child: str, purpose: Purpose, scope: str, kid: str | None, now: datetime
    ) -> None:
        self.keystore.add_record(
            ProcessingRecord(
                operation=Operation.DESTROY,
                processing_activity_id=self.register_.activity(purpose).id,
                data_subject=child,
                requester=KLUIS,
                purpose=purpose,
                decision=Decision.DESTROYED,
                kid=kid,
                at=now,
                register_version=self.register_.version,
                scope=scope,
            )
        )

    # keys

    def rotate(self, child: str, purpose: Purpose, scope: str) -> str:
        """Make a new key version the sealing key of (child, purpose, scope); its kid."""
        data_key = self.keystore.rotate(child, purpose, scope)
        log.info("key_rotated", kid_version=data_key.key_id.version, purpose=purpose.value)
        return data_key.kid

    def erase(self, child: str) -> int:
        """Destroy every key of the child (crypto-shredding); the number of keys deleted."""
        deleted = self.keystore.erase(child)
        log.info("child_keys_erased", keys_deleted=deleted)
        return deleted

    def audited_tables(self) -> dict[str, Callable[[int, int], list[tuple[Any, ...]]]]:
        """Beside the event store, what the audit hash chain covers (processing, erasures)."""
        return self.keystore.audited_tables()

    def processing_records(
        self, *, data_subject: str | None = None, requester: str | None = None, limit: int = 1000
    ) -> list[ProcessingRecord]:
        return self.keystore.records(data_subject=data_subject, requester=requester, limit=limit)

    # the request/reply protocol

    def answer(self, raw: bytes) -> KluisAnswer:
        """Answer one signed request (the bytes of a `sign_request` JWS)."""
        try:
            request = verify_request(
                raw,
                self._signing_key_of,
                now=self.clock().timestamp(),
                first_time=self.replays.first_time,
            )
        except KluisProtocolError as exc:
            log.warning("kluis_request_rejected", code=exc.code)
            return KluisAnswer(ok=False, refusal=Refusal(code=exc.code, reason=exc.reason))
        operation = {
            "key": Operation.RELEASE,
            "seal": Operation.SEAL,
            "reseal": Operation.RESEAL,
        }[request.op]
        verdict = self._verdict(
            operation, request.partner, request.child, request.purpose, request.scope
        )
        answer = self._act(request, verdict)
        trace_id = self._log_processing(request, operation, verdict, answer)
        log.info(
            "kluis_decision",
            operation=operation.value,
            requester=request.partner,
            purpose=request.purpose.value,
            decision="released" if answer.ok else "refused",
            code=answer.refusal.code if answer.refusal else None,
            trace_id=trace_id,
        )
        return answer.model_copy(update={"trace_id": trace_id})

    def _verdict(
        self, operation: Operation, partner: str, child: str, purpose: Purpose, scope: str
    ) -> Verdict:
        """The decision on one request (or batch item) by the register and the relations."""
        return decide(
            self.register_,
            self.rules,
            operation=operation,
            partner=partner,
            role=self.directory.entry(partner).role,
            purpose=purpose,
            scope=scope,
            relations=self.relations_of(child).relations.values(),
            erased=self.keystore.is_erased(child),
            now=self.clock(),
        )

    def answer_batch(self, raw: bytes) -> KluisBatchAnswer:
        """Answer a signed batch (`KluisBatchRequest`): each item decided and recorded as its
        single request would be, its keys and records written in one transaction.

        The batch is refused whole, without a processing record (no item was looked at), when
        it is not signed by a registered partner, stale, replayed, too large, or its sections
        do not open.
        """
        try:
            request = verify_batch_request(raw, self._signing_key_of, now=self.clock().timestamp())
            if not self.replays.first_time(
                request.partner, request.nonce, self.clock().timestamp()
            ):
                raise KluisProtocolError("replayed-request", "this signed batch was answered")
            sections = self._batch_sections(request)
        except KluisProtocolError as exc:
            log.warning("kluis_batch_rejected", code=exc.code)
            return KluisBatchAnswer(ok=False, refusal=Refusal(code=exc.code, reason=exc.reason))
        trace_id, parent_span = trace_of(request.traceparent)
        results: list[KluisAnswer] = []
        with self.keystore.batch():
            for item, section in zip(request.items, sections, strict=True):
                operation = Operation.RELEASE if isinstance(item, BatchKey) else Operation.SEAL
                verdict = self._verdict(
                    operation, request.partner, item.child, item.purpose, item.scope
                )
                answer = self._act_on_item(request.partner, item, section, verdict)
                self._add_record(
                    (trace_id, parent_span),
                    operation,
                    verdict,
                    answer,
                    (item.child, request.partner, item.purpose, item.scope),
                )
                results.append(answer)
        refused = sum(1 for r in results if not r.ok)
        log.info(
            "kluis_batch_decided",
            requester=request.partner,
            items=len(results),
            refused=refused,
            trace_id=trace_id,
        )
        return KluisBatchAnswer(ok=True, results=results, trace_id=trace_id)

    def _batch_sections(self, request: KluisBatchRequest) -> list[dict[str, Any] | None]:
        """The sections of a batch's items, in order (None for key items)."""
        if not any(isinstance(item, BatchSeal) for item in request.items):
            return [None] * len(request.items)
        if request.sections is None:
            raise KluisProtocolError("invalid-request", "seal items need their sections")
        try:
            opened = BatchSections.model_validate(
                decrypt_from(request.sections, self.decryption_keys(), max_length=MAX_BATCH_BYTES)
            ).sections
        except ValueError:  # a ValidationError included
            raise KluisProtocolError("invalid-request", "the sections do not match") from None
        if len(opened) != len(request.items) or any(
            isinstance(item, BatchSeal) and section is None
            for item, section in zip(request.items, opened, strict=True)
        ):
            raise KluisProtocolError("invalid-request", "a section per seal item is needed")
        return opened

    def _act_on_item(
        self,
        partner: str,
        item: BatchKey | BatchSeal,
        section: dict[str, Any] | None,
        verdict: Verdict,
    ) -> KluisAnswer:
        if not verdict.released:
            return _refused(verdict.code or "role-not-permitted", verdict.reason)
        try:
            if isinstance(item, BatchKey):
                return self._release(
                    KeyRequest(
                        partner=partner,
                        child=item.child,
                        purpose=item.purpose,
                        scope=item.scope,
                        version=item.version,
                    )
                )
            data_key = self.keystore.sealing_key(item.child, item.purpose, item.scope)
            token = seal(section or {}, key=data_key.key, kid=data_key.kid, event_id=item.event_id)
            return KluisAnswer(ok=True, kid=data_key.kid, token=token)
        except KluisError as exc:
            log.error("kluis_key_unavailable", error=type(exc).__name__)
            return _refused("key-unavailable", str(exc))

    def _signing_key_of(self, partner: str) -> OKPKey | None:
        keys = self.directory.public_keys(partner)
        return keys.signing if keys is not None else None

    def _act(self, request: AnyRequest, verdict: Verdict) -> KluisAnswer:
        if not verdict.released:
            return _refused(verdict.code or "role-not-permitted", verdict.reason)
        try:
            if isinstance(request, KeyRequest):
                return self._release(request)
            if isinstance(request, SealRequest):
                return self._seal(request)
            return self._reseal(request)
        except SealingError as exc:
            return _refused("unopenable-section", str(exc))
        except KluisError as exc:
            log.error("kluis_key_unavailable", error=type(exc).__name__)
            return _refused("key-unavailable", str(exc))

    def _release(self, request: KeyRequest) -> KluisAnswer:
        if request.version is None:
            data_key = self.keystore.sealing_key(request.child, request.purpose, request.scope)
        else:
            found = self.keystore.key(
                request.child, request.purpose, request.scope, request.version
            )
            if found is None:
                return _refused("unknown-key", "no key of this version exists")
            data_key = found
        recipient = self.directory.public_keys(request.partner)
        if recipient is None:
            raise UnknownPartnerError(f"partner {request.partner} has no keys")
        return KluisAnswer(
            ok=True, kid=data_key.kid, key=deliver_key(data_key, recipient.encryption)
        )

    def _seal(self, request: SealRequest) -> KluisAnswer:
        section = decrypt_from(request.section, self.decryption_keys())
        data_key = self.keystore.sealing_key(request.child, request.purpose, request.scope)
        token = seal(section, key=data_key.key, kid=data_key.kid, event_id=request.event_id)
        return KluisAnswer(ok=True, kid=data_key.kid, token=token)

    def _reseal(self, request: ResealRequest) -> KluisAnswer:
        kid = KeyId.parse(kid_of(request.token))
        if (kid.pseudonym, kid.purpose, kid.scope) != (
            request.child,
            request.purpose,
            request.scope,
        ):
            return _refused(
                "unopenable-section", "the section is not of this child, purpose and scope"
            )
        old = self.keystore.key(kid.pseudonym, kid.purpose, kid.scope, kid.version)
        if old is None:
            return _refused("unknown-key", "no key of this version exists")
        section = open_section(request.token, key=old.key, event_id=request.from_event_id)
        current: DataKey = self.keystore.sealing_key(request.child, request.purpose, kid.scope)
        token = seal(section, key=current.key, kid=current.kid, event_id=request.to_event_id)
        return KluisAnswer(ok=True, kid=current.kid, token=token)

    def _log_processing(
        self,
        request: AnyRequest,
        operation: Operation,
        verdict: Verdict,
        answer: KluisAnswer,
    ) -> str:
        trace_id, parent_span = trace_of(request.traceparent)
        self._add_record(
            (trace_id, parent_span),
            operation,
            verdict,
            answer,
            (request.child, request.partner, request.purpose, request.scope),
        )
        return trace_id

    def _add_record(
        self,
        trace: tuple[str, str | None],
        operation: Operation,
        verdict: Verdict,
        answer: KluisAnswer,
        who: tuple[str, str, Purpose, str],
    ) -> None:
        """Record one decision (a request, or one item of a batch): `trace` is (trace id,
        parent span), `who` is (child, requester, purpose, scope)."""
        (trace_id, parent_span), (child, requester, purpose, scope) = trace, who
        refusal = answer.refusal
        self.keystore.add_record(
            ProcessingRecord(
                trace_id=trace_id,
                parent_span_id=parent_span,
                operation=operation,
                processing_activity_id=verdict.activity_id,
                data_subject=child,
                requester=requester,
                purpose=purpose,
                decision=Decision.RELEASED if answer.ok else Decision.REFUSED,
                refusal_code=refusal.code if refusal else None,
                kid=answer.kid,
                at=self.clock(),
                register_version=self.register_.version,
                scope=scope,
            )
        )


def _end_of(day: date | None) -> datetime | None:
    """A relation that lasts until `day` (inclusive) ends at the start of the next day (UTC)."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), datetime_time.min, UTC)


def _refused(code: RefusalCode, reason: str) -> KluisAnswer:
    return KluisAnswer(ok=False, refusal=Refusal(code=code, reason=reason))

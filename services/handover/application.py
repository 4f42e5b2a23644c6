"""The handover application: applies the partners' handover events; escalates on its tick."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import structlog

from services.handover.domain import (
    Arrival,
    Handover,
    HandoverAlreadyStartedError,
    HandoverError,
    NotALinkedParentError,
    NotTheLinkedPupilError,
    Release,
    UnknownHandoverError,
)
from services.policy.handover import (
    TRANSITIONS,
    DisclosureRules,
    HandoverRules,
    load_disclosure_rules,
    load_rules,
)
from services.runtime.parent_links import PARENT_ROLE, PUPIL_ROLE, TakesParentLinks
from services.runtime.service import RuledApplication
from services.runtime.store import Batch

log = structlog.get_logger(__name__)


class HandoverApplication(TakesParentLinks, RuledApplication[HandoverRules]):
    name = "handover"
    refusals: ClassVar[tuple[type[Exception], ...]] = (HandoverError,)
    scheduled = True

    def __init__(
        self, *args: Any, disclosure: DisclosureRules | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.disclosure = disclosure or load_disclosure_rules()

    def default_rules(self) -> HandoverRules:
        return load_rules()

    # loading

    def _handover(self, batch: Batch | None, handover_id: uuid.UUID) -> Handover:
        def unknown() -> Handover:
            raise UnknownHandoverError(f"no handover {handover_id} was started")

        return (batch or Batch(self.repository)).get(Handover.create_id(handover_id), unknown)

    def due_at(self, aggregate: Any) -> Mapping[str, datetime] | None:
        if isinstance(aggregate, Handover):
            return aggregate.due(self.rules.escalation)
        return None

    def handover_of(self, handover_id: uuid.UUID) -> Handover:
        return self._handover(None, handover_id)

    def attachment_refusal(self, handover_id: uuid.UUID, partner: str, op: str) -> str | None:
        """Why `partner` may not `op` ("put" or "get") an attachment of the handover; None when
        it may (`Handover.attachment_refusal`)."""
        try:
            handover = self.handover_of(handover_id)
        except UnknownHandoverError:
            return "unknown-handover"
        return handover.attachment_refusal(partner, op)

    # commands

    def start(
        self,
        *,
        child: str,
        handover_id: uuid.UUID,
        transition: str,
        sender: dict[str, str],
        receiver: str | None,
        swv: str | None,
        planned_on: date,
        pupil_decides: bool,
        automatic: bool = False,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            created: list[Handover] = []

            def new() -> Handover:
                handover = Handover.start(
                    child=child,
                    handover_id=handover_id,
                    transition=transition,
                    sender=sender,
                    receiver=receiver,
                    swv=swv,
                    planned_on=planned_on,
                    started_on=self.clock().date(),
                    pupil_decides=pupil_decides,
                    consent_required=self.rules.requires_consent(transition),
                    parents_copy=self.rules.requires_parents_copy(transition),
                    automatic=automatic,
                    transitions=TRANSITIONS,
                )
                created.append(handover)
                return handover

            current.get(Handover.create_id(handover_id), new)
            if not created:
                raise HandoverAlreadyStartedError(f"handover {handover_id} was started before")

        self.run(batch, work)
        log.info(
            "handover_started",
            handover_id=str(handover_id),
            transition=transition,
            automatic=automatic,
        )

    def prepare_dossier(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        sections: list[dict[str, str]],
        running: list[dict[str, Any]],
        event_id: uuid.UUID,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).prepare_dossier(
                child=child,
                partner=partner,
                sections=sections,
                running=running,
                event_id=event_id,
                prepared_on=self.clock().date(),
                rules=self.disclosure,
            )

        self.run(batch, work)
        log.info("dossier_prepared", handover_id=str(handover_id), sections=len(sections))

    def record_parents_view(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        viewed_on: date,
        agreed: bool,
        opted_out: list[str],
        event_id: uuid.UUID,
        sealed: dict[str, str],
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).record_parents_view(
                child=child,
                partner=partner,
                viewed_on=viewed_on,
                agreed=agreed,
                reason_sealed="handover" in sealed,
                opted_out=opted_out,
                event_id=event_id,
                sealed=sealed,
            )

        self.run(batch, work)
        log.info("parents_viewed", handover_id=str(handover_id))

    def own_account(self, current: Batch, child: str, partner: str) -> dict[str, bool]:
        """Whether `partner` acts as a parent's own account (`by_parent`) or the pupil's own
        (`by_pupil`): then only for a child a school or the municipality linked it to (raises
        NotALinkedParentError or NotTheLinkedPupilError otherwise); both False for an
        organisation."""
        found = self.own_account_link(current, child, partner)
        role, linked = found or ("", False)
        if found is not None and not linked and role == PUPIL_ROLE:
            raise NotTheLinkedPupilError("the pupil's account is not linked to this child")
        if found is not None and not linked:
            raise NotALinkedParentError("the parent's account is not linked to this child")
        return {"by_parent": role == PARENT_ROLE, "by_pupil": role == PUPIL_ROLE}

    def record_consent(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        given_by: str,
        granted: bool,
        recorded_on: date,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            by_own = self.own_account(current, child, partner)
            self._handover(current, handover_id).record_consent(
                child=child,
                partner=partner,
                given_by=given_by,
                granted=granted,
                recorded_on=recorded_on,
                **by_own,
            )

        self.run(batch, work)
        log.info("consent_recorded", handover_id=str(handover_id), granted=granted)

    def withdraw_consent(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        given_by: str,
        withdrawn_on: date,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            by_own = self.own_account(current, child, partner)
            self._handover(current, handover_id).withdraw_consent(
                child=child,
                partner=partner,
                given_by=given_by,
                withdrawn_on=withdrawn_on,
                **by_own,
            )

        self.run(batch, work)
        log.info("consent_withdrawn", handover_id=str(handover_id))

    def request(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        receiver: dict[str, str],
        arrival: Arrival | None,
        requested_on: date,
        traceparent: str | None = None,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).request(
                child=child,
                partner=partner,
                receiver=receiver,
                arrival=arrival,
                requested_on=requested_on,
                at=self.clock(),
                activity=self.rules.processing_activity,
                traceparent=traceparent,
            )

        self.run(batch, work)
        log.info("dossier_requested", handover_id=str(handover_id), partner=partner)

    def release(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        released_on: date,
        parents_copy_on: date | None = None,
        traceparent: str | None = None,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).release(
                child=child,
                release=Release(partner, released_on, parents_copy_on),
                at=self.clock(),
                activity=self.rules.processing_activity,
                traceparent=traceparent,
            )

        self.run(batch, work)
        log.info("dossier_delivered", handover_id=str(handover_id), partner=partner)

    def hold_conversation(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        held_on: date,
        participants: list[dict[str, str]],
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).hold_conversation(
                child=child, partner=partner, held_on=held_on, participants=participants
            )

        self.run(batch, work)
        log.info("warm_conversation_held", handover_id=str(handover_id))

    def close_handover(
        self,
        *,
        child: str,
        partner: str,
        handover_id: uuid.UUID,
        closed_on: date,
        batch: Batch | None = None,
    ) -> None:
        def work(current: Batch) -> None:
            self._handover(current, handover_id).close(
                child=child, partner=partner, closed_on=closed_on
            )

        self.run(batch, work)
        log.info("handover_closed", handover_id=str(handover_id))

    # time-driven

    def escalate_overdue(self, now: datetime) -> int:
        """Escalate the handovers not delivered by their planned date; how many escalations."""
        batch = Batch(self.repository)
        count = 0
        for aggregate_id in self.due_by(now):
            handover: Handover = batch.load(aggregate_id)
            levels = handover.escalate(now, self.rules.escalation)
            for level in levels:
                log.info("handover_escalated", handover_id=str(handover.handover_id), level=level)
            count += len(levels)
        if count:
            self.save(*batch.aggregates)
        return count

    def tick(self, now: datetime) -> int:
        """The service host's periodic call: deadlines as data (infra/handover/rules.yaml)."""
        return self.escalate_overdue(now)

"""The feed service: domain events in, a copy per related partner out, relations in its store.

A consumed batch goes in three steps, so a copy is never lost and never doubled:
`prepare` works out the copies and the new relations (nothing stored yet), the handler
publishes the copies with `Nats-Msg-Id` = `<event id>:<partner>`, then `commit` records the
relations with the consumed position in one transaction. A crash between publish and commit
re-publishes the batch from the stored position, and JetStream drops the copies it has.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import Tracking

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.feed import FEED_SIGNATURE_HEADER
from ketenbus_contracts.privacy import ChildErased
from services.feed.domain import ChildFeed, FeedRules, recipients, relation_changes_of, trim
from services.runtime.store import (
    INFRASTRUCTURE_ERRORS,
    Batch,
    TrackedApplication,
    UnexpectedHandlerError,
)
from services.runtime.streams import feed_subject

log = structlog.get_logger(__name__)

# Signs a feed entry's body (the feed's own Ed25519 key): the header's value.
SignEntry = Callable[[bytes], str]


@dataclass(frozen=True)
class FeedEntry:
    """One copy on one partner's feed, as it goes on the wire."""

    partner: str
    subject: str
    body: bytes
    headers: dict[str, str]


@dataclass
class PreparedBatch:
    """What a consumed batch publishes and, once published, records."""

    tracking: Tracking | None
    batch: Batch
    entries: list[FeedEntry] = field(default_factory=list)
    erased: list[uuid.UUID] = field(default_factory=list)


class FeedApplication(TrackedApplication):
    name = "feed"

    def __init__(
        self, env: dict[str, str] | None = None, *, rules: FeedRules, sign: SignEntry
    ) -> None:
        super().__init__(env)
        self.rules = rules
        self.sign = sign
        # One consumed batch at a time across the consumers, from prepare to commit.
        self.one_batch = asyncio.Lock()

    def prepare(
        self, tracking_name: str, items: Sequence[tuple[int, Any]], through: int | None = None
    ) -> PreparedBatch:
        """The copies of the batch's events not processed before (in stream order), and the
        relations as they leave them; nothing is stored. `through`: the batch's last sequence,
        refused messages included (see `TrackedApplication.process_batch`, also for errors)."""
        start = self.position(tracking_name)
        todo = [(seq, event) for seq, event in items if seq > start]
        last = max([through or 0, *(seq for seq, _ in todo)])
        prepared = PreparedBatch(
            tracking=None
            if last <= start
            else Tracking(application_name=tracking_name, notification_id=last),
            batch=Batch(self.repository),
        )
        for seq, event in todo:
            try:
                self._copy(prepared, event)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                raise UnexpectedHandlerError(seq, exc) from exc
        log.debug("feed_batch_prepared", events=len(todo), copies=len(prepared.entries))
        return prepared

    def commit(self, prepared: PreparedBatch) -> None:
        """Record the batch's relations with its position (after its copies went out); then
        physically delete what the feed knew about erased children."""
        if prepared.tracking is None:
            return
        self.record(prepared.tracking, *prepared.batch.aggregates)
        for aggregate_id in prepared.erased:
            self.purge(aggregate_id)

    def _copy(self, prepared: PreparedBatch, event: CloudEvent[Any]) -> None:
        changes = relation_changes_of(event)
        opened: list[ChildFeed] = []

        def open_feed() -> ChildFeed:
            opened.append(ChildFeed(event.subject))
            return opened[0]

        aggregate_id = ChildFeed.create_id(event.subject)
        feed = prepared.batch.get(aggregate_id, open_feed)
        notify = [str(p) for p in getattr(event.data, "notify", None) or []]
        if opened and not changes:
            # Nobody is related to a child the feed never heard of: nothing to store, and only
            # whom the event names to send to.
            prepared.batch.forget(aggregate_id)
            if not notify:
                return
        before = {p: feed.bases_of(p) for p in feed.partners()}
        named: set[str] = set()
        for change in changes:
            named |= feed.apply(change)
        bases = {p: before.get(p, set()) | feed.bases_of(p) for p in {*before, *feed.partners()}}
        if isinstance(event, ChildErased):
            feed.erase()
            prepared.erased.append(feed.id)
        notified = _addressees(event)
        chosen = recipients(self.rules, event.type, bases, named, notified, notify)
        if not chosen:
            return
        envelope = event.model_dump(mode="json", exclude_none=True)
        for partner in chosen:
            body = json.dumps(
                trim(envelope, self.rules.purposes_of(partner, bases.get(partner, set()))),
                separators=(",", ":"),
            ).encode()
            prepared.entries.append(
                FeedEntry(
                    partner=partner,
                    subject=feed_subject(partner, event.domain, event.name),
                    body=body,
                    headers={
                        "Nats-Msg-Id": f"{event.id}:{partner}",
                        FEED_SIGNATURE_HEADER: self.sign(body),
                    },
                )
            )


def _addressees(event: CloudEvent[Any]) -> list[str]:
    """Whom the event itself addresses: its `data.notify` (a match), else its `data.partner`
    (a history notice to the new signaller, an informing task), else its signaller's
    (whom a signaller is to inform of its signal)."""
    notify = getattr(event.data, "notify", None)
    if notify:
        return [str(p) for p in notify]
    partner = getattr(event.data, "partner", None)
    if isinstance(partner, str):
        return [partner]
    signaller = getattr(getattr(event.data, "signaller", None), "partner", None)
    return [signaller] if isinstance(signaller, str) else []

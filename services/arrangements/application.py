"""The arrangements application: loads a child's arrangements, applies the decision, records
it; runs the clock (reminders, passed deadlines) and answers the small queries (regie,
tandem, TLVs per period for the monitor)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import structlog

from services.arrangements.domain import ArrangementsError, ChildArrangements
from services.arrangements.rules import Rules, load_rules
from services.runtime.service import RuledApplication
from services.runtime.store import Batch

log = structlog.get_logger(__name__)

# Decisions are dated in the Netherlands: "today" is the date there.
LOCAL = ZoneInfo("Europe/Amsterdam")
_TLV_ISSUED = "ChildArrangements.TlvIssued"


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class ArrangementsApplication(RuledApplication[Rules]):
    name = "arrangements"
    refusals: ClassVar[tuple[type[Exception], ...]] = (ArrangementsError,)
    scheduled = True

    def default_rules(self) -> Rules:
        return load_rules()

    def today(self) -> date:
        return self.clock().astimezone(LOCAL).date()

    def arrangements(self, batch: Batch | None, child: str) -> ChildArrangements:
        return self.load(batch, ChildArrangements, child)

    def arrangements_of(self, child: str) -> ChildArrangements:
        return self.arrangements(None, child)

    # the clock

    def due_at(self, aggregate: Any) -> Mapping[str, datetime] | None:
        """A child's reminders and dispute deadlines, from the start of their day here."""
        if not isinstance(aggregate, ChildArrangements):
            return None
        due = aggregate.due(self.rules)
        return {
            what: datetime.combine(day, time(), LOCAL).astimezone(UTC) for what, day in due.items()
        }

    def tick(self, now: datetime) -> int:
        """Record every reminder and passed deadline due at `now`; how many were recorded."""
        today = now.astimezone(LOCAL).date()
        recorded = 0
        for aggregate_id in self.due_by(now):
            aggregate: ChildArrangements = self.repository.get(aggregate_id)
            count = aggregate.remind(today, self.rules)
            if count:
                self.save(aggregate)
                recorded += count
        if recorded:
            log.info("arrangements_reminders", count=recorded)
        return recorded

    # queries

    def tlv_counts(self) -> dict[str, dict[str, int]]:
        """TLVs per quarter of their start and per category: the monitor's figure, no
        personal data (seed 001 B1: monitored against the national average)."""
        counts: dict[str, Counter[str]] = {}
        start = 0
        while page := self.recorder.select_notifications(start, 500, inclusive_of_start=False):
            for notification in page:
                if notification.topic.endswith(_TLV_ISSUED):
                    tlv: Any = self.mapper.to_domain_event(notification)
                    counts.setdefault(quarter_of(tlv.start_on), Counter())[tlv.categorie] += 1
            start = page[-1].id
        return {period: dict(sorted(c.items())) for period, c in sorted(counts.items())}

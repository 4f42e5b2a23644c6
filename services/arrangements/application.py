"""The arrangements application: loads a child's arrangements, applies the decision, records
it; runs the clock (reminders, passed deadlines) and answers the small queries (regie,
tandem, TLVs per period for the monitor)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import structlog

from services.arrangements.domain import ArrangementsError, ChildArrangements
from services.arrangements.monitor import MonitorRules, school_year_bounds
from services.arrangements.rules import Rules, load_rules
from services.runtime.parent_links import TakesParentLinks
from services.runtime.service import RuledApplication
from services.runtime.store import Batch

log = structlog.get_logger(__name__)

# Decisions are dated in the Netherlands: "today" is the date there.
LOCAL = ZoneInfo("Europe/Amsterdam")
_TLV_ISSUED = "ChildArrangements.TlvIssued"
_ARRANGEMENT_AGREED = "ChildArrangements.ArrangementAgreed"


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class UnknownSchoolYearError(ArrangementsError):
    """The monitor table has no pupils or national figure for that school year."""


class ArrangementsApplication(TakesParentLinks, RuledApplication[Rules]):
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

    def _recorded(self, topic: str) -> Iterator[Any]:
        """Every recorded domain event whose topic ends with `topic`, in order."""
        start = 0
        while page := self.recorder.select_notifications(start, 500, inclusive_of_start=False):
            for notification in page:
                if notification.topic.endswith(topic):
                    yield self.mapper.to_domain_event(notification)
            start = page[-1].id

    def joint_deployments(self, monitor: MonitorRules) -> dict[str, dict[str, int]]:
        """Seed 004's indicator: per quarter of their start, the arrangements agreed with
        parties from education and from care together, against all agreed."""
        counts: dict[str, Counter[str]] = {}
        for agreed in self._recorded(_ARRANGEMENT_AGREED):
            roles = {r for p in agreed.parties if (r := self.rules.role_of(p["partner"]))}
            quarter = counts.setdefault(quarter_of(agreed.start_on), Counter())
            quarter["arrangements"] += 1
            quarter["joint"] += monitor.joint_deployment.joint(roles)
        return {period: dict(c) for period, c in sorted(counts.items())}

    def tlv_rate(self, monitor: MonitorRules, school_year: str) -> dict[str, Any]:
        """Seed 001 B1: per SWV, the TLVs starting in the school year as a share of its pupils,
        against the national figure (both from `infra/arrangements/monitor.yaml`)."""
        start, end = school_year_bounds(school_year)
        year = monitor.tlv_rate.get(school_year)
        if year is None:
            raise UnknownSchoolYearError(f"no pupils or national figure for {school_year}")
        issued: Counter[str] = Counter(
            tlv.swv["partner"]
            for tlv in self._recorded(_TLV_ISSUED)
            if start <= tlv.start_on <= end
        )
        rates = {}
        for swv, pupils in sorted(year.pupils.items()):
            percent = round(100 * issued[swv] / pupils, 2) if pupils else 0.0
            rates[swv] = {
                "tlvs": issued[swv],
                "pupils": pupils,
                "percent": percent,
                "national_percent": year.national_percent,
                "above_national": percent > year.national_percent,
                "source": year.source,
                "placeholder": year.placeholder,
            }
        return {"school_year": school_year, "swv": rates}

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

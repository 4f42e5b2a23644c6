"""The regional thuiszitters monitor (seed 001 F4): episodes at home and exemptions, per region.

Only open episodes are keyed by the child's pseudonym (to end them); an ended episode keeps its
dates, category and reason and forgets the child. Counts per quarter come from the episodes
that overlap the quarter. No I/O here.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.runtime.aggregate import PerRegion

NAMESPACE = uuid.UUID("6d6f6e69-746f-4072-8000-726567696f6e")


class MonitorError(Exception):
    """A monitor rule refused the event."""


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """`2026Q3` → (2026-07-01, 2026-09-30)."""
    year, q = quarter.upper().split("Q")
    number = int(q)
    if not 1 <= number <= 4:
        raise ValueError(f"not a quarter: {quarter}")
    start = date(int(year), 3 * number - 2, 1)
    end = date(int(year) + 1, 1, 1) if number == 4 else date(int(year), 3 * number + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def _overlaps(since: date, until: date | None, start: date, end: date) -> bool:
    return since <= end and (until is None or until >= start)


class RegionMonitor(PerRegion):
    class EpisodeStarted(Aggregate.Event):
        child: str
        category: int
        since: date
        absolute: bool
        reason: str

    class EpisodeReason(Aggregate.Event):
        child: str
        reason: str

    class EpisodeEnded(Aggregate.Event):
        child: str
        ended_on: date

    class ExemptionCounted(Aggregate.Event):
        exemption_id: uuid.UUID
        article: str
        valid_from: date
        valid_until: date | None

    class ChildForgotten(Aggregate.Event):
        child: str

    namespace, kind = NAMESPACE, "region-monitor"

    def opened(self) -> None:
        self.open: dict[str, dict[str, Any]] = {}
        self.ended: list[dict[str, Any]] = []
        self.exemptions: dict[uuid.UUID, tuple[str, date, date | None]] = {}

    def start(self, child: str, category: int, since: date, absolute: bool, reason: str) -> None:
        if child in self.open:
            self.end(child, since)
        self._episode_started(
            child=child, category=category, since=since, absolute=absolute, reason=reason
        )

    def reason(self, child: str, reason: str) -> None:
        if child in self.open and self.open[child]["reason"] != reason:
            self._episode_reason(child=child, reason=reason)

    def end(self, child: str, on: date) -> None:
        if child in self.open:
            self._episode_ended(child=child, ended_on=on)

    def exemption(
        self, exemption_id: uuid.UUID, article: str, valid_from: date, valid_until: date | None
    ) -> None:
        if exemption_id not in self.exemptions:
            self._exemption_counted(
                exemption_id=exemption_id,
                article=article,
                valid_from=valid_from,
                valid_until=valid_until,
            )

    def forget(self, child: str) -> None:
        """Erasure: the open episode stays counted, without the child's pseudonym."""
        if child in self.open:
            self._child_forgotten(child=child)

    def figures(self, quarter: str) -> dict[str, Any]:
        """The F4 counts for a quarter (not yet suppressed)."""
        start, end = quarter_bounds(quarter)
        episodes = [
            e
            for e in [*self.open.values(), *self.ended]
            if _overlaps(e["since"], e.get("until"), start, end)
        ]
        reasons: dict[str, int] = {}
        for e in episodes:
            reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
        articles: dict[str, int] = {}
        for article, since, until in self.exemptions.values():
            if _overlaps(since, until, start, end):
                articles[article] = articles.get(article, 0) + 1
        return {
            "categorie_1_absoluut_verzuim": sum(e["category"] == 1 for e in episodes),
            "categorie_2_thuiszitters": sum(e["category"] == 2 for e in episodes),
            "absolute_thuiszitters": sum(e["category"] == 2 and e["absolute"] for e in episodes),
            "vrijstellingen": dict(sorted(articles.items())),
            "redenen": dict(sorted(reasons.items())),
        }

    @event(EpisodeStarted)
    def _episode_started(
        self, child: str, category: int, since: date, absolute: bool, reason: str
    ) -> None:
        self.open[child] = {
            "category": category,
            "since": since,
            "absolute": absolute,
            "reason": reason,
        }

    @event(EpisodeReason)
    def _episode_reason(self, child: str, reason: str) -> None:
        self.open[child]["reason"] = reason

    @event(EpisodeEnded)
    def _episode_ended(self, child: str, ended_on: date) -> None:
        self.ended.append(self.open.pop(child) | {"until": ended_on})

    @event(ExemptionCounted)
    def _exemption_counted(
        self, exemption_id: uuid.UUID, article: str, valid_from: date, valid_until: date | None
    ) -> None:
        self.exemptions[exemption_id] = (article, valid_from, valid_until)

    @event(ChildForgotten)
    def _child_forgotten(self, child: str) -> None:
        # Keyed by a random id from now on: it can no longer be ended by the child's events.
        self.open[f"erased-{uuid.uuid4().hex}"] = self.open.pop(child)


def suppress(figures: dict[str, Any], below: int) -> dict[str, Any]:
    """Counts from 1 to `below - 1` become "<below": no child can be recognised by them."""

    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, int) and 0 < value < below:
            return f"<{below}"
        return value

    return {k: one(v) for k, v in figures.items()}

"""The regional thuiszitters monitor (seed 001 F4): episodes at home and exemptions, per region
and municipality; and the annual leerplicht figures (verzuimmeldingen by kind, exemptions by
article, thuiszitters by category) per school year.

Only open episodes are keyed by the child's pseudonym (to end them); an ended episode keeps its
dates, category and reason and forgets the child. Counts per quarter come from the episodes
that overlap the quarter. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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


def school_year_bounds(school_year: str) -> tuple[date, date]:
    """`2026-2027` → (2026-08-01, 2027-07-31): the school year the leerplicht figures count."""
    first, _, second = school_year.partition("-")
    start = int(first)
    if second != str(start + 1):
        raise ValueError(f"not a school year: {school_year}")
    return date(start, 8, 1), date(start + 1, 7, 31)


UNKNOWN = "onbekend"


def _overlaps(since: date, until: date | None, start: date, end: date) -> bool:
    return since <= end and (until is None or until >= start)


class RegionMonitor(PerRegion):
    class EpisodeStarted(Aggregate.Event):
        child: str
        category: int
        since: date
        absolute: bool
        reason: str
        municipality: str | None = None  # recorded since the monitor counts per municipality

    class ReportCounted(Aggregate.Event):
        report_id: uuid.UUID
        kind: str
        end_on: date

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
        self.reports: dict[uuid.UUID, tuple[str, date]] = {}  # no child: kind and day only

    def start(
        self,
        child: str,
        category: int,
        since: date,
        absolute: bool,
        reason: str,
        municipality: str | None = None,
    ) -> None:
        if child in self.open:
            self.end(child, since)
        self._episode_started(
            child=child,
            category=category,
            since=since,
            absolute=absolute,
            reason=reason,
            municipality=municipality,
        )

    def report(self, report_id: uuid.UUID, kind: str, end_on: date) -> None:
        """A verzuimmelding, counted by kind for the annual figures (without the child)."""
        if report_id not in self.reports:
            self._report_counted(report_id=report_id, kind=kind, end_on=end_on)

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

    def municipalities(self) -> list[str]:
        """The municipalities the episodes name (`onbekend` where the feed named none)."""
        found = {e.get("municipality") or UNKNOWN for e in [*self.open.values(), *self.ended]}
        return sorted(found)

    def _episodes(
        self, start: date, end: date, municipality: str | None = None
    ) -> list[dict[str, Any]]:
        """The episodes overlapping start..end (of one municipality when named)."""
        return [
            e
            for e in [*self.open.values(), *self.ended]
            if _overlaps(e["since"], e.get("until"), start, end)
            and (municipality is None or (e.get("municipality") or UNKNOWN) == municipality)
        ]

    def _articles(self, start: date, end: date) -> dict[str, int]:
        """Exemptions valid within start..end, by article."""
        return _counted(a for a, since, until in self.exemptions.values()
                        if _overlaps(since, until, start, end))  # fmt: skip

    def figures(self, quarter: str, municipality: str | None = None) -> dict[str, Any]:
        """The F4 counts for a quarter (not yet suppressed), of one municipality when named
        (exemptions are counted per region only: they name no municipality)."""
        start, end = quarter_bounds(quarter)
        episodes = self._episodes(start, end, municipality)
        return {
            "categorie_1_absoluut_verzuim": sum(e["category"] == 1 for e in episodes),
            "categorie_2_thuiszitters": sum(e["category"] == 2 for e in episodes),
            "absolute_thuiszitters": sum(e["category"] == 2 and e["absolute"] for e in episodes),
            "vrijstellingen": {} if municipality else self._articles(start, end),
            "redenen": _counted(e["reason"] for e in episodes),
        }

    def annual(self, school_year: str) -> dict[str, Any]:
        """The leerplicht figures of a school year (not yet suppressed): thuiszitters by
        category, verzuimmeldingen by kind, exemptions by article."""
        start, end = school_year_bounds(school_year)
        episodes = self._episodes(start, end)
        return {
            "absoluut_verzuim": sum(e["category"] == 1 for e in episodes),
            "thuiszitters_categorie_2": sum(e["category"] == 2 for e in episodes),
            "verzuimmeldingen": _counted(
                k for k, on in self.reports.values() if start <= on <= end
            ),
            "vrijstellingen": self._articles(start, end),
        }

    @event(EpisodeStarted)
    def _episode_started(
        self,
        child: str,
        category: int,
        since: date,
        absolute: bool,
        reason: str,
        municipality: str | None = None,
    ) -> None:
        self.open[child] = {
            "category": category,
            "since": since,
            "absolute": absolute,
            "reason": reason,
            "municipality": municipality,
        }

    @event(ReportCounted)
    def _report_counted(self, report_id: uuid.UUID, kind: str, end_on: date) -> None:
        self.reports[report_id] = (kind, end_on)

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


def _counted(keys: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def suppress(figures: dict[str, Any], below: int) -> dict[str, Any]:
    """Counts from 1 to `below - 1` become "<below": no child can be recognised by them."""

    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, int) and 0 < value < below:
            return f"<{below}"
        return value

    return {k: one(v) for k, v in figures.items()}

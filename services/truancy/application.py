"""The truancy application: loads a child's attendance, applies the command, records it; the
tick applies what time alone decides (category 1, the end of category 2, the three-month rule)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

import structlog
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from services.policy.regions import RegionRules, load_regions
from services.runtime.aggregate import Value
from services.runtime.service import ServiceApplication
from services.runtime.store import Batch, Clock, Inbound, utcnow
from services.truancy.domain import (
    Advice,
    ChildAttendance,
    Exemption,
    ReducedTime,
    RegionWatch,
    Thuiszitter,
    TruancyError,
)

log = structlog.get_logger(__name__)


class UnknownRegionError(TruancyError):
    """The event names a region without rules under infra/truancy/."""


class PublisherMismatchError(TruancyError):
    """A partner may only publish in its own name (school, leerplicht, municipality)."""


class TruancyApplication(ServiceApplication):
    name = "truancy"
    refusals: ClassVar[tuple[type[Exception], ...]] = (TruancyError,)
    # Absences are the highest-volume stream: a child's aggregate is loaded from its latest
    # snapshot plus a few events, so the cost of an absence does not grow with the school year.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        ChildAttendance: 16
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock = utcnow,
        regions: dict[str, RegionRules] | None = None,
        *,
        inbound: Inbound | None = None,
    ) -> None:
        super().__init__(env, clock, inbound=inbound)
        self.regions = regions if regions is not None else load_regions()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """The state's values go into snapshots as their dicts."""
        super().register_transcodings(transcoder)
        for value in (Exemption, Advice, Thuiszitter, ReducedTime):
            transcoder.register(_ValueAsDict(value))

    def rules(self, region: str) -> RegionRules:
        try:
            return self.regions[region]
        except KeyError:
            raise UnknownRegionError(f"no truancy rules for region {region}") from None

    def child(self, batch: Batch | None, child: str) -> ChildAttendance:
        return self.load(batch, ChildAttendance, child)

    def attendance_of(self, child: str) -> ChildAttendance:
        return self.child(None, child)

    def command(
        self, child: str, act: Callable[[ChildAttendance], None], batch: Batch | None = None
    ) -> ChildAttendance:
        """Apply `act` to the child's aggregate; keep the region's watch list in step."""
        work = batch or Batch(self.repository)
        attendance = self.child(work, child)
        watched = _needs_watch(attendance)
        act(attendance)
        region = attendance.region
        if _needs_watch(attendance) != watched and region is not None:
            watch = work.get(RegionWatch.create_id(region), partial(RegionWatch, region))
            if watched:
                watch.unwatch(child)
            else:
                watch.watch(child)
        if batch is None:
            self.save(*work.aggregates)
        return attendance

    def tick(self, now: datetime) -> int:
        """Apply the time-driven rules to every watched child; how many events were recorded."""
        today = now.date()
        recorded = 0
        for region, rules in self.regions.items():
            work = Batch(self.repository)
            watch = work.get(RegionWatch.create_id(region), partial(RegionWatch, region))
            review = partial(ChildAttendance.review, rules=rules, today=today)
            for child in sorted(watch.children):
                self.command(child, review, work)
            recorded += self._save_collected(work)
        return recorded

    def _save_collected(self, work: Batch) -> int:
        pending = sum(len(a.pending_events) for a in work.aggregates)
        if pending:
            self.save(*work.aggregates)
            log.info("truancy_tick_recorded", events=pending)
        return pending


class _ValueAsDict(Transcoding):
    """A frozen value of the state as the dict of its fields (snapshots)."""

    def __init__(self, value: type[Value]) -> None:
        self.type = value
        self.value = value
        self.name = f"truancy_{value.__name__.lower()}"

    def encode(self, obj: Value) -> dict[str, Any]:
        return obj.stored()

    def decode(self, data: dict[str, Any]) -> Value:
        return self.value.of(data)


def _needs_watch(attendance: ChildAttendance) -> bool:
    """A thuiszitter, or a resident of compulsory age without an enrolment."""
    waiting = attendance.resident is not None and not attendance.enrolled
    return attendance.thuiszitter is not None or waiting

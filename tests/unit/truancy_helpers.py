"""Shared builders for the truancy unit tests: a test region with its own calendar and clock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from ketenbus_contracts.truancy import (
    AbsenceRecorded,
    AbsenceRecordedData,
    PupilEnrolled,
    PupilEnrolledData,
)
from services.policy.regions import RegionRules, load_regions
from services.truancy.application import TruancyApplication
from services.truancy.translation import apply_inbound

SCHOOL = "bs-de-regenboog"
LEERPLICHT = "leerplicht-lingewaard"
BRIN = "99ZZ"
CHILD = "c" * 32


def region(**changes: Any) -> RegionRules:
    """The test region: Lingewaard's rules, an autumn holiday 2026-10-19..23, 25 h a week."""
    base = load_regions()["lingewaard"].model_dump()
    base["calendar"] = {
        "holidays": [{"name": "herfst", "start": date(2026, 10, 17), "end": date(2026, 10, 25)}]
    }
    for path, value in changes.items():
        target = base
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return RegionRules.model_validate(base)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def application(rules: RegionRules | None = None, clock: Clock | None = None) -> TruancyApplication:
    rules = rules or region()
    return TruancyApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        clock=clock or Clock(datetime(2026, 9, 1, tzinfo=UTC)),
        regions={rules.region: rules},
    )


def enrol(app: TruancyApplication, child: str = CHILD, on: date = date(2026, 8, 31)) -> None:
    apply_inbound(app, PupilEnrolled.create(
        source=SCHOOL, subject=child,
        data=PupilEnrolledData(school=SCHOOL, brin=BRIN, region="lingewaard", enrolled_on=on),
    ))  # fmt: skip


def absent(
    app: TruancyApplication,
    on: date,
    hours: float,
    *,
    authorised: bool = False,
    child: str = CHILD,
    lessons: int | None = None,
) -> uuid.UUID:
    absence_id = uuid.uuid4()
    apply_inbound(app, AbsenceRecorded.create(
        source=SCHOOL, subject=child,
        data=AbsenceRecordedData(
            absence_id=absence_id, school=SCHOOL, brin=BRIN, region="lingewaard", on=on,
            hours=hours, lessons=lessons, authorised=authorised,
        ),
    ))  # fmt: skip
    return absence_id


def recorded(app: TruancyApplication) -> list[Any]:
    """Every domain event the application recorded, in order."""
    events = []
    start = 1
    while True:
        section = app.notification_log.select(start, 10)
        if not section:
            return events
        events += [app.mapper.to_domain_event(n) for n in section]
        start = section[-1].id + 1


def of_type(app: TruancyApplication, name: str) -> list[Any]:
    return [e for e in recorded(app) if type(e).__name__ == name]

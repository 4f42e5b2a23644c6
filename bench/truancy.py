"""The absence path at region scale: a synthetic region and a school year of absences.

Run: `.venv/bin/python -m bench.truancy [PUPILS] [WEEKS] [--store sqlite|popo]`
(defaults 20000 pupils, 38 school weeks, SQLite in a temporary directory).

The generator makes a region of PUPILS enrolled pupils in schools of 500; every school day a
pupil is absent with a small probability (a few lesson periods, mostly authorised), a few
percent are regular truants and a few in a thousand stay home most of the time. Events are the
inbound `absence-recorded` JSON a LAS would publish (sealing is the partner's cost, measured in
bench.sealing), decoded and applied with `process_batch` in batches of 100, as the service does.
Wall-clock rates depend on what else runs on the machine; `cpu_us_per_event` (this process's
CPU time, generator included) is the steadier figure for how the cost grows.

Prints JSON: events/s overall and per block of weeks (flat = the four-week window does not
rescan history), and the outcomes (reports, thuiszitters).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from ketenbus_contracts.pseudonym import school_pupil_pseudonym
from ketenbus_contracts.truancy import (
    AbsenceRecorded,
    AbsenceRecordedData,
    PupilEnrolled,
    PupilEnrolledData,
)
from services.policy.regions import RegionRules, load_regions
from services.truancy.application import TruancyApplication
from services.truancy.domain import ChildAttendance
from services.truancy.handlers import decode_inbound
from services.truancy.translation import apply_inbound

SCHOOL_SIZE = 500
BATCH = 100
FIRST_MONDAY = date(2026, 8, 24)
SECRET = b"bench-secret-not-for-production!"


def region() -> RegionRules:
    rules = load_regions()["lingewaard"]
    schools = dict(rules.schools)
    template = next(iter(schools.values()))
    return rules.model_copy(update={"schools": {f"school-{i:03d}": template for i in range(200)}})


def pupils(count: int) -> list[tuple[str, str, float]]:
    """(pseudonym, school, daily absence probability) per pupil."""
    rng = random.Random(1)
    found = []
    for n in range(count):
        school = f"school-{n // SCHOOL_SIZE:03d}"
        kind = rng.random()
        rate = 0.9 if kind < 0.003 else 0.15 if kind < 0.03 else 0.03
        found.append((school_pupil_pseudonym(SECRET, "99ZZ", str(n)), school, rate))
    return found


def school_days(rules: RegionRules, weeks: int) -> list[date]:
    days: list[date] = []
    monday = FIRST_MONDAY
    while len(days) < weeks * 5:
        if rules.calendar.is_school_week(monday):
            days += [monday + timedelta(days=d) for d in range(5)]
        monday += timedelta(days=7)
    return days


def enrolments(population: list[tuple[str, str, float]]) -> Iterator[bytes]:
    for pseudonym, school, _ in population:
        data = PupilEnrolledData(school=school, brin="99ZZ", region="lingewaard",
                                 enrolled_on=FIRST_MONDAY)  # fmt: skip
        yield PupilEnrolled.create(source=school, subject=pseudonym, data=data).to_bytes()


def absences(
    population: list[tuple[str, str, float]], day: date, rng: random.Random
) -> Iterator[bytes]:
    for pseudonym, school, rate in population:
        if rng.random() >= rate:
            continue
        lessons = rng.randint(4, 6) if rate > 0.5 else rng.randint(1, 6)
        data = AbsenceRecordedData(
            absence_id=uuid.uuid4(), school=school, brin="99ZZ", region="lingewaard", on=day,
            hours=float(lessons), lessons=lessons, authorised=rng.random() < 0.7 or rate > 0.5,
        )  # fmt: skip
        yield AbsenceRecorded.create(source=school, subject=pseudonym, data=data).to_bytes()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    store = "popo" if "--store=popo" in sys.argv or "popo" in sys.argv[1:] else "sqlite"
    count = int(args[0]) if args else 20_000
    weeks = int(args[1]) if len(args) > 1 else 38
    rules = region()
    tmp = tempfile.mkdtemp(prefix="bench-truancy-")
    env = {"PERSISTENCE_MODULE": f"eventsourcing.{store}"}
    if store == "sqlite":
        env |= {"SQLITE_DBNAME": str(Path(tmp) / "truancy.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    app = TruancyApplication(env=env, regions={rules.region: rules}, inbound=apply_inbound)
    population = pupils(count)
    seq = 0

    def run(messages: Iterator[bytes]) -> int:
        nonlocal seq
        done, pending = 0, []
        for raw in messages:
            seq += 1
            pending.append((seq, decode_inbound(raw)))
            if len(pending) == BATCH:
                app.process_batch("INBOUND:truancy", pending)
                done, pending = done + len(pending), []
        if pending:
            app.process_batch("INBOUND:truancy", pending)
            done += len(pending)
        return done

    started = time.perf_counter()
    run(enrolments(population))
    enrol_seconds = time.perf_counter() - started
    rng = random.Random(2)
    days = school_days(rules, weeks)
    blocks = []
    total, absence_seconds = 0, 0.0
    for block in range(0, len(days), 25):  # blocks of five school weeks
        started, cpu = time.perf_counter(), time.process_time()
        events = sum(run(absences(population, day, rng)) for day in days[block : block + 25])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        blocks.append({"weeks": f"{block // 5 + 1}-{min(block + 25, len(days)) // 5}",
                       "events": events, "events_per_s": round(events / seconds),
                       "cpu_us_per_event": round(1e6 * cpu / events)})  # fmt: skip
        total += events
        absence_seconds += seconds
    sample = [app.attendance_of(p) for p, _, _ in population[:2000]]
    result = {
        "store": store,
        "pupils": count,
        "school_weeks": weeks,
        "enrolments_per_s": round(count / enrol_seconds),
        "absences": total,
        "absences_per_s": round(total / absence_seconds),
        "per_five_weeks": blocks,
        "max_weeks_kept_per_child": max(len(a.weeks) for a in sample),
        "reports_in_first_2000": sum(len(a.reports) for a in sample),
        "thuiszitters_in_first_2000": sum(a.thuiszitter is not None for a in sample),
        "aggregate": ChildAttendance.__name__,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Publishing what the EDEXML and absence-CSV imports read, as the school would.

The school's own keyring seals (identity through kluis, which seals for a school without a
relation yet; attendance with the key the enrolment relation gives it) and its keys sign every
event (`services.runtime.partner.publish_signed`). Event ids are derived
from the content, so re-running an import within the duplicate window publishes nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from adapters.edexml.importer import Enrolment, ImportPlan
from adapters.intake import check_school, load_limits
from adapters.las_csv.reader import AbsenceRow, RowProblem, read_absences
from ketenbus_contracts.pseudonym import PupilKey
from ketenbus_contracts.truancy import (
    AbsenceDetails,
    AbsenceRecorded,
    AbsenceRecordedData,
    PupilDeEnrolled,
    PupilDeEnrolledData,
    PupilEnrolled,
    PupilEnrolledData,
)
from services.runtime.keyring import Keyring, KluisUnavailableError
from services.runtime.nats_auth import partner_connect, settings_for
from services.runtime.partner import publish_signed
from services.runtime.pseudonyms import PseudonymClient
from services.runtime.settings import Settings
from services.truancy.rules import RegionRules

NAMESPACE = uuid.UUID("0f2d3c4b-5a69-4788-97a6-696d706f7274")
Progress = Callable[[int, int], None]
RETRIES = 4


async def _seal(keyring: Keyring, model: BaseModel, child: str, event_id: uuid.UUID) -> Any:
    """Seal, retrying when kluis answers late (a busy backbone), then giving up loudly."""
    for attempt in range(RETRIES):
        try:
            return await keyring.seal(model, child=child, event_id=event_id)
        except KluisUnavailableError:
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


async def _school_connection(
    url: str, data_dir: Path, school: str, settings: Settings | None
) -> NatsClient:
    """The school's own connection (settings: `nats_auth.settings_for`)."""
    return await partner_connect(settings_for(url, settings, data_dir), school, url)


async def publish_edexml(
    url: str,
    data_dir: Path,
    school: str,
    rules: RegionRules,
    plan: ImportPlan,
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> int:
    """Publish the plan's enrolments and de-enrolments; how many events were published.

    WrongSchoolError, before connecting, when the export is not `school`'s own.
    """
    brin = plan.header.brin
    check_school(brin, school, what="EDEXML export")
    total = len(plan.enrolments) + len(plan.de_enrolments)
    nc = await _school_connection(url, data_dir, school, settings)
    try:
        js = nc.jetstream()
        keyring = Keyring.for_partner(data_dir, school, nc)
        done = 0

        async def enrol(enrolment: Enrolment) -> None:
            event_id = uuid.uuid5(NAMESPACE, f"enrol/{school}/{enrolment.pseudonym}/{plan.day}")
            sealed = await _seal(keyring, enrolment.identity, enrolment.pseudonym, event_id)
            data = PupilEnrolledData(
                school=school,
                brin=brin,
                region=rules.region,
                enrolled_on=enrolment.enrolled_on,
                sealed=sealed,
            )
            event = PupilEnrolled.create(
                id=event_id,
                source=school,
                subject=enrolment.pseudonym,
                data=data,
                purposes=sorted(sealed),
            )
            await publish_signed(js, event, keyring.keys)

        async def de_enrol(pseudonym: str) -> None:
            event_id = uuid.uuid5(NAMESPACE, f"de-enrol/{school}/{pseudonym}/{plan.day}")
            left = PupilDeEnrolledData(
                school=school, brin=brin, region=rules.region, de_enrolled_on=plan.day
            )
            event = PupilDeEnrolled.create(id=event_id, source=school, subject=pseudonym, data=left)
            await publish_signed(js, event, keyring.keys)

        async def counted(job: Awaitable[None]) -> None:
            nonlocal done
            async with in_flight:
                await job
            done += 1
            if progress is not None and done % 500 == 0:
                progress(done, total)

        # Each pupil waits on kluis and on JetStream's ack: many at once, not one by one.
        in_flight = asyncio.Semaphore(load_limits().publish_in_flight)
        await _all(counted(enrol(e)) for e in plan.enrolments)
        await _all(counted(de_enrol(p)) for p in plan.de_enrolments)
        return done
    finally:
        await nc.close()


async def _all(jobs: Iterable[Awaitable[None]]) -> None:
    """Run the jobs together; the first failure cancels the rest and is raised."""
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(job)  # type: ignore[arg-type]


@dataclass
class AbsenceImport:
    published: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    unknown_pupils: list[int] = field(default_factory=list)  # line numbers


def absence_event(
    row: AbsenceRow, school: str, brin: str, rules: RegionRules, child: str
) -> tuple[uuid.UUID, AbsenceDetails, AbsenceRecordedData]:
    """The event id, sealed part and clear part of one CSV row."""
    minutes = rules.schools[school].lesson_minutes if school in rules.schools else 50
    hours = row.hours if row.hours is not None else round((row.lessons or 0) * minutes / 60, 2)
    kind = f"{hours}/{row.lessons}/{row.authorised}/{row.reason_code}"
    key = f"absence/{school}/{child}/{row.on}/{kind}"
    event_id = uuid.uuid5(NAMESPACE, key)
    details = AbsenceDetails(reason_code=row.reason_code, notes=row.notes)
    data = AbsenceRecordedData(
        absence_id=event_id,
        school=school,
        brin=brin,
        region=rules.region,
        on=row.on,
        hours=hours,
        lessons=row.lessons,
        authorised=row.authorised,
    )
    return event_id, details, data


async def publish_absences(
    url: str,
    data_dir: Path,
    school: str,
    rules: RegionRules,
    path: Path | list[AbsenceRow | RowProblem],
    keys: dict[str, str],
    brin: str,
    progress: Progress | None = None,
    settings: Settings | None = None,
) -> AbsenceImport:
    """Publish each valid row of an absence CSV (its path, or its rows `read_absences` read);
    `keys` maps pupil-key pseudonyms to children."""
    result = AbsenceImport()
    # The whole file first: a file refused (unreadable, another school's) publishes nothing.
    items = list(read_absences(path, school=school)) if isinstance(path, Path) else path
    nc = await _school_connection(url, data_dir, school, settings)
    try:
        js = nc.jetstream()
        keyring = Keyring.for_partner(data_dir, school, nc)
        # One batch request for every pupil key: the pseudonym service holds the secret.
        pseudonyms = await PseudonymClient.for_partner(data_dir, school, nc).resolve(
            PupilKey(brin=brin, pupil_key=i.pupil_key)
            for i in items
            if not isinstance(i, RowProblem)
        )
        for item in items:
            if isinstance(item, RowProblem):
                result.problems.append(item)
                continue
            if item.reason_code not in rules.codes.absence_reasons:
                result.problems.append(RowProblem(item.line, "reason_code", "not a known code"))
                continue
            child = keys.get(pseudonyms.pupil(brin, item.pupil_key))
            if child is None:
                result.unknown_pupils.append(item.line)
                continue
            event_id, details, data = absence_event(item, school, brin, rules, child)
            sealed = await _seal(keyring, details, child, event_id)
            await publish_signed(
                js,
                AbsenceRecorded.create(
                    id=event_id,
                    source=school,
                    subject=child,
                    data=data.model_copy(update={"sealed": sealed}),
                    purposes=sorted(sealed),
                ),
                keyring.keys,
            )
            result.published += 1
            if progress is not None and result.published % 1000 == 0:
                progress(result.published, 0)
        return result
    finally:
        await nc.close()

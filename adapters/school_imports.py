"""Publishing what the EDEXML and absence-CSV imports read, as the school would.

The school's own keyring seals (identity through kluis, which seals for a school without a
relation yet; attendance with the key the enrolment relation gives it) and its keys sign every
event (`ketenbus_partner.publish.publish_signed`). Event ids are derived
from the content, so re-running an import within the duplicate window publishes nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import ConnectionClosedError
from pydantic import BaseModel

from adapters.edexml.importer import ImportPlan
from adapters.intake import check_school, load_limits
from adapters.las_csv.reader import AbsenceRow, RowProblem, read_absences
from ketenbus_contracts.pseudonym import PupilKey
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import MAX_BATCH_ITEMS, sections_of
from ketenbus_contracts.truancy import (
    AbsenceDetails,
    AbsenceRecorded,
    AbsenceRecordedData,
    PupilDeEnrolled,
    PupilDeEnrolledData,
    PupilEnrolled,
    PupilEnrolledData,
)
from ketenbus_partner.connect import Credentials, connect_partner
from ketenbus_partner.keyring import KeyRefusedError, Keyring, KluisUnavailableError, SealJob
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import InboundMessage, publish_signed, signed_message
from services.policy.regions import RegionRules

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


async def _school_connection(url: str, school: str, credentials: Credentials | None) -> NatsClient:
    """The school's own connection, with `credentials` (default its own: the partner kit's
    `read_credentials` from the environment)."""
    return await connect_partner(url, school, credentials=credentials)


@dataclass
class EdexmlPublished:
    """What `publish_edexml` published, and the enrolments kluis refused to seal."""

    published: int = 0
    # (pupil key, refusal code) of each enrolment not published: kluis refused its identity
    refused: list[tuple[str, str]] = field(default_factory=list)


async def publish_edexml(
    url: str,
    data_dir: Path,
    school: str,
    rules: RegionRules,
    plan: ImportPlan,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
) -> EdexmlPublished:
    """Publish the plan's enrolments and de-enrolments.

    The identities are sealed by kluis in signed batches (`Keyring.seal_many`, one request
    for up to `MAX_BATCH_ITEMS` pupils, each decided on its own); each batch's enrolments are
    published while the next batch is sealed, with pipelined acks (`publish_async`, at most
    `publish_in_flight` unacknowledged). An enrolment kluis refuses is left out and named in the
    result (and left out of `plan.keys`, so the next import tries it again).
    WrongSchoolError, before connecting, when the export is not `school`'s own.
    """
    brin = plan.header.brin
    check_school(brin, school, what="EDEXML export")
    total = len(plan.enrolments) + len(plan.de_enrolments)
    result = EdexmlPublished()
    nc = await _school_connection(url, school, credentials)
    try:
        publisher = _Pipelined(nc, load_limits().publish_in_flight)
        keyring = Keyring.for_partner(data_dir, school, nc)
        refused: set[str] = set()
        for start in range(0, len(plan.enrolments), MAX_BATCH_ITEMS):
            chunk = plan.enrolments[start : start + MAX_BATCH_ITEMS]
            ids = [uuid.uuid5(NAMESPACE, f"enrol/{school}/{e.pseudonym}/{plan.day}") for e in chunk]
            jobs = [
                (index, purpose, SealJob(section, e.pseudonym, purpose, ids[index]))
                for index, e in enumerate(chunk)
                for purpose, section in sections_of(e.identity).items()
                if section
            ]
            tokens = await _seal_many(keyring, [job for _, _, job in jobs])
            sealed: list[dict[Purpose, str]] = [{} for _ in chunk]
            for (index, purpose, _), token in zip(jobs, tokens, strict=True):
                if isinstance(token, KeyRefusedError):
                    if chunk[index].pseudonym not in refused:
                        refused.add(chunk[index].pseudonym)
                        pupil_key = chunk[index].identity.pupil_key or "?"
                        result.refused.append((pupil_key, token.code))
                    continue
                sealed[index][purpose] = token
            for index, enrolment in enumerate(chunk):
                if enrolment.pseudonym in refused:
                    continue
                data = PupilEnrolledData(
                    school=school,
                    brin=brin,
                    region=rules.region,
                    enrolled_on=enrolment.enrolled_on,
                    sealed=sealed[index],
                )
                event = PupilEnrolled.create(
                    id=ids[index],
                    source=school,
                    subject=enrolment.pseudonym,
                    data=data,
                    purposes=sorted(sealed[index]),
                )
                await publisher.publish(signed_message(event, keyring.keys))
            if progress is not None:
                progress(start + len(chunk), total)
        for pseudonym in plan.de_enrolments:
            event_id = uuid.uuid5(NAMESPACE, f"de-enrol/{school}/{pseudonym}/{plan.day}")
            left = PupilDeEnrolledData(
                school=school, brin=brin, region=rules.region, de_enrolled_on=plan.day
            )
            leaving = PupilDeEnrolled.create(
                id=event_id, source=school, subject=pseudonym, data=left
            )
            await publisher.publish(signed_message(leaving, keyring.keys))
        result.published = await publisher.acknowledged()
        if refused:  # not enrolled: the next import tries them again
            plan.keys = {k: v for k, v in plan.keys.items() if v not in refused}
        return result
    finally:
        await nc.close()


async def _seal_many(keyring: Keyring, jobs: list[SealJob]) -> list[str | KeyRefusedError]:
    """`Keyring.seal_many`, retrying when kluis answers late (a busy backbone)."""
    for attempt in range(RETRIES):
        try:
            return await keyring.seal_many(jobs)
        except KluisUnavailableError:
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


class _Pipelined:
    """JetStream publishes whose acks are awaited together (at most `in_flight` pending)."""

    def __init__(self, nc: NatsClient, in_flight: int, ack_timeout: float = 30.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(publish_async_max_pending=in_flight)
        self._acks: list[asyncio.Future[Any]] = []
        self._ack_timeout = ack_timeout

    async def publish(self, message: InboundMessage) -> None:
        self._acks.append(
            await self._js.publish_async(
                message.subject,
                message.payload,
                headers=message.headers,
                wait_stall=self._ack_timeout,
            )
        )

    async def acknowledged(self) -> int:
        """Wait for every ack (an error or a lost ack raises; a connection closed for good
        raises ConnectionClosedError at once); how many were acknowledged."""
        acks = asyncio.gather(*self._acks)
        deadline = asyncio.get_running_loop().time() + self._ack_timeout
        while not acks.done():
            # nats-py does not fail pending acks when the connection closes: look every second.
            await asyncio.wait([acks], timeout=1.0)
            if not acks.done() and self._nc.is_closed:
                acks.cancel()
                raise ConnectionClosedError()
            if not acks.done() and asyncio.get_running_loop().time() > deadline:
                acks.cancel()
                raise TimeoutError("JetStream did not acknowledge every event in time")
        await acks
        return len(self._acks)


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
    credentials: Credentials | None = None,
) -> AbsenceImport:
    """Publish each valid row of an absence CSV (its path, or its rows `read_absences` read);
    `keys` maps pupil-key pseudonyms to children."""
    result = AbsenceImport()
    # The whole file first: a file refused (unreadable, another school's) publishes nothing.
    items = list(read_absences(path, school=school)) if isinstance(path, Path) else path
    nc = await _school_connection(url, school, credentials)
    try:
        js = nc.jetstream()
        keyring = Keyring.for_partner(data_dir, school, nc)
        # One batch request for every pupil key: the pseudonym service holds the secret.
        pseudonyms = await PseudonymClient.for_partner(data_dir, school, nc).resolve(
            PupilKey(brin=brin, pupil_key=i.pupil_key)
            for i in items
            if not isinstance(i, RowProblem)
        )
        # The attendance keys of every pupil in the file, in batches; `_seal` finds them cached.
        children = {
            keys.get(pseudonyms.pupil(brin, i.pupil_key))
            for i in items
            if not isinstance(i, RowProblem)
        }
        await keyring.sealing_keys((c, Purpose.ATTENDANCE) for c in children if c is not None)
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

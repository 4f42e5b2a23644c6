"""Every read in the web app is a processing record naming the person (Logboek Dataverwerkingen).

A page that shows something about a child (a plan, what is shared) or the organisation's
werklijst writes one `ProcessingRecord`: the child's pseudonym, the organisation, the
pseudonymous employee id from the login, what was read and whether it was shown. The records
go to `<data dir>/ldv/web-<partner>.jsonl` (one LDV span a line, mode 0600), which
`ketenbus audit export-ldv` exports beside kluis's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from ketenbus_contracts.purposes import Purpose
from services.integral_plan.web_auth import Person
from services.ldv import Decision, ProcessingRecord
from services.policy.loading import load_register

RESOURCE = "web"


class WebOperation(StrEnum):
    READ_PLAN = "plan-read"
    READ_SHARED = "shared-read"
    READ_WORKLIST = "worklist-read"
    READ_DOSSIER = "dossier-read"  # a parent's inzage (or copy) of the handover dossier
    READ_IDENTITY = "identity-read"  # a child's name and date of birth on the werklijst
    ACT = "action-taken"


class ProcessingLog(Protocol):
    def record(self, record: ProcessingRecord) -> None: ...


class MemoryLog:
    """Records kept in memory (tests)."""

    def __init__(self) -> None:
        self.records: list[ProcessingRecord] = []

    def record(self, record: ProcessingRecord) -> None:
        self.records.append(record)


class FileLog:
    """Records appended to a JSON-lines file, one LDV span a line (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, record: ProcessingRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(json.dumps(record.as_ldv(), ensure_ascii=False) + "\n")


def log_path(data_dir: Path, partner: str) -> Path:
    return data_dir / "ldv" / f"web-{partner}.jsonl"


def read_spans(data_dir: Path, child: str | None = None) -> Iterator[dict[str, Any]]:
    """Every web app's records under `data_dir` (as LDV spans), optionally of one child."""
    for path in sorted((data_dir / "ldv").glob("web-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            span: dict[str, Any] = json.loads(line)
            if child is None or span["attributes"]["dpl.core.data_subject_id"] == child:
                yield span


class Recorder:
    """Makes the web app's records: who (organisation and person) read or did what."""

    def __init__(
        self, log: ProcessingLog, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.log = log
        self.clock = clock
        self.register = load_register()
        self.version = self.register.version

    def __call__(
        self,
        person: Person,
        operation: WebOperation,
        child: str = "",
        *,
        shown: bool = True,
        refusal: str | None = None,
        purpose: Purpose = Purpose.PLAN,
    ) -> None:
        """`purpose`: what was read for (the plan's, or `handover` for a parent's inzage)."""
        self.log.record(
            ProcessingRecord(
                operation=operation,
                processing_activity_id=self.register.activity(purpose).id,
                data_subject=child,
                requester=person.partner,
                purpose=purpose,
                decision=Decision.RELEASED if shown else Decision.REFUSED,
                refusal_code=refusal,
                at=self.clock(),
                register_version=self.version,
                resource=RESOURCE,
                employee=person.employee,
            )
        )

"""Reading lesson-level absences from a school administration system's CSV export.

The format is documented in README.md beside this file. Rows are checked one by one; a bad row
is reported by its line number and column, never by its values (they are about a child).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

COLUMNS = ("pupil_key", "date", "hours", "lessons", "authorised", "reason_code")
TRUE = {"ja", "j", "yes", "y", "true", "1"}
FALSE = {"nee", "n", "no", "false", "0"}


@dataclass(frozen=True)
class AbsenceRow:
    line: int
    pupil_key: str
    on: date
    hours: float | None
    lessons: int | None
    authorised: bool
    reason_code: str
    notes: str


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class AbsenceCsvError(ValueError):
    """The file's header is not the documented one."""


def read_absences(path: Path) -> Iterator[AbsenceRow | RowProblem]:
    """Each data row as an AbsenceRow, or the problem that keeps it out."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(2048)
        handle.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;") if sample else csv.excel
        reader = csv.DictReader(handle, dialect=dialect)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AbsenceCsvError(f"missing column(s): {', '.join(missing)}")
        for row in reader:
            yield _row(reader.line_num, row)


def _row(line: int, row: dict[str, str]) -> AbsenceRow | RowProblem:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    if not text("pupil_key"):
        return RowProblem(line, "pupil_key", "empty")
    try:
        on = date.fromisoformat(text("date"))
    except ValueError:
        return RowProblem(line, "date", "not a date (YYYY-MM-DD)")
    try:
        hours = float(text("hours").replace(",", ".")) if text("hours") else None
        lessons = int(text("lessons")) if text("lessons") else None
    except ValueError:
        return RowProblem(line, "hours/lessons", "not a number")
    if hours is None and lessons is None:
        return RowProblem(line, "hours/lessons", "give hours or lesson periods")
    if (hours is not None and not 0 < hours <= 12) or (
        lessons is not None and not 0 < lessons <= 16
    ):
        return RowProblem(line, "hours/lessons", "out of range (hours 0-12, lessons 1-16)")
    authorised = text("authorised").lower()
    if authorised not in TRUE | FALSE:
        return RowProblem(line, "authorised", "not ja/nee")
    if not text("reason_code"):
        return RowProblem(line, "reason_code", "empty")
    return AbsenceRow(
        line=line,
        pupil_key=text("pupil_key"),
        on=on,
        hours=hours,
        lessons=lessons,
        authorised=authorised in TRUE,
        reason_code=text("reason_code").lower(),
        notes=text("notes"),
    )

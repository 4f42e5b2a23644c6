"""Reading lesson-level absences from a school administration system's CSV export.

The format is documented in README.md beside this file. Rows are checked one by one; a bad row
is reported by its line number and column, never by its values (they are about a child).

Exports come from many systems and spreadsheets, so the file is read deliberately: the encoding
by its byte-order mark (UTF-8, UTF-16), else UTF-8, else Windows-1252 (which Excel writes for
"CSV" in the Netherlands), else Latin-1; the delimiter (`;`, `,` or tab) as the one that splits
the header into the documented columns. A file that still cannot be read is refused as a whole
with an `AbsenceCsvError` that says why.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapters.intake import ImportRefusedError, LineProblem, check_school, check_size

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


class RowProblem(LineProblem):
    """What keeps a row out: its line, the column and why."""

    place_as = "column {}"


class AbsenceCsvError(ImportRefusedError):
    """The file cannot be read as the documented CSV (encoding, delimiter, header)."""


def read_absences(path: Path, *, school: str | None = None) -> Iterator[AbsenceRow | RowProblem]:
    """Each data row as an AbsenceRow, or the problem that keeps it out.

    `school`: the importing partner; a file with a `brin` column naming another school than
    its BRIN in the registry is refused (WrongSchoolError) at the first such row.
    """
    check_size(path.stat().st_size, "absences", what=path.name)
    text = decode(path.read_bytes(), what=path.name)
    header = text.split("\n", 1)[0]
    delimiter = _delimiter(header, what=path.name)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in fieldnames]
        if missing:
            raise AbsenceCsvError(f"{path.name}: missing column(s): {', '.join(missing)}")
        reader.fieldnames = fieldnames
        for row in reader:
            if school is not None and "brin" in fieldnames:
                check_school(row.get("brin"), school, what=f"{path.name} line {reader.line_num}")
            yield _row(reader.line_num, row)
    except csv.Error as exc:
        raise AbsenceCsvError(
            f"{path.name}: line {reader.line_num}: not readable as CSV ({exc})"
        ) from None


BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried in order for a file without a byte-order mark; Latin-1 decodes any byte, so it is last.
FALLBACKS = ("utf-8", "cp1252", "latin-1")


def decode(raw: bytes, *, what: str) -> str:
    """The file's text: by its BOM, else the first of FALLBACKS that decodes it."""
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            try:
                return _lines(raw.decode(encoding))
            except UnicodeDecodeError:
                raise AbsenceCsvError(
                    f"{what}: the file starts with a {encoding.upper()} byte-order mark but is "
                    f"not {encoding.upper()}; save it again as UTF-8"
                ) from None
    if b"\x00" in raw:
        raise AbsenceCsvError(
            f"{what}: the file holds NUL bytes, so it is not a text CSV (UTF-16 without a "
            "byte-order mark, or a spreadsheet file?); save it as CSV in UTF-8"
        )
    for encoding in FALLBACKS:
        try:
            return _lines(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise AbsenceCsvError(f"{what}: the file's encoding is unknown; save it as CSV in UTF-8")


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


DELIMITERS = (";", ",", "\t")


def _delimiter(header: str, *, what: str) -> str:
    """The delimiter that splits the header into the documented columns."""
    for delimiter in DELIMITERS:
        names = {name.strip().strip('"').lower() for name in header.split(delimiter)}
        if set(COLUMNS) <= names:
            return delimiter
    found = max(DELIMITERS, key=header.count)
    if header.count(found) == 0:
        raise AbsenceCsvError(
            f"{what}: the header row has no `;`, `,` or tab between its columns; the columns "
            f"are {', '.join(COLUMNS)} (adapters/las_csv/README.md)"
        )
    return found


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

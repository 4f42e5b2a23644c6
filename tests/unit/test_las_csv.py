"""The absence CSV: documented columns, bad rows named by line and column, never by value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.las_csv.reader import AbsenceCsvError, AbsenceRow, RowProblem, read_absences


def test_rows_become_absences_and_bad_rows_problems(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "pupil_key;date;hours;lessons;authorised;reason_code;notes\n"
        "00001;2026-09-07;;3;nee;spijbelen;\n"
        "12345;2026-09-07;2,5;;ja;ziek;griep\n"
        "12345;07-09-2026;2;;ja;ziek;\n"
    )

    rows = list(read_absences(path))

    assert [
        AbsenceRow(2, "00001", date(2026, 9, 7), None, 3, False, "spijbelen", ""),
        AbsenceRow(3, "12345", date(2026, 9, 7), 2.5, None, True, "ziek", "griep"),
        RowProblem(4, "date", "not a date (YYYY-MM-DD)"),
    ] == rows


def test_a_file_without_the_documented_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("leerling,datum\n1,2026-09-07\n")
    with pytest.raises(AbsenceCsvError, match="pupil_key"):
        list(read_absences(path))

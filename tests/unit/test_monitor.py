"""The monitor projection in memory: F4 figures per region and quarter, small counts hidden."""

from __future__ import annotations

import csv
import uuid
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from ketenbus_contracts.truancy import (
    ExemptionGranted,
    ExemptionGrantedData,
    ThuiszitterEnded,
    ThuiszitterEndedData,
    ThuiszitterRegistered,
    ThuiszitterRegisteredData,
    VerzuimReportDue,
    VerzuimReportDueData,
)
from services.monitor.application import MonitorApplication
from services.monitor.domain import quarter_bounds
from services.monitor.export import write_csv, write_xlsx
from tests.unit.truancy_helpers import region

SOURCE = "ketenbus.truancy"


def app() -> MonitorApplication:
    rules = region(monitor={"suppress_below": 3})
    return MonitorApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, regions={"lingewaard": rules}
    )


def home(monitor: MonitorApplication, n: int, category: int, since: date, **kw: object) -> str:
    child = "abcdefghijklmnop"[n] * 32
    monitor.apply(ThuiszitterRegistered.create(
        source=SOURCE, subject=child,
        data=ThuiszitterRegisteredData(region="lingewaard", category=category, since=since, **kw),  # type: ignore[arg-type]
    ))  # fmt: skip
    return child


def test_quarters_have_their_bounds() -> None:
    assert (date(2026, 7, 1), date(2026, 9, 30)) == quarter_bounds("2026Q3")


def test_the_report_counts_episodes_overlapping_the_quarter_and_hides_small_counts() -> None:
    monitor = app()
    for n in range(4):
        home(monitor, n, 2, date(2026, 8, 31), absolute=n == 0, home_reason="schoolweigering")
    home(monitor, 10, 1, date(2026, 9, 1), absolute=True)
    ended = home(monitor, 11, 2, date(2026, 3, 1), absolute=False)
    monitor.apply(ThuiszitterEnded.create(
        source=SOURCE, subject=ended,
        data=ThuiszitterEndedData(region="lingewaard", category=2, ended_on=date(2026, 6, 1),
                                  reason="terug-naar-school"),
    ))  # fmt: skip
    monitor.apply(ExemptionGranted.create(
        source="leerplicht-lingewaard", subject="e" * 32,
        data=ExemptionGrantedData(
            exemption_id=uuid.uuid4(), leerplicht="leerplicht-lingewaard", region="lingewaard",
            article="5a", swv_advice="positief", valid_from=date(2026, 1, 1),
        ),
    ))  # fmt: skip

    expected = {
        "categorie_1_absoluut_verzuim": "<3",
        "categorie_2_thuiszitters": 4,
        "absolute_thuiszitters": "<3",
        "vrijstellingen": {"5a": "<3"},
        "redenen": {"onbekend": "<3", "schoolweigering": 4},
    }
    report = monitor.report("2026q3")
    assert {"quarter": "2026Q3", "lingewaard": expected} == {
        "quarter": report["quarter"], "lingewaard": report["regions"]["lingewaard"]
    }  # fmt: skip
    assert not any(letter * 32 in str(report) for letter in "abcdefghijklmnop")


GEMEENTE = "gemeente-lingewaard"


def test_the_quarterly_monitor_counts_per_municipality_with_small_cells_suppressed() -> None:
    monitor = app()
    for n in range(3):
        home(monitor, n, 2, date(2026, 8, 31), absolute=False, municipality=GEMEENTE)
    home(monitor, 5, 1, date(2026, 9, 1), absolute=True, municipality="gemeente-elders")
    home(monitor, 6, 2, date(2026, 9, 1), absolute=False)

    municipalities = monitor.report("2026Q3")["municipalities"]["lingewaard"]

    assert ["gemeente-elders", GEMEENTE, "onbekend"] == sorted(municipalities)
    assert (3, 0) == (
        municipalities[GEMEENTE]["categorie_2_thuiszitters"],
        municipalities[GEMEENTE]["categorie_1_absoluut_verzuim"],
    )
    assert "<3" == municipalities["gemeente-elders"]["categorie_1_absoluut_verzuim"]


def test_the_quarterly_monitor_is_written_as_csv_and_xlsx(tmp_path: Path) -> None:
    monitor = app()
    for n in range(3):
        home(monitor, n, 2, date(2026, 8, 31), absolute=False, municipality=GEMEENTE)
    report = monitor.report("2026Q3")

    write_csv(report, tmp_path / "monitor.csv")
    write_xlsx(report, tmp_path / "monitor.xlsx")

    with (tmp_path / "monitor.csv").open(encoding="utf-8") as handle:
        table = list(csv.reader(handle, delimiter=";"))
    sheet = load_workbook(tmp_path / "monitor.xlsx").active
    assert sheet is not None
    cells = [[str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert ["kwartaal", "regio", "gemeente", "cijfer", "waarde"] == table[0]
    assert ["2026Q3", "lingewaard", GEMEENTE, "categorie_2_thuiszitters", "3"] in table
    assert ["2026Q3", "lingewaard", "(hele regio)", "categorie_2_thuiszitters", "3"] in table
    assert table == cells


def test_the_annual_leerplicht_figures_count_a_school_year() -> None:
    monitor = app()
    for n in range(3):
        home(monitor, n, 1, date(2026, 9, 1), absolute=True)
    for kind, on in [("16-uur", date(2026, 10, 1))] * 3 + [
        ("luxe", date(2026, 10, 16)),
        ("16-uur", date(2026, 7, 1)),
    ]:
        monitor.apply(VerzuimReportDue.create(
            source=SOURCE, subject="z" * 32,
            data=VerzuimReportDueData(
                report_id=uuid.uuid4(), school="bs-de-regenboog", brin="99ZZ",
                region="lingewaard", leerplicht="leerplicht-lingewaard", begin_on=on, end_on=on,
                kind=kind, hours_unauthorised=16, hours_absent=16, lessons_missed=16,  # type: ignore[arg-type]
                action_taken="gesprek", municipal_action_wanted=True, contact="c",
                absence_ids=[],
            ),
        ))  # fmt: skip

    annual = monitor.annual("2026-2027")["regions"]["lingewaard"]

    assert {
        "absoluut_verzuim": 3,
        "thuiszitters_categorie_2": 0,
        "verzuimmeldingen": {"16-uur": 3, "luxe": "<3"},
        "vrijstellingen": {},
    } == annual

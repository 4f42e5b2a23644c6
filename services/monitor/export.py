"""The quarterly thuiszitters monitor as a table a region reads (seed 001 F4): CSV and XLSX.

One row per region or municipality and figure, the counts already suppressed by the report
(`<5`: no child recognisable); nothing about a child. No I/O beyond the file written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook

HEADER = ("kwartaal", "regio", "gemeente", "cijfer", "waarde")
REGION_WIDE = "(hele regio)"


def _flat(figures: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, value in figures.items():
        if isinstance(value, dict):
            for key, count in value.items():
                yield f"{name}.{key}", count
        else:
            yield name, value


def rows(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The report (`MonitorApplication.report`) as rows under `HEADER`."""
    quarter = report["quarter"]
    found: list[tuple[Any, ...]] = []
    for region, figures in report["regions"].items():
        found += [(quarter, region, REGION_WIDE, n, v) for n, v in _flat(figures)]
        for municipality, its in report.get("municipalities", {}).get(region, {}).items():
            found += [(quarter, region, municipality, n, v) for n, v in _flat(its)]
    return found


def write_csv(report: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows(report))


def write_xlsx(report: dict[str, Any], path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"Thuiszitters {report['quarter']}"
    sheet.append(HEADER)
    for row in rows(report):
        sheet.append(list(row))
    workbook.save(path)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}

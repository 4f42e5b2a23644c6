"""The monitor projection in memory: F4 figures per region and quarter, small counts hidden."""

from __future__ import annotations

import uuid
from datetime import date

from ketenbus_contracts.truancy import (
    ExemptionGranted,
    ExemptionGrantedData,
    ThuiszitterEnded,
    ThuiszitterEndedData,
    ThuiszitterRegistered,
    ThuiszitterRegisteredData,
)
from services.monitor.application import MonitorApplication
from services.monitor.domain import quarter_bounds
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
    assert {"quarter": "2026Q3", "regions": {"lingewaard": expected}} == report
    assert not any(letter * 32 in str(report) for letter in "abcdefghijklmnop")

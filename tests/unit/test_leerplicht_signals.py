"""Leerplicht's attendance signals: which truancy events become a signal, and how it looks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

from adapters.leerplicht.signals import candidate_of, signal_for
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.truancy import (
    ThuiszitterRegistered,
    ThuiszitterRegisteredData,
    VerzuimReportDue,
    VerzuimReportDueData,
)
from tests.unit.truancy_helpers import CHILD, LEERPLICHT, SCHOOL, region


class StubKeyring:
    """Seals nothing, records what it was asked (the real one asks kluis)."""

    def __init__(self) -> None:
        self.sealed: list[tuple[Any, str]] = []

    async def seal(self, model: Any, *, child: str, event_id: uuid.UUID) -> dict[Purpose, str]:
        self.sealed.append((model, child))
        return {Purpose.SIGNALLING: "token"}


def report(leerplicht: str = LEERPLICHT) -> VerzuimReportDue:
    return VerzuimReportDue.create(
        source="ketenbus.truancy", subject=CHILD,
        data=VerzuimReportDueData(
            report_id=uuid.uuid4(), school=SCHOOL, brin="99ZZ", region="lingewaard",
            leerplicht=leerplicht, begin_on=date(2026, 9, 7), end_on=date(2026, 9, 28),
            kind="16-uur", hours_unauthorised=16, hours_absent=16, lessons_missed=16,
            action_taken="gesprek", municipal_action_wanted=True, contact="c", absence_ids=[],
        ),
    )  # fmt: skip


def thuiszitter(category: int) -> ThuiszitterRegistered:
    return ThuiszitterRegistered.create(
        source="ketenbus.truancy", subject=CHILD,
        data=ThuiszitterRegisteredData(
            region="lingewaard", category=category, since=date(2026, 9, 1), absolute=True,  # type: ignore[arg-type]
        ),
    )  # fmt: skip


def test_a_report_to_this_leerplicht_is_a_candidate_it_decides_on_not_a_signal() -> None:
    event = report()

    candidate = candidate_of(event, LEERPLICHT, region())

    assert candidate is not None
    assert (str(event.data.report_id), "verzuimmelding 16-uur", date(2026, 9, 28), CHILD) == (
        candidate.ref, candidate.what, candidate.on, candidate.child
    )  # fmt: skip


def test_a_signal_leerplicht_decides_on_is_a_sealed_attendance_signal() -> None:
    keyring = StubKeyring()
    candidate = candidate_of(report(), LEERPLICHT, region())
    assert candidate is not None

    signal = asyncio.run(signal_for(candidate, LEERPLICHT, region(), keyring, "12-15"))  # type: ignore[arg-type]

    assert (LEERPLICHT, CHILD, date(2026, 9, 28), "12-15") == (
        signal.data.signaller.partner, signal.subject, signal.data.registered_on,
        signal.data.age_band,
    )  # fmt: skip
    assert ["attendance"] == keyring.sealed[0][0].concern
    again = asyncio.run(signal_for(candidate, LEERPLICHT, region(), keyring, "12-15"))  # type: ignore[arg-type]
    assert signal == again.model_copy(update={"time": signal.time})


def test_reports_to_others_and_category_2_registrations_are_no_candidates() -> None:
    found = [
        candidate_of(e, LEERPLICHT, region())
        for e in (report("leerplicht-elders"), thuiszitter(2), thuiszitter(1))
    ]
    assert [None, None, "thuiszitter categorie 1"] == [c and c.what for c in found]

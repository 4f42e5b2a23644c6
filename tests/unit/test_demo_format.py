"""The plan as text (the demo, `ketenbus plan show`), and the parents' kinds-only view."""

from __future__ import annotations

from typing import Any

from ketenbus_partner.plan import kinds_only
from services.integral_plan.present import format_plan

CHILD = "a" * 32


def plan(**more: Any) -> dict[str, Any]:
    return {
        "child": CHILD,
        "parties": [{"partner": "bs-de-regenboog", "role": "ib-er", "contact": "ib"}],
        "signals": [],
        "match": None,
        "timeline": [],
        **more,
    }


def test_a_plan_without_the_other_domains_is_printed_without_their_blocks() -> None:
    text = format_plan(plan())

    blocks = ("Regie:", "Goals:", "Actions:", "Handovers:", "Arrangements:", "Attendance:")
    assert [] == [block for block in blocks if block in text]
    assert "Signals:\n  none" in text


def test_handovers_arrangements_and_attendance_are_printed_with_what_the_reader_opened() -> None:
    handover = {
        "handover_id": "h1",
        "transition": "po-vo",
        "receiver": "vo-het-lyceum",
        "status": "delivered",
        "event_id": "e1",
        "opened": {"handover": {"category": "zorg"}},
        "refused": {},
    }
    arrangement = {
        "arrangement_id": "a1",
        "kind": "gedrag-op-school",
        "status": "agreed",
        "opened": {},
        "refused": {"support": "role-not-permitted"},
    }
    report = {
        "report_id": "r1",
        "kind": "16-uur",
        "leerplicht": "leerplicht-lingewaard",
        "opened": {},
        "refused": {"attendance": "role-not-permitted"},
    }
    attendance = {"status": "enrolled", "enrolments": [], "reports": [report]}

    text = format_plan(
        plan(handovers=[handover], arrangements=[arrangement], attendance=attendance)
    )

    assert [
        "Handovers:",
        "  - transition: po-vo, receiver: vo-het-lyceum, status: delivered",
        "      handover    category: zorg",
        "",
        "Arrangements:",
        "  - kind: gedrag-op-school, status: agreed",
        "      support     (sealed; kluis: role-not-permitted)",
        "",
        "Attendance:",
        "  status: enrolled",
        "  - reports: kind: 16-uur, leerplicht: leerplicht-lingewaard",
        "      attendance  (sealed; kluis: role-not-permitted)",
    ] == (lines := text.split("\n"))[lines.index("Handovers:") :][:12]


def test_no_attendance_yet_is_said_so() -> None:
    assert "Attendance:\n  none" in format_plan(plan(attendance=None))


def test_the_parents_view_keeps_the_kinds_of_sections_and_drops_their_content() -> None:
    signal = {
        "partner": "bs-de-regenboog",
        "sealed": {"signalling": "eyJ..."},
        "withheld": ["identity"],
    }
    attendance = {"status": "enrolled", "reports": [{"sealed": {"attendance": "eyJ..."}}]}

    shown = kinds_only(plan(signals=[signal], attendance=attendance))

    assert {"identity": "", "signalling": ""} == shown["signals"][0]["sealed"]
    assert {"attendance": ""} == shown["attendance"]["reports"][0]["sealed"]
    assert "withheld" not in shown["signals"][0]

"""The web app's processing records: each read names the person, and the LDV export has them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.integral_plan.web_auth import PROFESSIONAL, Person, employee_id
from services.integral_plan.web_records import FileLog, Recorder, WebOperation, log_path

KETENBUS = Path(sys.executable).parent / "ketenbus"
CHILD = "c" * 32
OTHER = "d" * 32


def test_the_ldv_export_names_the_person_behind_each_web_read(tmp_path: Path) -> None:
    employee = employee_id("https://login.lingewaard.example", "w.jansen")
    person = Person(PROFESSIONAL, employee, "wijkteam-lingewaard", "Consulent", frozenset())
    record = Recorder(FileLog(log_path(tmp_path, "wijkteam-lingewaard")))
    record(person, WebOperation.READ_PLAN, CHILD)
    record(person, WebOperation.READ_PLAN, OTHER, shown=False, refusal="not-on-plan")

    out = tmp_path / "ldv.json"
    command = ["audit", "export-ldv", "--out", str(out), "--child", CHILD]
    result = subprocess.run(
        [str(KETENBUS), *command, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert 0 == result.returncode, result.stderr
    [line] = json.loads(out.read_text())["records"]
    attributes = line["attributes"]
    assert ("web.plan-read", CHILD, employee, "wijkteam-lingewaard") == (
        line["name"],
        attributes["dpl.core.data_subject_id"],
        attributes["ketenbus.employee"],
        attributes["ketenbus.requester"],
    )
    assert "w.jansen" not in out.read_text()
    assert 0o600 == log_path(tmp_path, "wijkteam-lingewaard").stat().st_mode & 0o777

"""`ketenbus conformance`, run as a vendor runs it (the installed entry point): the reference
partner of the kit passes every check; a system that signs another serialisation than RFC
8785 and publishes on the wrong subject fails exactly those checks, by name, with exit 1, one
that signs with a key not the partner's fails the signature, and one that asks the plan but
does not open it fails the opening checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.userenv import user_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KETENBUS = Path(sys.executable).parent / "ketenbus"
SCHOOL = "bs-de-regenboog"


def conformance(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [str(KETENBUS), "conformance", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def verdicts(out: str) -> dict[str, str]:
    """Check name → PASS or FAIL, from the report's lines."""
    lines = [line.split(" ", 1) for line in out.splitlines() if line[:5] in ("PASS ", "FAIL ")]
    return {rest.split(":", 1)[0]: verdict for verdict, rest in lines}


def test_the_reference_partner_passes_every_check(tmp_path: Path) -> None:
    done = conformance(
        tmp_path, "--as", SCHOOL, "--",
        sys.executable, "-m", "ketenbus_partner.reference", "--data-dir", str(tmp_path),
    )  # fmt: skip

    checks = verdicts(done.stdout)
    assert (0, "") == (done.returncode, done.stderr)
    assert {"PASS"} == set(checks.values())
    assert {
        "event.canonical-form", "event.signature", "event.subject", "event.sealing",
        "event.schema", "kluis.first-signaller-seal", "pseudonym.signature", "feed.receipt-read",
        "plan.header", "plan.inbox", "plan.signature", "plan.claims", "plan.child",
        "plan.key-asked", "plan.opened",
    } <= set(checks)  # fmt: skip
    assert f"conformant: {len(checks)} checks passed" in done.stdout


def test_a_system_signing_another_form_on_another_subject_fails_those_checks_by_name(
    tmp_path: Path,
) -> None:
    done = conformance(
        tmp_path, "--as", SCHOOL, "--",
        sys.executable, "-m", "tests.conformance_broken_partner", "--data-dir", str(tmp_path),
    )  # fmt: skip

    checks = verdicts(done.stdout)
    failed = {name for name, verdict in checks.items() if verdict == "FAIL"}
    assert 1 == done.returncode
    assert {"event.canonical-form", "event.signature", "event.subject"} == failed
    assert (
        "FAIL event.canonical-form: signed over sorted keys with ASCII escapes (not RFC 8785)"
        in done.stdout
    )
    assert f"error: 3 of {len(checks)} checks failed" == done.stderr.strip()
    assert "PASS" == checks["event.sealing"] == checks["feed.receipt-read"]


def test_a_system_signing_with_a_key_not_the_partners_fails_the_signature_check(
    tmp_path: Path,
) -> None:
    done = conformance(
        tmp_path, "--as", SCHOOL, "--", sys.executable, "-m",
        "tests.conformance_broken_partner", "--forge", "--data-dir", str(tmp_path),
    )  # fmt: skip

    checks = verdicts(done.stdout)
    failed = {name for name, verdict in checks.items() if verdict == "FAIL"}
    assert (1, {"event.signature"}) == (done.returncode, failed)
    assert "FAIL event.signature: forged-signature: over no form of this envelope" in done.stdout
    assert "PASS" == checks["event.subject"] == checks["event.sealing"]


def test_a_system_asking_another_childs_plan_as_a_kluis_request_fails_the_plan_checks(
    tmp_path: Path,
) -> None:
    done = conformance(
        tmp_path, "--as", SCHOOL, "--", sys.executable, "-m",
        "tests.conformance_broken_partner", "--bad-query", "--data-dir", str(tmp_path),
    )  # fmt: skip

    checks = verdicts(done.stdout)
    failed = {name for name, verdict in checks.items() if verdict == "FAIL"}
    assert (1, {"plan.header", "plan.child"}) == (done.returncode, failed)
    assert "PASS" == checks["plan.signature"] == checks["event.signature"]


def test_a_system_that_asks_the_plan_but_does_not_open_it_fails_the_opening_checks(
    tmp_path: Path,
) -> None:
    done = conformance(
        tmp_path, "--as", SCHOOL, "--", sys.executable, "-m",
        "tests.conformance_broken_partner", "--no-open", "--data-dir", str(tmp_path),
    )  # fmt: skip

    checks = verdicts(done.stdout)
    failed = {name for name, verdict in checks.items() if verdict == "FAIL"}
    assert (1, {"plan.key-asked", "plan.opened"}) == (done.returncode, failed)
    assert (
        "FAIL plan.opened: the plan written to the task's plan.opened does not hold the goal's "
        "opened text" in done.stdout
    )
    assert "PASS" == checks["plan.child"] == checks["event.signature"]


def test_a_partner_outside_the_registry_without_keys_is_bad_input(tmp_path: Path) -> None:
    done = conformance(tmp_path, "--as", "nobody-here", "--", "true")

    assert (2, "error: --as: 'nobody-here' is not in the partner registry") == (
        done.returncode,
        done.stderr.strip(),
    )


def test_a_command_that_cannot_run_is_bad_input(tmp_path: Path) -> None:
    done = conformance(tmp_path, "--as", SCHOOL, "--", str(tmp_path / "no-such-system"))

    assert (2, "error: cannot run the system's command") == (
        done.returncode,
        done.stderr.strip().split(" '")[0],
    )

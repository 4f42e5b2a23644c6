"""`ketenbus import …` as a subprocess of the installed entry point: a file the partner may
not import is refused with one line on stderr and exit code 2, before any connection (no
backbone runs here, and none is needed to refuse)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.edexml.reader import SAMPLE
from adapters.oso.dossier import SAMPLES
from tests.userenv import user_env

pytestmark = pytest.mark.integration

KETENBUS = Path(sys.executable).parent / "ketenbus"
POVO = SAMPLES / "Voorbeelddossier_OV_POVO_full.xml"


def ketenbus(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [str(KETENBUS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refusal(result: subprocess.CompletedProcess[str]) -> tuple[int, list[str]]:
    return result.returncode, result.stderr.strip().splitlines()


def test_an_edexml_export_of_another_school_is_refused_with_one_line(tmp_path: Path) -> None:
    other = tmp_path / "leerlingen.xml"
    other.write_bytes(SAMPLE.read_bytes().replace(b">99ZZ<", b">12AB<"))

    result = ketenbus(tmp_path, "import", "edexml", str(other), "--as", "bs-de-regenboog")

    assert (
        2,
        [
            "error: refused: leerlingen.xml: the file is from school BRIN 12AB, but "
            "bs-de-regenboog is BRIN 99ZZ (infra/partners.yaml); nothing was imported: import "
            "it as the school it is from"
        ],
    ) == refusal(result)
    assert "" == result.stdout


def test_an_oso_dossier_of_another_school_is_refused_with_one_line(tmp_path: Path) -> None:
    result = ketenbus(tmp_path, "import", "oso", str(POVO), "--as", "bs-de-regenboog")

    code, lines = refusal(result)
    assert (2, 1) == (code, len(lines))
    assert "the file is from school BRIN 00YY, but bs-de-regenboog is BRIN 99ZZ" in lines[0]


def test_an_edexml_file_with_a_dtd_is_refused_with_one_line(tmp_path: Path) -> None:
    declaration, _, rest = SAMPLE.read_bytes().partition(b"\n")
    dtd = tmp_path / "dtd.xml"
    dtd.write_bytes(declaration + b'\n<!DOCTYPE EDEX [<!ENTITY x "y">]>\n' + rest)

    result = ketenbus(tmp_path, "import", "edexml", str(dtd), "--as", "bs-de-regenboog")

    code, lines = refusal(result)
    assert (2, 1) == (code, len(lines))
    assert lines[0].startswith("error: refused: dtd.xml: the file declares a DTD")
    assert "Traceback" not in result.stderr


def test_the_schools_own_export_imported_as_another_school_is_refused(tmp_path: Path) -> None:
    edexml = ketenbus(tmp_path, "import", "edexml", str(SAMPLE), "--as", "vo-het-lyceum")
    ours = tmp_path / "dossier.xml"
    ours.write_bytes(POVO.read_bytes().replace(b">00YY<", b">99ZZ<", 1))
    oso = ketenbus(tmp_path, "import", "oso", str(ours), "--as", "vo-het-lyceum")

    assert [2, 2] == [edexml.returncode, oso.returncode]
    assert [1, 1] == [len(refusal(r)[1]) for r in (edexml, oso)]
    assert "BRIN 99ZZ, but vo-het-lyceum is BRIN 99YY" in oso.stderr
    assert "Traceback" not in edexml.stderr + oso.stderr


def test_an_edexml_file_failing_the_schema_is_refused_with_one_line_naming_the_rule(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "leerlingen.xml"
    # a value with quotes in it, shaped like libxml2's own message around a value
    bad.write_bytes(
        SAMPLE.read_bytes().replace(b"<bsn>133456785</bsn>", b"<bsn>O'Brien' is not 12</bsn>")
    )

    result = ketenbus(tmp_path, "import", "edexml", str(bad), "--as", "bs-de-regenboog")

    assert (
        2,
        [
            "error: refused: leerlingen.xml is not valid EDEXML: line 102, <leerling[2]/bsn>: "
            "Element 'bsn': [facet 'pattern'] the value is not accepted by the pattern "
            "'\\p{Nd}{9}'."
        ],
    ) == refusal(result)
    assert "Brien" not in result.stderr + result.stdout


def test_strict_refuses_a_file_with_a_failing_record_in_one_line_before_connecting(
    tmp_path: Path,
) -> None:
    # No backbone runs: --strict refuses on the file alone.
    result = ketenbus(
        tmp_path, "import", "edexml", str(SAMPLE), "--as", "bs-de-regenboog", "--strict"
    )

    assert (
        2,
        [
            "error: refused: --strict: 1 record(s) fail the checks, nothing was imported: "
            "pupil key 00002 (line 94): BSN fails the eleven-check"
        ],
    ) == refusal(result)
    assert "133456785" not in result.stderr + result.stdout

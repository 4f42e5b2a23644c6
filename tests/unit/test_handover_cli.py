"""`ketenbus import oso` / `export oso`: the shared groups, and refusals before connecting."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from adapters.oso.dossier import SAMPLES
from services.cli import app
from tests.conftest import EDEXML_SAMPLE

runner = CliRunner()
POVO = SAMPLES / "Voorbeelddossier_OV_POVO_full.xml"


def test_import_and_export_list_the_oso_format() -> None:
    imports = runner.invoke(app, ["import", "--help"])
    exports = runner.invoke(app, ["export", "--help"])

    assert (0, 0) == (imports.exit_code, exports.exit_code)
    assert "oso" in imports.output
    assert "oso" in exports.output


def test_an_unknown_file_is_refused_with_what_and_where(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            "oso",
            str(EDEXML_SAMPLE),
            "--as",
            "bs-de-regenboog",
            "--data-dir",
            str(tmp_path),
        ],
    )

    assert 2 == result.exit_code
    assert "refused: EDEXML.Voorbeeld.2.1.xml: not an OSO 2019 dossier" in result.output
    assert "line 13" in result.output


def test_an_invalid_dossier_is_refused_by_the_handover_command_too(tmp_path: Path) -> None:
    broken = tmp_path / "dossier.xml"
    broken.write_bytes(
        POVO.read_bytes().replace(b"<overstap>POVO</overstap>", b"<overstap>X</overstap>")
    )

    result = runner.invoke(
        app,
        [
            "handover",
            "import-oso",
            str(broken),
            "--as",
            "bs-de-regenboog",
            "--data-dir",
            str(tmp_path),
        ],
    )

    assert 2 == result.exit_code
    assert "line 28: metadata/overstap is not a code of OSO codelijst 16" in result.output


def test_export_needs_a_handover_id(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["export", "oso", "not-a-uuid", "--as", "vo-het-lyceum", "-o", str(tmp_path / "x.xml")],
    )

    assert 2 == result.exit_code
    assert "HANDOVER must be a handover id" in result.output

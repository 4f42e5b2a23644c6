"""`ketenbus import oso` as a subprocess against a running backbone (handover and kluis): a
dossier with a 12 MB document (past libxml2's 10 MB text-node cap) goes in, read once, its
documents sealed into the object store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.supervisor import Backbone
from tests.unit.test_import_intake import with_attachment
from tests.userenv import user_env

pytestmark = pytest.mark.integration

KETENBUS = Path(sys.executable).parent / "ketenbus"


@pytest.mark.backbone("handover", "kluis", "pseudonym")
def test_an_oso_dossier_with_a_12_mb_document_is_imported(
    backbone: Backbone, tmp_path: Path
) -> None:
    dossier = tmp_path / "dossier.xml"
    dossier.write_bytes(with_attachment(12 * 1024 * 1024))
    env = user_env()
    env |= {
        "KETENBUS_DATA_DIR": str(backbone.settings.data_dir),
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_NATS_AUTH": "none",
    }

    result = subprocess.run(
        [str(KETENBUS), "import", "oso", str(dossier), "--as", "bs-de-regenboog"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert 0 == result.returncode, result.stderr[-2000:]
    assert "(po-vo)" in result.stdout
    assert "14 sealed sections, 15 attachments by reference" in result.stdout

"""Every line a service writes to its log file is JSON, its own and the libraries' alike."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from services.runtime.logging import configure_logging
from services.runtime.settings import Settings


def test_a_library_warning_and_its_traceback_are_json_lines_in_the_log_file(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    configure_logging(settings, log_file="svc")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").exception("returning true from eof_received()")
    for handler in logging.getLogger().handlers:
        handler.flush()

    lines = [json.loads(line) for line in (settings.log_dir / "svc.log").read_text().splitlines()]

    expected = ("asyncio", "error", "returning true from eof_received()")
    assert expected == (lines[-1]["logger"], lines[-1]["level"], lines[-1]["event"])
    assert "ValueError: boom" in lines[-1]["exception"]

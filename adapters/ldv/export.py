"""kluis's processing records as a Logboek Dataverwerkingen (LDV) export.

The LDV standard (Logius, `logboek-dataverwerkingen`, component Logboek) logs each processing
as an action in a trace with the fields `trace_id` (16 bytes, hex), `span_id` (8 bytes, hex),
`parent_span_id`, `name`, `status_code`, `start_time`/`end_time` (milliseconds), `resource`
(attributes naming the system) and `attributes` (key-value pairs with `dpl.core.*`:
`processing_activity_id` a URI into the register, `data_subject_id` the (here pseudonymised)
data subject, `data_subject_id_type`).

Input is `ProcessingRecord.as_ldv()` (kluis), whose `status_code` is already after the
standard: `OK` for a release and `UNSET` for a refusal (a refusal is the client's matter, not a
server error: ERROR is for 5xx-like failures; the decision itself is the `ketenbus.decision`
attribute). On the way out the status gets the standard's `STATUS_CODE_` spelling and the
processing activity becomes a URI (`urn:ketenbus:processing-activity:<register
version>:<activity id>` unless a base is given). No clear personal data is in a record: the
data subject is the child's pseudonym.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STANDARD = "Logius Logboek Dataverwerkingen"
STATUS_OK = "STATUS_CODE_OK"
STATUS_UNSET = "STATUS_CODE_UNSET"
STATUS_ERROR = "STATUS_CODE_ERROR"
STATUS_CODES = {"OK": STATUS_OK, "UNSET": STATUS_UNSET, "ERROR": STATUS_ERROR}


def _millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def activity_uri(activity_id: str, register_version: str, base: str | None = None) -> str:
    if base:
        return f"{base.rstrip('/')}/{activity_id}"
    return f"urn:ketenbus:processing-activity:{register_version}:{activity_id}"


def ldv_record(span: Mapping[str, Any], *, register_base: str | None = None) -> dict[str, Any]:
    """One LDV log line from a kluis record's `as_ldv()` form."""
    attributes = dict(span["attributes"])
    resource = dict(span.get("resource") or {})
    version = str(resource.get("version", ""))
    attributes["dpl.core.processing_activity_id"] = activity_uri(
        str(attributes["dpl.core.processing_activity_id"]), version, register_base
    )
    status = str(span.get("status_code") or "UNSET").removeprefix("STATUS_CODE_")
    return {
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": span.get("parent_span_id"),
        "name": span["name"],
        "status_code": STATUS_CODES.get(status, STATUS_UNSET),
        "start_time": _millis(span["start_time"]),
        "end_time": _millis(span["end_time"]),
        "resource": {
            "attributes": {
                "service.name": resource.get("name", "kluis"),
                "ketenbus.register_version": version,
            }
        },
        "attributes": {k: v for k, v in attributes.items() if v is not None},
    }


def ldv_export(
    spans: Iterable[Mapping[str, Any]],
    *,
    controller: str = "",
    register_base: str | None = None,
    exported_at: datetime | None = None,
) -> dict[str, Any]:
    """The whole export: a header and the log lines in recording order."""
    records = [ldv_record(span, register_base=register_base) for span in spans]
    return {
        "standard": STANDARD,
        "exported_at": (exported_at or datetime.now(UTC)).isoformat(),
        "controller": controller,
        "count": len(records),
        "records": records,
    }


def write_ldv_export(target: Path, export: Mapping[str, Any]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(export, indent=2, ensure_ascii=False), encoding="utf-8")
    return target

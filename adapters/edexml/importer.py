"""The EDEXML import: a school's export becomes enrolment and de-enrolment events.

1. The file is validated against the EDEXML XSD, once (refused with what and where otherwise;
   a DTD, a file too large or one without a Dutch BRIN are refused too, `adapters.intake`).
2. Each pupil gets a pseudonym from the pseudonym service: its child pseudonym for a valid BSN,
   its pupil-key pseudonym (BRIN + key) otherwise. `pseudonyms_needed` lists what to ask (one
   batch request for the whole file); `plan_import` looks the answers up in a `Pseudonymiser`.
   A record that passes the schema but not the semantic checks (a BSN failing the eleven-check,
   a birth date in the future) is quarantined: named in the summary by its pupil key, never by
   name or BSN, while the rest imports (`strict` refuses the file instead).
3. The difference with the school's previous export (kept in the data dir as pseudonyms only)
   gives the enrolments (with the identity sealed under `identity`) and de-enrolments.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from adapters.edexml.reader import ExportHeader, Pupil, iter_pupils, read_header
from adapters.edexml.schema import validate
from adapters.intake import ImportRefusedError
from ketenbus_contracts.pseudonym import ChildBsn, Pseudonymiser, PupilKey, is_valid_bsn
from ketenbus_contracts.truancy import PupilIdentity


class StrictImportError(ImportRefusedError):
    """`--strict`: the file has records that fail the semantic checks."""


@dataclass(frozen=True)
class Quarantined:
    pupil_key: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class Enrolment:
    pseudonym: str
    identity: PupilIdentity
    enrolled_on: date


@dataclass
class ImportPlan:
    version: str
    header: ExportHeader
    pupils: int = 0
    enrolments: list[Enrolment] = field(default_factory=list)
    de_enrolments: list[str] = field(default_factory=list)
    unchanged: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    # pupil-key pseudonym → child pseudonym, for the next export (pseudonyms only)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.header.reference_date or date.today()


def _problem(pupil: Pupil, today: date) -> str | None:
    """The semantic check a schema-valid record fails, or None; never quotes the value."""
    if pupil.bsn is not None and not is_valid_bsn(pupil.bsn):
        return "BSN fails the eleven-check"
    if pupil.birth_date is not None and pupil.birth_date > today:
        return "birth date lies in the future"
    return None


def failing_records(root: Any, today: date | None = None) -> list[Quarantined]:
    """The records of a (validated) EDEXML root that fail the semantic checks: what `--strict`
    refuses the file for, known before anything is asked of the backbone."""
    check_day = today or date.today()
    return [
        Quarantined(pupil.key, pupil.line, problem)
        for pupil in iter_pupils(root)
        if (problem := _problem(pupil, check_day)) is not None
    ]


def strict_refusal(quarantined: list[Quarantined]) -> StrictImportError:
    """One line naming each failing record by pupil key, line and rule (never a value)."""
    shown = "; ".join(
        f"pupil key {q.pupil_key} (line {q.line}): {q.reason}" for q in quarantined[:5]
    )
    more = f" (and {len(quarantined) - 5} more)" if len(quarantined) > 5 else ""
    return StrictImportError(
        f"--strict: {len(quarantined)} record(s) fail the checks, nothing was imported: "
        f"{shown}{more}"
    )


def _name(pupil: Pupil) -> str:
    return " ".join(p for p in (pupil.given_names, pupil.prefix, pupil.surname) if p)


def pseudonyms_needed(root: Any) -> list[ChildBsn | PupilKey]:
    """What `plan_import` asks its `Pseudonymiser` for this (validated) EDEXML root: each
    pupil's key under the school's BRIN, and each BSN that passes the eleven-check."""
    brin = read_header(root).brin
    needed: list[ChildBsn | PupilKey] = []
    for pupil in iter_pupils(root):
        needed.append(PupilKey(brin=brin, pupil_key=pupil.key))
        if pupil.bsn is not None and is_valid_bsn(pupil.bsn):
            needed.append(ChildBsn(bsn=pupil.bsn))
    return needed


def plan_import(
    path: Path,
    pseudonyms: Pseudonymiser,
    previous: dict[str, str],
    *,
    strict: bool = False,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    validated: tuple[str, Any] | None = None,
) -> ImportPlan:
    """What importing `path` means, given the previous export's keys (`previous`).

    `validated`: the version and tree `validate(path)` gave, when the caller already read the
    file (the CLI reads its BRIN first): the file is parsed and validated once.
    """
    version, tree = validated or validate(path)
    root = tree.getroot()
    header = read_header(root)
    plan = ImportPlan(version=version, header=header)
    check_day = today or date.today()
    seen: set[str] = set()
    for pupil in iter_pupils(root):
        plan.pupils += 1
        if progress is not None and plan.pupils % 1000 == 0:
            progress(plan.pupils)
        key_pseudonym = pseudonyms.pupil(header.brin, pupil.key)
        problem = _problem(pupil, check_day)
        if problem is not None:
            plan.quarantined.append(Quarantined(pupil.key, pupil.line, problem))
            # Known from an earlier export: keep it, a typo is not a de-enrolment.
            if key_pseudonym in previous:
                plan.keys[key_pseudonym] = previous[key_pseudonym]
                seen.add(previous[key_pseudonym])
            continue
        bsn = pupil.bsn
        pseudonym = key_pseudonym if bsn is None else pseudonyms.child(bsn)
        plan.keys[key_pseudonym] = pseudonym
        seen.add(pseudonym)
        if pseudonym in previous.values():
            plan.unchanged += 1
            continue
        identity = PupilIdentity(
            bsn=pupil.bsn,
            pupil_key=pupil.key,
            name=_name(pupil) or None,
            birth_date=pupil.birth_date,
        )
        plan.enrolments.append(Enrolment(pseudonym, identity, plan.day))
    if strict and plan.quarantined:
        raise strict_refusal(plan.quarantined)
    plan.de_enrolments = sorted(set(previous.values()) - seen)
    return plan


# the previous export, pseudonyms only


def state_path(data_dir: Path, school: str) -> Path:
    return data_dir / "edexml" / f"{school}.json"


def load_previous(data_dir: Path, school: str, brin: str) -> dict[str, str]:
    path = state_path(data_dir, school)
    if not path.exists():
        return {}
    state = json.loads(path.read_text())
    return dict(state["keys"]) if state.get("brin") == brin else {}


def save_state(data_dir: Path, school: str, plan: ImportPlan) -> None:
    """Keep this export's keys (pseudonyms only), replaced atomically."""
    path = state_path(data_dir, school)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "brin": plan.header.brin,
        "reference_date": plan.day.isoformat(),
        "keys": dict(sorted(plan.keys.items())),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)


def summary(plan: ImportPlan) -> list[str]:
    lines = [
        f"EDEXML {plan.version}, school {plan.header.brin}, as of {plan.day}: "
        f"{plan.pupils} pupil(s)",
        f"enrolled {len(plan.enrolments)}, de-enrolled {len(plan.de_enrolments)}, "
        f"unchanged {plan.unchanged}, quarantined {len(plan.quarantined)}",
    ]
    lines += [
        f"  quarantined pupil key {q.pupil_key} (line {q.line}): {q.reason}"
        for q in plan.quarantined
    ]
    return lines


def event_ids(count: int) -> Iterable[uuid.UUID]:
    return (uuid.uuid4() for _ in range(count))

"""Reading pupils from an EDEXML file (2.0/2.1).

This is the reading half only; schema validation, quarantine and enrolment events are the
EDEXML import's job. Values read here are personal data: they go into sealed sections, never
into logs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

SAMPLE = Path(__file__).parent / "samples" / "EDEXML.Voorbeeld.2.1.xml"


@dataclass(frozen=True)
class Pupil:
    key: str
    brin: str
    bsn: str | None
    surname: str
    prefix: str | None
    given_names: str | None
    birth_date: date | None

    @property
    def school_key(self) -> str:
        """The pupil's key within its school, for pupils without a (valid) BSN."""
        return f"{self.brin}/{self.key}"


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag)
    return found.text.strip() if found is not None and found.text else None


def read_pupils(path: Path) -> list[Pupil]:
    root = ET.parse(path).getroot()  # noqa: S314
    brin = root.findtext("school/brincode", default="").strip()
    pupils = []
    for element in root.iterfind("leerlingen/leerling"):
        birth = _text(element, "geboortedatum")
        pupils.append(
            Pupil(
                key=element.get("key", ""),
                brin=brin,
                bsn=_text(element, "bsn"),
                surname=_text(element, "achternaam") or "",
                prefix=_text(element, "voorvoegsel"),
                given_names=_text(element, "voornamen") or _text(element, "roepnaam"),
                birth_date=date.fromisoformat(birth) if birth else None,
            )
        )
    return pupils

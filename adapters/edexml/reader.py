"""Reading pupils from an EDEXML file (2.0/2.1).

This is the reading half only; schema validation, quarantine and enrolment events are the
EDEXML import's job. Values read here are personal data: they go into sealed sections, never
into logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.intake import refuse_doctype, xml_parser
from services.infra import package_dir

SAMPLE = package_dir("adapters.edexml") / "samples" / "EDEXML.Voorbeeld.2.1.xml"


@dataclass(frozen=True)
class Pupil:
    key: str
    brin: str
    bsn: str | None
    surname: str
    prefix: str | None
    given_names: str | None
    birth_date: date | None
    line: int | None = None  # where the record is in the file (lxml only)

    @property
    def school_key(self) -> str:
        """The pupil's key within its school, for pupils without a (valid) BSN."""
        return f"{self.brin}/{self.key}"


def _text(element: Any, tag: str) -> str | None:
    found = element.find(tag)
    return found.text.strip() if found is not None and found.text else None


@dataclass(frozen=True)
class ExportHeader:
    """The school part of an export: which school, as of which day."""

    brin: str
    reference_date: date | None
    created: str | None
    version: str | None


def read_header(root: Any) -> ExportHeader:
    """The `school` block of an EDEXML root (xml.etree or lxml element)."""
    brin = (root.findtext("school/brincode") or "").strip()
    reference = (root.findtext("school/peildatum") or "").strip()
    return ExportHeader(
        brin=brin,
        reference_date=date.fromisoformat(reference) if reference else None,
        created=(root.findtext("school/aanmaakdatum") or "").strip() or None,
        version=(root.findtext("school/xsdversie") or "").strip() or None,
    )


def read_pupils(path: Path) -> list[Pupil]:
    """The pupils of a file, without the schema (the import validates: `importer`); a DTD is
    refused here too (`adapters.intake`)."""
    tree = etree.parse(str(path), xml_parser())
    refuse_doctype(tree, what=path.name)
    return list(iter_pupils(tree.getroot()))


def iter_pupils(root: Any) -> Iterator[Pupil]:
    """The pupils of an EDEXML root (lxml or xml.etree element), in file order."""
    brin = (root.findtext("school/brincode") or "").strip()
    for element in root.iterfind("leerlingen/leerling"):
        birth = _text(element, "geboortedatum")
        yield Pupil(
            key=element.get("key", ""),
            brin=brin,
            bsn=_text(element, "bsn"),
            surname=_text(element, "achternaam") or "",
            prefix=_text(element, "voorvoegsel"),
            given_names=_text(element, "voornamen") or _text(element, "roepnaam"),
            birth_date=date.fromisoformat(birth) if birth else None,
            line=getattr(element, "sourceline", None),
        )

"""What every file import checks before it trusts the file (EDEXML, OSO, absence CSV).

- Whose file it is: the BRIN in the file must be the importing (`--as`) partner's BRIN in the
  partner registry (`infra/partners.yaml`); another school's file is refused before anything
  is published.
- How large it is: `infra/imports.yaml` `max_file_bytes` per format, checked before parsing.
- XML without a DTD: a DOCTYPE (and so any entity declaration) is refused; the parsers never
  resolve entities or touch the network (`xml_parser`).

Every refusal is an `ImportRefusedError` whose message says what to do, never a value about a
child (a BRIN is an organisation's code, not personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from services.infra import INFRA_DIR
from services.runtime.partners import PARTNERS_PATH, load_partners

LIMITS_PATH = INFRA_DIR / "imports.yaml"
Format = Literal["edexml", "oso", "absences"]


@dataclass(frozen=True)
class LineProblem:
    """What keeps part of an imported file out: its line, the place on it (an element, a
    column) and why."""

    line: int
    place: str
    message: str
    # How the place is named in the message.
    place_as: ClassVar[str] = "{}"

    def __str__(self) -> str:
        return f"line {self.line}, {self.place_as.format(self.place)}: {self.message}"


class ImportRefusedError(ValueError):
    """The file is refused as a whole; the message says why and what to do (no values)."""


class WrongSchoolError(ImportRefusedError):
    """The file is another school's (its BRIN is not the importing partner's)."""


class FileTooLargeError(ImportRefusedError):
    """The file is larger than `infra/imports.yaml` allows for its format."""


class DoctypeRefusedError(ImportRefusedError):
    """The XML file declares a DTD (DOCTYPE): refused, never expanded."""


class ImportLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    max_file_bytes: dict[Format, int]
    publish_in_flight: int = Field(ge=1, le=1000)


@cache
def load_limits(path: Path = LIMITS_PATH) -> ImportLimits:
    return ImportLimits.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def check_size(size: int, kind: Format, *, what: str) -> None:
    """FileTooLargeError when `size` bytes exceed the format's limit."""
    limit = load_limits().max_file_bytes[kind]
    if size > limit:
        raise FileTooLargeError(
            f"{what}: the file is {_mib(size)}, more than the {_mib(limit)} a {kind} import "
            f"accepts (max_file_bytes.{kind} in infra/imports.yaml); split the export or raise "
            "the limit there"
        )


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def school_brin(partner: str, path: Path = PARTNERS_PATH) -> str:
    """The BRIN (4 characters) of a registered partner; WrongSchoolError for one without."""
    entry = next((p for p in load_partners(path).partners if p.id == partner), None)
    if entry is None:
        raise WrongSchoolError(f"{partner} is not a partner in infra/partners.yaml")
    brin = entry.organisation_codes.get("brin")
    if not brin:
        raise WrongSchoolError(
            f"{partner} has no BRIN in infra/partners.yaml: only a school imports this file"
        )
    return brin[:4]


def check_school(file_brin: str | None, partner: str, *, what: str) -> None:
    """WrongSchoolError unless the file's BRIN is the partner's (vestiging digits aside)."""
    expected = school_brin(partner)
    found = (file_brin or "").strip()[:4].upper()
    if found != expected:
        shown = found or "none"
        raise WrongSchoolError(
            f"{what}: the file is from school BRIN {shown}, but {partner} is BRIN {expected} "
            "(infra/partners.yaml); nothing was imported: import it as the school it is from"
        )


def xml_parser() -> Any:
    """An lxml parser that never resolves entities, loads a DTD or touches the network.

    `huge_tree` lifts libxml2's 10 MB text-node cap (OSO documents are base64 text nodes);
    `check_size` is the cap instead, before parsing.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
    )


def refuse_doctype(tree: Any, *, what: str) -> None:
    """DoctypeRefusedError when the parsed document declares a DTD (internal or external)."""
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DoctypeRefusedError(
            f"{what}: the file declares a DTD (<!DOCTYPE …>), which an import never reads "
            "(entities could expand or fetch files); export the file again without it"
        )

"""EDEXML schema validation (2.1, and 2.0 files, which the 2.1 schema accepts: 2.1 only added
the optional ECK iD), with errors that say what and where (line, element).

The XSDs are the official ones (MIT licence, `schemas/LICENSE.txt`). The XSD checks a BSN only
as nine digits; the eleven-check is the importer's semantic check.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from adapters.intake import (
    ImportRefusedError,
    LineProblem,
    check_size,
    refuse_doctype,
    xml_parser,
)
from services.infra import package_dir

SCHEMAS = package_dir("adapters.edexml") / "schemas"
VERSIONS = {"2.0": "2.1", "2.1": "2.1"}  # file version → schema it is validated against


class SchemaIssue(LineProblem):
    """Where the file breaks the schema: line, element (its path) and rule."""

    place_as = "<{}>"


class EdexmlSchemaError(ImportRefusedError):
    """The file is not EDEXML of a known version; `issues` say what and where.

    Its message is one line: the first issues (line, element, rule) and how many more.
    """

    shown = 3

    def __init__(self, issues: list[SchemaIssue]) -> None:
        self.issues = issues
        more = len(issues) - self.shown
        super().__init__(
            "; ".join(str(i) for i in issues[: self.shown])
            + (f" (and {more} more)" if more > 0 else "")
        )


class EdexmlNoBrinError(EdexmlSchemaError):
    """Schema-valid, but `school/brincode` is missing or empty (the Flemish 2.1 variant names
    the school by `instellingsnummer`): the import needs a Dutch BRIN to know the school."""


@cache
def _schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / version / "EDEXML.structuur.xsd")))


def _element(path: str | None) -> str:
    """`/EDEX/leerlingen/leerling[2]/bsn` → `leerling[2]/bsn` (enough to find it)."""
    if not path:
        return "?"
    return "/".join(path.strip("/").split("/")[-2:])


def validate(path: Path) -> tuple[str, etree._ElementTree]:
    """Parse and validate the file; its EDEXML version and tree, or EdexmlSchemaError
    (ImportRefusedError for a file too large or with a DTD).

    Messages name elements and lines, never values: a wrong value may be a BSN or a name.
    """
    check_size(path.stat().st_size, "edexml", what=path.name)
    try:
        tree = etree.parse(str(path), xml_parser())
    except etree.XMLSyntaxError as exc:
        lineno = int(exc.lineno or 0)
        raise EdexmlSchemaError(
            [SchemaIssue(lineno, "?", f"not well-formed XML: {exc.msg}")]
        ) from None
    # Before the schema: libxml2's validator fails on unexpanded entities ("Internal error").
    refuse_doctype(tree, what=path.name)
    root = tree.getroot()
    if root.tag != "EDEX":
        raise EdexmlSchemaError([SchemaIssue(_line(root), str(root.tag), "root must be EDEX")])
    declared = (root.findtext("school/xsdversie") or "2.1").strip()
    if declared not in VERSIONS:
        version_element = root.find("school/xsdversie")
        raise EdexmlSchemaError(
            [
                SchemaIssue(
                    _line(version_element),
                    "school/xsdversie",
                    f"unsupported EDEXML version {declared} (known: {', '.join(VERSIONS)})",
                )
            ]
        )
    schema = _schema(VERSIONS[declared])
    if not schema.validate(tree):
        issues = [
            SchemaIssue(e.line, _element(e.path), _without_values(e.message))
            for e in schema.error_log  # type: ignore[attr-defined]
        ]
        raise EdexmlSchemaError(issues)
    if not (root.findtext("school/brincode") or "").strip():
        school = root.find("school")
        raise EdexmlNoBrinError(
            [
                SchemaIssue(
                    _line(school),
                    "school/brincode",
                    "missing or empty: an import needs the school's Dutch BRIN (two digits, "
                    "two letters); an export naming the school otherwise (instellingsnummer, "
                    "the Flemish variant) is not supported",
                )
            ]
        )
    return declared, tree


def _line(element: object) -> int:
    """The source line of an element (0 when unknown)."""
    line = getattr(element, "sourceline", None)
    return line if isinstance(line, int) else 0


def _without_values(message: str) -> str:
    """libxml2's message without the offending value (it may be a BSN or a name), on one line.

    libxml2 quotes the value as `'…'` right before ` is not …` or ` has a length …`; the value
    itself may hold quotes, so everything up to the last such quote goes (greedy).
    """
    import re

    element, _, rule = message.partition("': ")
    if not rule:
        element, rule = "", message
    rule = re.sub(
        r"^(\[facet '[^']*'\] )?The value '.*'(?= is not| has a length)", r"\1the value", rule
    )
    rule = re.sub(r"^'.*'(?= is not)", "the value", rule)
    rule = " ".join(rule.split())
    return f"{element}': {rule}" if element else rule

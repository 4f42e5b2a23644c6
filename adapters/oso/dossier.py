"""OSO dossiers (gegevensset 2019.1): validate, split into categories, and assemble back.

No I/O beyond reading the XSD: `read_dossier` checks a file against the OSO XSD and the business
rules of the OSO XSL that can be checked without an XSLT 2.0 processor (code lists 16 and 48,
selective delivery: VERBODEN and OPT-UIT categories hold no data, VERPLICHT ones do) and the
BSN's eleven-check, then cuts
the dossier into one fragment list per category (`infra/handover/oso-categories.yaml`).
Base64 documents (`bestandsinhoud`) are taken out and replaced by a reference, so they can be
stored by reference. `assemble` puts delivered categories back into a dossier that validates.

Everything read here is personal data: it goes into sealed sections, never into logs or
exception messages (messages name elements and lines, never values).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from adapters.intake import ImportRefusedError, check_size, refuse_doctype, xml_parser
from ketenbus_contracts.pseudonym import is_valid_bsn
from services.infra import package_dir
from services.policy.handover import DisclosureRules

# The OSO 2019.1 XSD (and the XSL of its business rules) and the standard's example dossiers.
SCHEMAS = package_dir("adapters.oso") / "schemas"
SAMPLES = package_dir("adapters.oso") / "samples"
XSD_PATH = SCHEMAS / "OSO_gegevensset_2019.1.xsd"
STANDARD_VERSION = "2019.1"
# Original position of an element in its parent, kept inside the sealed fragments so the
# categories can be put back in schema order.
INDEX_ATTR = "{urn:ketenbus:oso}i"
OBJECT_REF_PREFIX = "ketenbus-object:"
CATEGORY_VALUES = ("VERPLICHT", "OPTIONEEL", "VERBODEN", "OPT-UIT")  # OSO codelijst 48


class OsoRefusedError(ImportRefusedError):
    """The file is not a valid OSO dossier; the message says what and where (no values)."""


@dataclass
class Attachment:
    ref: str
    content_b64: str


@dataclass
class CategorySection:
    """One category's elements, as XML fragments with where they go back."""

    category: str
    fragments: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def content(self) -> dict[str, Any]:
        """What is sealed (attachments go by reference: `refs`)."""
        return {
            "category": self.category,
            "fragments": self.fragments,
            "refs": [a.ref for a in self.attachments],
        }


@dataclass
class OsoDossier:
    transition: str
    declared: dict[str, str]
    sections: dict[str, CategorySection]
    bsn: str | None
    brin: str | None
    pupil_key: str | None
    birth_date: date | None
    # Support the file shows running (arrangements, TLV, OPP, LWOO without an end in the past):
    # (element, end date or None). The dossier carries them in `onderwijsondersteuning`.
    running: list[tuple[str, date | None]]
    viewed: bool
    viewed_on: date | None
    agreed: bool
    reason_not_agreed: str
    consent: bool | None

    @property
    def opted_out(self) -> list[str]:
        """OPT-UIT in a delivered OSO file: the parents opted out, the data is absent."""
        return sorted(c for c, rule in self.declared.items() if rule == "OPT-UIT")


@cache
def oso_schema(path: Path = XSD_PATH) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _path(ns: str, path: str) -> str:
    return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))


def _find_all(root: Any, ns: str, path: str) -> list[Any]:
    return list(root.iterfind(_path(ns, path)))


def _text(root: Any, ns: str, path: str) -> str | None:
    found = root.find(_path(ns, path))
    return found.text.strip() if found is not None and found.text else None


def validate(raw: bytes, *, what: str = "file") -> Any:
    """The parsed tree of a well-formed, XSD-valid OSO 2019.1 dossier; OsoRefusedError else
    (ImportRefusedError for a file too large or with a DTD, `adapters.intake`)."""
    check_size(len(raw), "oso", what=what)
    try:
        tree = etree.fromstring(raw, xml_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise OsoRefusedError(
            f"{what}: not well-formed XML: {exc.msg} (line {exc.lineno})"
        ) from None
    # Before the schema: libxml2's validator fails on unexpanded entities ("Internal error").
    refuse_doctype(tree, what=what)
    root = tree.getroot()
    schema = oso_schema()
    ns = etree.QName(root).namespace
    expected = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
    if _local(root.tag) != "dossier" or ns != expected:
        raise OsoRefusedError(
            f"{what}: not an OSO 2019 dossier: root element <{_local(root.tag)}> in namespace "
            f"{ns!r} at line {root.sourceline} (expected <dossier> in {expected!r})"
        )
    if not schema.validate(tree):
        errors = [
            f"line {e.line}: {_element_path(tree, e.path)}: {_schema_message(e.message)}"
            for e in cast(Iterable[Any], schema.error_log)
        ][:5]
        raise OsoRefusedError(f"{what}: invalid against the OSO 2019.1 XSD: " + "; ".join(errors))
    version = _text(root, expected, "metadata/standaardversie")
    if version != STANDARD_VERSION:
        raise OsoRefusedError(
            f"{what}: metadata/standaardversie is not {STANDARD_VERSION} (line "
            f"{root.sourceline}, <dossier>)"
        )
    return tree


def _schema_message(message: str) -> str:
    """libxml2's message without the values it quotes (they may be personal data)."""
    element = ""
    if message.startswith("Element '"):
        name, _, message = message.removeprefix("Element '").partition("': ")
        element = f"<{_local(name)}>: "
    return element + re.sub(r"'[^']*'", "<value>", message)


def _element_path(tree: Any, xpath: str | None) -> str:
    """`/dossier/inzage/inzagedatum` for libxml2's `/*/*[3]/*[3]`."""
    try:
        found = tree.xpath(xpath) if xpath else []
    except etree.XPathError:
        found = []
    if not found or not hasattr(found[0], "tag"):
        return xpath or "?"
    names = [_local(e.tag) for e in [*reversed(list(found[0].iterancestors())), found[0]]]
    return "/" + "/".join(names)


def read_dossier(raw: bytes, rules: DisclosureRules, *, what: str = "file") -> OsoDossier:
    """Validate and split an OSO dossier; OsoRefusedError with what and where otherwise."""
    tree = validate(raw, what=what)
    root = tree.getroot()
    ns = rules.namespace

    overstap_el = root.find(_path(ns, "metadata/overstap"))
    overstap = overstap_el.text.strip() if overstap_el is not None and overstap_el.text else None
    if overstap is None:
        raise OsoRefusedError(f"{what}: metadata/overstap is missing: the transition is unknown")
    if overstap not in rules.overstap:
        raise OsoRefusedError(
            f"{what}: line {overstap_el.sourceline}: metadata/overstap is not a code of OSO "
            "codelijst 16 that ketenbus maps to a transition"
        )
    transition = rules.overstap[overstap]

    declared: dict[str, str] = {}
    for category in rules.categories:
        element = root.find(_path(ns, f"metadata/categorie_uitlevering/cat_{category}"))
        if element is None:
            continue
        value = (element.text or "").strip()
        if value not in CATEGORY_VALUES:
            raise OsoRefusedError(
                f"{what}: line {element.sourceline}: metadata/categorie_uitlevering/"
                f"cat_{category} is not a value of OSO codelijst 48"
            )
        declared[category] = value

    pupil = "huidigeschool/leerling"
    # Read before the tree is cut into categories.
    facts: dict[str, Any] = {
        "bsn": _text(root, ns, f"{pupil}/bsn"),
        "brin": _text(root, ns, "huidigeschool/brincode"),
        "pupil_key": _text(root, ns, f"{pupil}/leerlingid"),
        "birth_date": _date(_text(root, ns, f"{pupil}/geboortedatum")),
        "viewed": _text(root, ns, "inzage/inzage") == "true",
        "viewed_on": _date(_text(root, ns, "inzage/inzagedatum")),
        "agreed": (_text(root, ns, "inzage/akkoord") or "Ja").lower() == "ja",
        "reason_not_agreed": _text(root, ns, "inzage/redennietakkoord") or "",
        "consent": _yes_no(_text(root, ns, "inzage/toestemming")),
    }
    bsn = root.find(_path(ns, f"{pupil}/bsn"))
    if facts["bsn"] is not None and not is_valid_bsn(facts["bsn"]):
        # As the EDEXML import quarantines such a record: a typo would hand the dossier over
        # under another (or no) child's pseudonym.
        raise OsoRefusedError(
            f"{what}: line {bsn.sourceline}: huidigeschool/leerling/bsn fails the eleven-check "
            "(elfproef); correct the BSN in the school's administration and export again"
        )
    facts["running"] = _running_support(root, ns)
    _annotate_positions(root, rules)
    sections: dict[str, CategorySection] = {}
    items = [
        (category, path) for category, entry in rules.categories.items() for path in entry.paths
    ]
    # Deepest first: a nested category (handelingsplan) leaves its parent before the parent goes.
    items.sort(key=lambda item: -item[1].count("/"))
    for category, path in items:
        # An element emptied by a nested category (onderwijsondersteuning without its
        # handelingsplan) holds no data of its own: it is recreated on export when needed.
        found = [e for e in _find_all(root, ns, path) if _holds_data(e)]
        rule = declared.get(category)
        if found and rule in ("VERBODEN", "OPT-UIT"):
            raise OsoRefusedError(
                f"{what}: line {found[0].sourceline}: <{path}> holds data of category "
                f"{category!r}, which the dossier declares {rule} (OSO business rule: such a "
                "category holds no data)"
            )
        parent_path = path.rsplit("/", 1)[0] if "/" in path else ""
        for element in found:
            section = sections.setdefault(category, CategorySection(category))
            parent = element.getparent()
            section.attachments += _take_attachments(element, ns)
            parent.remove(element)
            element.tail = None
            section.fragments.append(
                {
                    "parent": parent_path,
                    "parent_index": parent.get(INDEX_ATTR),
                    "xml": etree.tostring(element, encoding="unicode"),
                }
            )
    for category, rule in declared.items():
        if rule == "VERPLICHT" and category not in sections and rules.categories[category].paths:
            raise OsoRefusedError(
                f"{what}: category {category!r} is declared VERPLICHT but the dossier holds "
                "no data of it (OSO business rule)"
            )
    left = [child for child in root if isinstance(child.tag, str)]
    if left:
        raise OsoRefusedError(
            f"{what}: line {left[0].sourceline}: <{_local(left[0].tag)}> belongs to no category"
        )

    return OsoDossier(transition=transition, declared=declared, sections=sections, **facts)


RUNNING_SUPPORT = ("arrangement_cluster12", "arrangement_pao", "tlv", "opp", "lwoo")


def _running_support(root: Any, ns: str) -> list[tuple[str, date | None]]:
    support = root.find(_path(ns, "huidigeschool/leerling/onderwijsondersteuning"))
    found: list[tuple[str, date | None]] = []
    if support is None:
        return found
    for child in support:
        name = _local(child.tag) if isinstance(child.tag, str) else ""
        if name in RUNNING_SUPPORT:
            ends = [
                _date((e.text or "").strip())
                for e in child.iter()
                if isinstance(e.tag, str) and _local(e.tag).endswith("einddatum") and e.text
            ]
            found.append((name, max((d for d in ends if d), default=None)))
    return found


def _holds_data(element: Any) -> bool:
    return any(isinstance(c.tag, str) for c in element) or bool((element.text or "").strip())


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("ja", "true", "1")


def _annotate_positions(root: Any, rules: DisclosureRules) -> None:
    """Mark each child of an element that holds categories with its original position."""
    ns = rules.namespace
    parents = {""}
    for entry in rules.categories.values():
        for path in entry.paths:
            parts = path.split("/")
            parents.update("/".join(parts[:n]) for n in range(1, len(parts)))
    for parent_path in parents:
        holders = [root] if parent_path == "" else _find_all(root, ns, parent_path)
        for holder in holders:
            elements = [child for child in holder if isinstance(child.tag, str)]
            for index, child in enumerate(elements):
                child.set(INDEX_ATTR, str(index))


def _take_attachments(element: Any, ns: str) -> list[Attachment]:
    taken: list[Attachment] = []
    for content in element.iter(f"{{{ns}}}bestandsinhoud"):
        ref = uuid.uuid4().hex
        taken.append(Attachment(ref=ref, content_b64="".join((content.text or "").split())))
        content.text = OBJECT_REF_PREFIX + ref
    return taken


def assemble(
    sections: dict[str, dict[str, Any]],
    attachments: dict[str, str],
    withheld: Mapping[str, str],
    rules: DisclosureRules,
) -> bytes:
    """An OSO dossier from opened sections (category → content), attachment contents by ref,
    and the categories withheld with their rule (marked in `categorie_uitlevering`)."""
    ns = rules.namespace
    nsmap: Any = {None: ns}
    root = etree.Element(f"{{{ns}}}dossier", nsmap=nsmap)
    fragments = [f for content in sections.values() for f in content["fragments"]]
    fragments.sort(key=lambda f: (f["parent"].count("/") + bool(f["parent"]), f["parent"]))
    for fragment in fragments:
        parent = _parent_for(root, ns, fragment)
        element = etree.fromstring(fragment["xml"])
        _insert_in_order(parent, element)
    for content in root.iter(f"{{{ns}}}bestandsinhoud"):
        text = content.text or ""
        if text.startswith(OBJECT_REF_PREFIX):
            ref = text.removeprefix(OBJECT_REF_PREFIX)
            if ref not in attachments:
                raise OsoRefusedError(f"attachment {ref} is missing")
            content.text = attachments[ref]
    for element in root.iter():
        if INDEX_ATTR in element.attrib:
            del element.attrib[INDEX_ATTR]
    for category, rule in withheld.items():
        mark = root.find(_path(ns, f"metadata/categorie_uitlevering/cat_{category}"))
        if mark is not None:
            mark.text = rule
    etree.cleanup_namespaces(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _parent_for(root: Any, ns: str, fragment: dict[str, Any]) -> Any:
    if fragment["parent"] == "":
        return root
    parent = root.find(_path(ns, fragment["parent"]))
    if parent is not None:
        return parent
    # The parent's category was withheld: recreate the bare element where it stood.
    grand = _parent_for(
        root,
        ns,
        {"parent": fragment["parent"].rsplit("/", 1)[0] if "/" in fragment["parent"] else ""},
    )
    parent = etree.Element(f"{{{ns}}}{fragment['parent'].rsplit('/', 1)[-1]}")
    if fragment.get("parent_index") is not None:
        parent.set(INDEX_ATTR, fragment["parent_index"])
    _insert_in_order(grand, parent)
    return parent


def _insert_in_order(parent: Any, element: Any) -> None:
    mine = int(element.get(INDEX_ATTR, "1000000"))
    for position, child in enumerate(parent):
        if isinstance(child.tag, str) and int(child.get(INDEX_ATTR, "1000000")) > mine:
            parent.insert(position, element)
            return
    parent.append(element)

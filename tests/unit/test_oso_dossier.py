"""OSO dossiers: the samples validate, split into categories and come back valid; invalid and
unknown files are refused with what and where."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from adapters.oso.dossier import SAMPLES, OsoRefusedError, assemble, oso_schema, read_dossier
from services.policy.handover import load_disclosure_rules
from tests.conftest import EDEXML_SAMPLE

EXAMPLES = SAMPLES
SAMPLES = sorted(EXAMPLES.glob("*.xml"))
POVO = EXAMPLES / "Voorbeelddossier_OV_POVO_full.xml"
POPO = EXAMPLES / "Voorbeelddossier_OV_POPO_full.xml"
OPT_OUT = EXAMPLES / "Voorbeelddossier_OV_POVO_opt_out.xml"
RULES = load_disclosure_rules()


def valid(xml: bytes) -> bool:
    return bool(oso_schema().validate(etree.fromstring(xml).getroottree()))


def opened(path: Path) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    dossier = read_dossier(path.read_bytes(), RULES)
    # What is sealed travels as JSON: go through it.
    sections = {c: json.loads(json.dumps(s.content())) for c, s in dossier.sections.items()}
    attachments = {a.ref: a.content_b64 for s in dossier.sections.values() for a in s.attachments}
    return sections, attachments


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_sample_comes_back_as_a_valid_dossier_with_every_element(sample: Path) -> None:
    sections, attachments = opened(sample)

    xml = assemble(sections, attachments, {}, RULES)

    assert valid(xml)
    assert sample.read_bytes().count(b"<") == xml.count(b"<")


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_withheld_categories_leave_a_valid_dossier_marked_opt_uit(sample: Path) -> None:
    sections, attachments = opened(sample)
    withheld = {"verzuim": "OPT-UIT", "onderwijsondersteuning": "OPT-UIT"}

    xml = assemble(
        {c: s for c, s in sections.items() if c not in withheld}, attachments, withheld, RULES
    )

    assert valid(xml)
    again = read_dossier(xml, RULES)
    assert {"verzuim", "onderwijsondersteuning"} <= set(again.opted_out)
    assert "verzuim" not in again.sections


def test_the_transition_and_the_parents_view_are_read() -> None:
    dossier = read_dossier(POVO.read_bytes(), RULES)

    expected = ("po-vo", True, False, "Teveel zorggegevens in het dossier", True)
    actual = (
        dossier.transition,
        dossier.viewed,
        dossier.agreed,
        dossier.reason_not_agreed,
        dossier.consent,
    )
    assert expected == actual


def test_opt_uit_in_the_file_is_the_parents_opting_out() -> None:
    dossier = read_dossier(OPT_OUT.read_bytes(), RULES)

    expected = [
        "bijlagedocs",
        "cijferlijsten",
        "eindtoetsbo",
        "handelingsplannen",
        "onderwijsondersteuning",
        "toetsresultaten",
        "verzuim",
    ]
    assert expected == dossier.opted_out
    assert not set(expected) & set(dossier.sections)


def test_attachments_go_by_reference_and_never_sit_in_a_section() -> None:
    dossier = read_dossier(POVO.read_bytes(), RULES)

    attachments = [a for s in dossier.sections.values() for a in s.attachments]
    assert 15 == len(attachments)
    blob = json.dumps([s.content() for s in dossier.sections.values()])
    assert all(a.content_b64 not in blob for a in attachments)
    assert all(f"ketenbus-object:{a.ref}" in blob for a in attachments)


def refused(raw: bytes) -> str:
    with pytest.raises(OsoRefusedError) as caught:
        read_dossier(raw, RULES, what="dossier.xml")
    return str(caught.value)


def test_an_unknown_file_is_refused_naming_its_root_element() -> None:
    message = refused(EDEXML_SAMPLE.read_bytes())

    assert "not an OSO 2019 dossier: root element <EDEX>" in message
    assert "line 13" in message


def test_malformed_xml_is_refused_with_the_line() -> None:
    raw = POVO.read_bytes().replace(b"</inzage>", b"</inzag>", 1)

    message = refused(raw)

    assert message.startswith("dossier.xml: not well-formed XML")
    assert "(line 33)" in message


def test_an_xsd_violation_is_refused_with_line_and_element_but_no_value() -> None:
    raw = POVO.read_bytes().replace(
        b"<inzagedatum>2016-03-31</inzagedatum>", b"<inzagedatum>31-03-2016</inzagedatum>"
    )

    message = refused(raw)

    assert (
        "invalid against the OSO 2019.1 XSD: line 34: /dossier/inzage/inzagedatum: "
        "<inzagedatum>: <value> is not a valid value of the atomic type <value>." in message
    )
    assert "31-03-2016" not in message


def test_data_in_a_verboden_category_is_refused_where_it_is() -> None:
    raw = POPO.read_bytes().replace(b"<cat_vve>OPTIONEEL</cat_vve>", b"<cat_vve>VERBODEN</cat_vve>")

    message = refused(raw)

    assert "holds data of category 'vve', which the dossier declares VERBODEN" in message
    assert "line " in message


def test_data_in_an_opted_out_category_is_refused() -> None:
    raw = POVO.read_bytes().replace(
        b"<cat_verzuim>OPTIONEEL</cat_verzuim>", b"<cat_verzuim>OPT-UIT</cat_verzuim>"
    )

    assert "category 'verzuim', which the dossier declares OPT-UIT" in refused(raw)


def test_a_category_value_outside_codelijst_48_is_refused() -> None:
    raw = POVO.read_bytes().replace(
        b"<cat_verzuim>OPTIONEEL</cat_verzuim>", b"<cat_verzuim>MISSCHIEN</cat_verzuim>"
    )

    assert (
        "line 20: metadata/categorie_uitlevering/cat_verzuim is not a value of OSO codelijst 48"
        in refused(raw)
    )


def test_an_unknown_transition_code_is_refused() -> None:
    raw = POVO.read_bytes().replace(b"<overstap>POVO</overstap>", b"<overstap>XYZ</overstap>")

    assert "line 28: metadata/overstap is not a code of OSO codelijst 16" in refused(raw)


def test_a_missing_verplicht_category_is_refused() -> None:
    tree = etree.fromstring(POVO.read_bytes())
    ns = RULES.namespace
    pupil = tree.find(f"{{{ns}}}huidigeschool/{{{ns}}}leerling")
    assert pupil is not None
    for element in pupil.findall(f"{{{ns}}}overstapadvies"):
        pupil.remove(element)

    message = refused(etree.tostring(tree))

    assert (
        "category 'overstapadvies' is declared VERPLICHT but the dossier holds no data" in message
    )


def test_running_support_in_the_file_is_found_with_its_end_date() -> None:
    dossier = read_dossier(POVO.read_bytes(), RULES)

    expected = [
        ("opp", date(2016, 5, 4)),
        ("tlv", date(2018, 7, 31)),
        ("arrangement_cluster12", None),
        ("arrangement_pao", date(2019, 1, 28)),
    ]
    assert expected == dossier.running

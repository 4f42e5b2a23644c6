"""Imports trust nothing: whose file it is (BRIN), DTDs and entities, size, the eleven-check in
OSO, a Flemish EDEXML without a BRIN, CSVs in any delimiter and encoding a school writes.

Every refusal is a named `ImportRefusedError` whose message says what and where, never a value
about a child.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

import adapters.edexml.schema as edexml_schema
import adapters.intake as intake
from adapters.edexml.importer import plan_import
from adapters.edexml.reader import SAMPLE, read_header, read_pupils
from adapters.edexml.schema import EdexmlNoBrinError, EdexmlSchemaError, validate
from adapters.intake import (
    DoctypeRefusedError,
    FileTooLargeError,
    ImportLimits,
    WrongSchoolError,
    check_school,
    school_brin,
)
from adapters.las_csv.reader import AbsenceCsvError, AbsenceRow, read_absences
from adapters.oso.dossier import SAMPLES, OsoRefusedError, read_dossier
from adapters.oso.transfer import import_oso
from adapters.school_imports import publish_edexml
from ketenbus_contracts.pseudonym import SecretPseudonymiser
from services.infra import INFRA_DIR
from services.policy.handover import load_disclosure_rules, load_rules
from services.policy.regions import load_regions
from services.runtime.partners import load_partners
from tests.conftest import EDEXML_SAMPLE

SCHOOL = "bs-de-regenboog"
PSEUDONYMS = SecretPseudonymiser(b"test-pseudonym-secret-32-bytes!!")
DISCLOSURE = load_disclosure_rules()
POVO = SAMPLES / "Voorbeelddossier_OV_POVO_full.xml"
OSO_BSN = b"<bsn>269326728</bsn>"
HEADER = "pupil_key;date;hours;lessons;authorised;reason_code;notes"


def other_school(tmp_path: Path) -> Path:
    """The EDEXML sample as exported by another school (BRIN 12AB)."""
    path = tmp_path / "other.xml"
    path.write_bytes(
        SAMPLE.read_bytes().replace(b"<brincode>99ZZ</brincode>", b"<brincode>12AB</brincode>")
    )
    return path


def with_doctype(raw: bytes, doctype: bytes) -> bytes:
    """`raw` (an XML file starting with its declaration line) with a DOCTYPE after it."""
    declaration, _, rest = raw.partition(b"\n")
    return declaration + b"\n" + doctype + b"\n" + rest


def oso_as_school(raw: bytes) -> bytes:
    """An OSO sample as the school's own export (the samples' sending school is 00YY)."""
    return raw.replace(b"<brincode>00YY</brincode>", b"<brincode>99ZZ</brincode>", 1)


# whose file: one BRIN per school --------------------------------------------------------------


def test_the_registry_the_samples_and_the_truancy_config_give_the_school_one_brin() -> None:
    registry = {
        p.id: p.organisation_codes["brin"][:4]
        for p in load_partners().partners
        if "brin" in p.organisation_codes
    }
    truancy = {
        school: rules.brin for r in load_regions().values() for school, rules in r.schools.items()
    }
    vindplaatsen = yaml.safe_load((INFRA_DIR / "signalling" / "vindplaatsen.yaml").read_text())
    listed = {
        v["partner"]: v["codes"]["brin"][:4]
        for v in vindplaatsen["vindplaatsen"]
        if "brin" in v.get("codes", {})
    }
    shared = Path("/work/shared/fixtures/edexml/2.1") / SAMPLE.name  # where it is mounted
    samples = {
        read_header(validate(path)[1].getroot()).brin
        for path in (SAMPLE, EDEXML_SAMPLE, shared)
        if path.exists()
    }

    assert "99ZZ" == registry[SCHOOL]
    assert truancy == {school: registry[school] for school in truancy}
    assert {SCHOOL: "99ZZ"} == {s: b for s, b in listed.items() if s == SCHOOL}
    assert listed == {school: registry[school] for school in listed}
    assert {registry[SCHOOL]} == samples


def test_a_file_of_another_school_is_refused_naming_both_brins() -> None:
    with pytest.raises(WrongSchoolError) as refused:
        check_school("12AB", SCHOOL, what="leerlingen.xml")

    assert (
        "leerlingen.xml: the file is from school BRIN 12AB, but bs-de-regenboog is BRIN 99ZZ "
        "(infra/partners.yaml); nothing was imported: import it as the school it is from"
    ) == str(refused.value)


def test_a_file_of_the_school_with_its_vestiging_digits_is_its_own() -> None:
    check_school("99ZZ01", SCHOOL, what="leerlingen.xml")


def test_a_partner_without_a_brin_imports_no_school_file() -> None:
    with pytest.raises(WrongSchoolError, match="jgz-gelderland-zuid has no BRIN"):
        school_brin("jgz-gelderland-zuid")


def test_an_edexml_export_of_another_school_is_refused_before_connecting(tmp_path: Path) -> None:
    plan = plan_import(other_school(tmp_path), PSEUDONYMS, {})
    rules = next(iter(load_regions().values()))

    with pytest.raises(WrongSchoolError, match="BRIN 12AB"):
        # No server at this address: the refusal comes before any connection.
        asyncio.run(publish_edexml("nats://127.0.0.1:1", tmp_path, SCHOOL, rules, plan))


class _Keyring:
    partner = SCHOOL


def test_an_oso_dossier_of_another_school_is_refused_before_anything_is_published() -> None:
    with pytest.raises(WrongSchoolError, match="BRIN 00YY, but bs-de-regenboog is BRIN 99ZZ"):
        asyncio.run(
            import_oso(
                None,  # type: ignore[arg-type]  # never reached
                _Keyring(),  # type: ignore[arg-type]
                POVO.read_bytes(),
                pseudonyms=None,  # type: ignore[arg-type]  # never reached
                disclosure=DISCLOSURE,
                rules=load_rules(),
                contact="ib",
                what="dossier.xml",
            )
        )


def test_an_absence_csv_with_another_schools_brin_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "brin;pupil_key;date;hours;lessons;authorised;reason_code\n"
        "99ZZ;00001;2026-09-07;;3;nee;spijbelen\n"
        "12AB;00002;2026-09-07;;3;nee;spijbelen\n"
    )

    with pytest.raises(WrongSchoolError, match="line 3: the file is from school BRIN 12AB"):
        list(read_absences(path, school=SCHOOL))


# DTDs and entities ----------------------------------------------------------------------------

LAUGHS = (
    b'<!DOCTYPE EDEX [<!ENTITY a "haha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
)


@pytest.mark.parametrize(
    "doctype",
    [
        LAUGHS,
        b'<!DOCTYPE EDEX [<!ENTITY d SYSTEM "file:///etc/hostname">]>',
        b'<!DOCTYPE EDEX SYSTEM "http://127.0.0.1:9/edex.dtd">',
    ],
    ids=["entity-expansion", "external-entity", "external-dtd"],
)
def test_an_edexml_file_with_a_dtd_is_refused_with_a_clear_message(
    tmp_path: Path, doctype: bytes
) -> None:
    raw = with_doctype(SAMPLE.read_bytes(), doctype)
    path = tmp_path / "dtd.xml"
    path.write_bytes(raw.replace(b"<achternaam>ie</achternaam>", b"<achternaam>&d;</achternaam>"))

    with pytest.raises(DoctypeRefusedError) as refused:
        validate(path)

    assert str(refused.value).startswith("dtd.xml: the file declares a DTD (<!DOCTYPE …>)")


def test_the_demos_pupil_reader_refuses_a_dtd_too(tmp_path: Path) -> None:
    path = tmp_path / "dtd.xml"
    path.write_bytes(with_doctype(SAMPLE.read_bytes(), LAUGHS))

    with pytest.raises(DoctypeRefusedError):
        read_pupils(path)


def test_an_oso_dossier_with_a_dtd_is_refused_with_a_clear_message() -> None:
    raw = with_doctype(POVO.read_bytes(), b'<!DOCTYPE dossier [<!ENTITY x "y">]>')

    with pytest.raises(DoctypeRefusedError, match="export the file again without it"):
        read_dossier(raw, DISCLOSURE, what="dossier.xml")


# sizes: OSO attachments ------------------------------------------------------------------------


def with_attachment(size: int) -> bytes:
    """The POVO sample with its first document replaced by `size` random-looking bytes."""
    raw = oso_as_school(POVO.read_bytes())
    start = raw.index(b"<bestandsinhoud>") + len(b"<bestandsinhoud>")
    end = raw.index(b"</bestandsinhoud>", start)
    document = base64.b64encode(uuid.uuid4().bytes * (size // 16))
    return raw[:start] + document + raw[end:]


def test_an_oso_dossier_with_a_12_mb_attachment_is_read() -> None:
    raw = with_attachment(12 * 1024 * 1024)  # 16 MB of base64: one text node over libxml2's cap

    dossier = read_dossier(raw, DISCLOSURE)

    largest = max(len(a.content_b64) for s in dossier.sections.values() for a in s.attachments)
    assert 16 * 1024 * 1024 == largest


def test_an_oso_dossier_over_the_limit_is_refused_naming_the_limit_and_where_it_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = ImportLimits(
        version="test",
        max_file_bytes={"edexml": 1, "oso": 1024 * 1024, "absences": 1},
        publish_in_flight=1,
    )
    monkeypatch.setattr(intake, "load_limits", lambda: small)

    with pytest.raises(FileTooLargeError) as refused:
        read_dossier(with_attachment(2 * 1024 * 1024), DISCLOSURE, what="dossier.xml")

    assert (
        "dossier.xml: the file is 2.8 MiB, more than the 1.0 MiB a oso import accepts "
        "(max_file_bytes.oso in infra/imports.yaml); split the export or raise the limit there"
    ) == str(refused.value)


# the eleven-check in OSO ----------------------------------------------------------------------


def test_an_oso_dossier_whose_bsn_fails_the_eleven_check_is_refused_without_the_value() -> None:
    raw = POVO.read_bytes().replace(OSO_BSN, b"<bsn>269326729</bsn>")

    with pytest.raises(OsoRefusedError) as refused:
        read_dossier(raw, DISCLOSURE, what="dossier.xml")

    message = str(refused.value)
    assert "huidigeschool/leerling/bsn fails the eleven-check" in message
    assert "269326729" not in message


# EDEXML: once, and the Flemish variant -------------------------------------------------------


def test_an_edexml_export_without_a_brin_is_refused_naming_the_field_and_the_rule(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vlaanderen.xml"
    path.write_bytes(
        SAMPLE.read_bytes().replace(
            b"<brincode>99ZZ</brincode>\n\t\t<dependancecode>00</dependancecode>",
            b"<instellingsnummer>123456</instellingsnummer>",
        )
    )

    with pytest.raises(EdexmlNoBrinError) as refused:
        plan_import(path, PSEUDONYMS, {})

    message = str(refused.value)
    assert message.startswith("line 14, <school/brincode>: missing or empty: an import needs")
    assert "123456" not in message


def test_an_empty_brincode_is_refused_by_the_schema_without_the_value(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(SAMPLE.read_bytes().replace(b"99ZZ</brincode>", b"</brincode>"))

    with pytest.raises(EdexmlSchemaError, match="line 17, <school/brincode>"):
        plan_import(path, PSEUDONYMS, {})


def test_the_edexml_import_validates_the_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    validated: list[Any] = []
    real = edexml_schema._schema

    def counting(version: str) -> Any:
        schema = real(version)

        class Counting:
            error_log = schema.error_log

            def validate(self, tree: Any) -> bool:
                validated.append(tree)
                return bool(schema.validate(tree))

        return Counting()

    monkeypatch.setattr(edexml_schema, "_schema", counting)
    version, tree = validate(SAMPLE)
    plan = plan_import(SAMPLE, PSEUDONYMS, {}, validated=(version, tree))

    assert (1, 3) == (len(validated), plan.pupils)


# CSV: delimiters and encodings ----------------------------------------------------------------

ROW = "00001;2026-09-07;;3;nee;spijbelen;café"
EXPECTED = [AbsenceRow(2, "00001", date(2026, 9, 7), None, 3, False, "spijbelen", "café")]


@pytest.mark.parametrize("delimiter", [";", ",", "\t"], ids=["semicolon", "comma", "tab"])
def test_an_absence_csv_is_read_with_any_of_its_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\n{ROW}\n".replace(";", delimiter), encoding="utf-8")

    assert EXPECTED == list(read_absences(path))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_an_absence_csv_is_read_in_the_encodings_schools_write(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"{HEADER}\r\n{ROW}\r\n".encode(encoding))

    assert EXPECTED == list(read_absences(path))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("pupil_key date\n".encode("utf-16-le"), "NUL bytes"),
        (b"PK\x03\x04\x00\x00binary", "NUL bytes"),
        (b"pupil_key date hours\n1 2 3\n", "no `;`, `,` or tab"),
        (b"\xff\xfe\x00\xd8", "UTF-16 byte-order mark but is not UTF-16"),
    ],
    ids=["utf-16-without-bom", "spreadsheet", "no-delimiter", "broken-utf-16"],
)
def test_an_unreadable_absence_csv_is_one_named_error(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(content)

    with pytest.raises(AbsenceCsvError, match=reason):
        list(read_absences(path))

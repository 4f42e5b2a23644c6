"""The EDEXML import in memory: schema errors with what and where, quarantine, the export diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.edexml.importer import (
    StrictImportError,
    load_previous,
    plan_import,
    save_state,
    summary,
)
from adapters.edexml.reader import SAMPLE, read_pupils
from adapters.edexml.schema import EdexmlSchemaError
from ketenbus_contracts.pseudonym import SecretPseudonymiser, school_pupil_pseudonym

FIXTURE = SAMPLE
SECRET = b"s" * 32
PSEUDONYMS = SecretPseudonymiser(SECRET)  # what the pseudonym service answers


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = FIXTURE.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_reader_keeps_its_api_for_the_demo() -> None:
    assert ["00001", "00002", "12345"] == [p.key for p in read_pupils(SAMPLE)]


def test_a_bsn_failing_the_eleven_check_is_quarantined_by_pupil_key_and_the_rest_imports() -> None:
    plan = plan_import(FIXTURE, PSEUDONYMS, {})

    assert (3, 2) == (plan.pupils, len(plan.enrolments))
    assert [("00002", "BSN fails the eleven-check")] == [
        (q.pupil_key, q.reason) for q in plan.quarantined
    ]
    text = "\n".join(summary(plan))
    assert "00002" in text and "133456785" not in text and "Assati" not in text


def test_strict_refuses_a_file_with_a_quarantined_record() -> None:
    with pytest.raises(StrictImportError, match="00002"):
        plan_import(FIXTURE, PSEUDONYMS, {}, strict=True)


def test_a_file_failing_the_schema_is_refused_with_line_and_element(tmp_path: Path) -> None:
    bad = variant(tmp_path, "bad.xml", ("<bsn>133456785</bsn>", "<bsn>13345678X</bsn>"))

    with pytest.raises(EdexmlSchemaError) as refused:
        plan_import(bad, PSEUDONYMS, {})

    [issue] = refused.value.issues
    assert (102, "leerling[2]/bsn") == (issue.line, issue.place)
    assert "13345678X" not in str(refused.value)


def test_a_2_0_file_is_validated_and_imported(tmp_path: Path) -> None:
    old = variant(tmp_path, "v20.xml", ("<xsdversie>2.1</xsdversie>", "<xsdversie>2.0</xsdversie>"))

    assert "2.0" == plan_import(old, PSEUDONYMS, {}).version


def test_the_next_export_gives_enrolments_and_de_enrolments(tmp_path: Path) -> None:
    first = plan_import(FIXTURE, PSEUDONYMS, {})
    save_state(tmp_path, "bs-de-regenboog", first)
    # pupil 00001 left; a new pupil 00003 came
    second_file = variant(
        tmp_path, "second.xml", ('<leerling key="00001"', '<leerling key="00003"'),
        ('eckid="https://id.school/LL_', 'eckid="https://id.school/LX_'),
    )  # fmt: skip
    previous = load_previous(tmp_path, "bs-de-regenboog", "99ZZ")

    second = plan_import(second_file, PSEUDONYMS, previous)

    gone = school_pupil_pseudonym(SECRET, "99ZZ", "00001")
    came = school_pupil_pseudonym(SECRET, "99ZZ", "00003")
    assert ([came], [gone], 1) == (
        [e.pseudonym for e in second.enrolments], second.de_enrolments, second.unchanged
    )  # fmt: skip


def test_the_kept_export_holds_pseudonyms_only(tmp_path: Path) -> None:
    save_state(tmp_path, "bs-de-regenboog", plan_import(FIXTURE, PSEUDONYMS, {}))

    text = (tmp_path / "edexml" / "bs-de-regenboog.json").read_text()
    assert not any(clear in text for clear in ("Wimpie", "Hof", "00001", "2006-06-21"))
    assert 2 == len(json.loads(text)["keys"])


def test_what_the_import_asks_the_pseudonym_service_is_all_it_looks_up() -> None:
    from adapters.edexml.importer import pseudonyms_needed
    from adapters.edexml.schema import validate
    from ketenbus_contracts.pseudonym import ChildBsn, PseudonymResult
    from ketenbus_partner.pseudonyms import ResolvedPseudonyms

    _, tree = validate(FIXTURE)
    answered = ResolvedPseudonyms(
        {
            asked: PseudonymResult(
                pseudonym=PSEUDONYMS.child(asked.bsn)
                if isinstance(asked, ChildBsn)
                else PSEUDONYMS.pupil(asked.brin, asked.pupil_key)
            )
            for asked in pseudonyms_needed(tree.getroot())
        }
    )

    assert plan_import(FIXTURE, PSEUDONYMS, {}).keys == plan_import(FIXTURE, answered, {}).keys

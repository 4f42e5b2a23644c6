"""docs/domain.md names, for each rule, the test named after it: those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Passend onderwijs and the warm handover"


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following != -1 else len(text)]


def named_tests(doc: str) -> set[str]:
    return set(re.findall(r"`(test_[a-z0-9_]+)`", doc))


def defined_tests() -> set[str]:
    return {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(
            r"^\s*(?:async )?def (test_[a-z0-9_]+)\(", path.read_text(encoding="utf-8"), re.M
        )
    }


def domain_doc() -> str:
    return (ROOT / "docs" / "domain.md").read_text(encoding="utf-8")


def test_every_passend_onderwijs_rule_names_a_test_that_exists() -> None:
    named = named_tests(section(domain_doc(), SECTION))

    assert 20 <= len(named)
    assert set() == named - defined_tests()


def test_every_rule_on_the_page_names_a_test_that_exists() -> None:
    named = named_tests(domain_doc())

    assert 100 <= len(named)
    assert set() == named - defined_tests()

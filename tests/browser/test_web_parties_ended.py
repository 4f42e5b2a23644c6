"""A party whose part in the plan ended (it left, or the last relation it took part by ended)
is no longer listed as taking part, in a real headless Chromium: the parents' page shows it
apart as no longer involved, with the day it ended, and the plan shows it as ended with that
day; what it shared stays on the plan."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.browser.site import ARTIFACTS, CHROMIUM, Site, log_in
from tests.events import CHILD, PARENT, SCHOOL, WIJKTEAM, left
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]
SCHOOL_NAME = "Basisschool De Regenboog"


@pytest.fixture(scope="module")
def school_left(wijkteam: Site) -> Site:
    """The wijkteam (regie) records that the school no longer takes part, on 22 November."""
    wijkteam.portal.app.apply(left(WIJKTEAM, SCHOOL, date(2026, 11, 22)))
    return wijkteam


def test_the_parents_page_lists_an_ended_party_apart_with_its_date(
    school_left: Site, page: Any
) -> None:
    log_in(page, f"{school_left.url}/ouders/{CHILD}", PARENT)
    page.screenshot(path=str(ARTIFACTS / "ouders-niet-meer-betrokken.png"), full_page=True)
    taking_part = page.locator("table", has_text="Betrokken organisaties").inner_text()
    ended = page.locator("table", has_text="Niet meer betrokken").inner_text()

    assert SCHOOL_NAME not in taking_part
    assert "Sociaal Team Lingewaard" in taking_part
    assert SCHOOL_NAME in ended and "22 november 2026" in ended


def test_the_plan_shows_an_ended_party_as_ended_with_its_date(school_left: Site, page: Any) -> None:
    log_in(page, f"{school_left.url}/plan/{CHILD}", "consulent-wijkteam")
    row = page.locator("#betrokkenen + table tr", has_text=SCHOOL_NAME).inner_text()
    choices = page.get_by_role("form", name="Actie afspreken").get_by_label("Wie doet het")

    assert "niet meer betrokken sinds 22 november 2026" in row
    assert 0 == choices.locator("option", has_text=SCHOOL_NAME).count()

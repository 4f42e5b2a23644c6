"""The web pages in a real headless Chromium (Debian's), driven by Playwright.

The pages run on uvicorn on 127.0.0.1 against an in-memory plan and a stand-in keyring (the
pages are what is tested here; the real portal over NATS is in tests/integration); the browser
logs in at a real OpenID provider first (tests/oidc). Screenshots go to test-artifacts/ for a
person to look at.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.site import ARTIFACTS, CARE, CHROMIUM, KID, PUPIL, Site, log_in
from tests.events import CHILD
from tests.oidc import available
from tests.oidc import log_in as http_log_in

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


@pytest.fixture
def site(wijkteam: Site, page: Any) -> str:
    log_in(page, f"{wijkteam.url}/werklijst", "consulent-wijkteam")
    return wijkteam.url


@pytest.fixture
def school_site(school: Site, page: Any) -> str:
    log_in(page, f"{school.url}/werklijst", "ib-regenboog")
    return school.url


def visit(page: Any, url: str, screenshot: str = "") -> str:
    """Open `url`; the text of its main content (and a screenshot for a person to look at)."""
    page.goto(url)
    if screenshot:
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    return str(page.locator("main").inner_text())


def test_the_worklist_shows_the_access_team_what_to_pick_up(site: str, page: Any) -> None:
    page.goto(f"{site}/werklijst")
    page.screenshot(path=str(ARTIFACTS / "werklijst.png"), full_page=True)

    assert "nl" == page.locator("html").get_attribute("lang")
    assert "Werklijst van Sociaal Team Lingewaard" == page.locator("h1").inner_text()
    rows = page.locator("tbody tr")
    assert 2 == rows.count()
    assert "Actie over datum" in rows.nth(0).inner_text()
    assert "4 dagen over datum" in rows.nth(0).inner_text()
    assert "Actie binnenkort" in rows.nth(1).inner_text()
    page.get_by_role("link", name="Plan van kind").first.click()
    assert page.url.endswith(f"/plan/{CHILD}")


def test_a_childs_plan_shows_who_does_what_and_the_timeline(site: str, page: Any) -> None:
    page.goto(f"{site}/plan/{CHILD}")
    page.screenshot(path=str(ARTIFACTS / "plan.png"), full_page=True)

    body = page.locator("main").inner_text()
    assert "Lotte gaat weer elke dag naar school." in body
    assert "Huisbezoek over slapen en eten" in body
    assert "Over datum" in body
    assert "Gesprek op 2 december." in body
    # A section the reader's keys do not open says so; a signal's concern is not even offered
    # to the wijkteam sealed (Jeugdwet afdeling 7.1: it stays with its signaller).
    assert 1 == body.count("versleuteld, u mag dit niet inzien")
    assert "Afspraken" in body and "Elke maand" not in body
    actions = page.get_by_role("table", name="Wie doet wat, en koppelt terug aan wie, wanneer")
    assert 4 == actions.locator("tbody tr").count()  # one of them the parent's
    timeline = page.locator("ol.timeline li")
    # The signals and the match are not the wijkteam's to see (the match did not notify it).
    assert "zorgsignaal" not in body
    assert "actie afgesproken" in timeline.first.inner_text()
    assert 10 == timeline.count()  # thirteen less two signals and the match


def test_parents_see_what_is_shared_and_with_whom_but_not_the_content(site: str, page: Any) -> None:
    body = visit(page, f"{site}/ouders/{CHILD}", "ouders.png")
    table = page.get_by_role("table", name="Betrokken organisaties")
    assert 4 == table.locator("tbody tr").count()  # the parent's account too
    assert "Basisschool De Regenboog" in body
    assert "Plan: doelen, afspraken en acties" in body
    assert "Lotte" not in body
    assert "Huisbezoek" not in body


def test_an_unknown_child_gets_a_plain_not_found_page(site: str, page: Any) -> None:
    response = page.goto(f"{site}/plan/{'d' * 32}")

    assert 404 == response.status
    assert "Niet gevonden" == page.locator("h1").inner_text()


def test_the_schools_worklist_shows_a_stalled_handover_and_a_thuiszitter_escalation(
    school_site: str, page: Any
) -> None:
    page.goto(f"{school_site}/werklijst")
    page.screenshot(path=str(ARTIFACTS / "werklijst-school.png"), full_page=True)

    rows = page.locator("tbody tr")
    mine = [
        rows.nth(i).inner_text() for i in range(rows.count()) if KID[:8] in rows.nth(i).inner_text()
    ]
    assert 2 == len(mine)
    assert "Thuiszitter: escalatie" in mine[0] and "84 dagen thuis" in mine[0]
    assert "Overdracht stokt" in mine[1] and "opgeschaald (niveau 2)" in mine[1]
    assert "14 dagen over datum" in mine[1]


def test_a_childs_plan_shows_handovers_arrangements_and_attendance(site: str, page: Any) -> None:
    body = visit(page, f"{site}/plan/{KID}", "plan-domeinen.png")
    handovers = page.get_by_role("table", name="Overdrachten naar een volgende school of opvang")
    assert 1 == handovers.locator("tbody tr").count()
    assert "PO → VO" in handovers.inner_text() and "loopt" in handovers.inner_text()
    assert "Onderwijs-zorgarrangement" in body
    assert "Geschil: voorgelegd aan doorzettingsmacht" in body
    assert "samenwerkingsverband 60%, gemeente 40%" in body
    assert CARE in body  # the wijkteam opens the youth-care section
    assert "Stand: Thuiszitter" in body
    assert "overdracht over datum: opgeschaald" in page.locator("ol.timeline").inner_text()


def test_parents_see_the_kinds_of_information_from_every_domain_but_not_the_content(
    site: str, page: Any
) -> None:
    body = visit(page, f"{site}/ouders/{KID}")
    assert "Overdracht naar een nieuwe school of opvang" in body
    assert "Jeugdhulp" in body
    assert "Inschrijving en aanwezigheid op school (leerplicht)" in body
    assert CARE not in body


def test_a_parent_logs_in_and_sees_who_takes_part_what_kinds_and_their_own_action(
    wijkteam: Site, page: Any
) -> None:
    log_in(page, f"{wijkteam.url}/ouders/{CHILD}", "ouder-demo-0001")
    page.screenshot(path=str(ARTIFACTS / "ouders-ouder.png"), full_page=True)
    body = page.locator("main").inner_text()

    assert "Ingelogd als Ouder" in page.locator("header").inner_text()
    # The school, the wijkteam and the parent; the JGZ is on the plan by its signal alone.
    parties = page.get_by_role("table", name="Betrokken organisaties").locator("tbody tr")
    assert 3 == parties.count()
    mine = page.get_by_role("table", name="Wat u doet of waarover u hoort").locator("tbody tr")
    assert 1 == mine.count()
    assert "U" == mine.first.locator("td").first.inner_text()
    assert "Sociaal Team Lingewaard" in mine.first.inner_text()
    assert "15 januari 2027" in mine.first.inner_text()
    # Content stays sealed; signals stay with their signallers.
    assert "Slaapdagboek" not in body and "Lotte" not in body and "zorgsignaal" not in body

    # Another child, not linked to this parent: nothing, not even that there is a plan.
    response = page.goto(f"{wijkteam.url}/ouders/{KID}")
    assert 404 == response.status


def test_the_schools_worklist_names_the_child_with_its_date_of_birth(
    school: Site, school_site: str, page: Any
) -> None:
    before = len(school.records.records)
    page.goto(f"{school_site}/werklijst")
    page.screenshot(path=str(ARTIFACTS / "werklijst-namen.png"), full_page=True)

    rows = page.locator("tbody tr").filter(has_text=PUPIL)
    assert 2 == rows.count()
    assert "geboren 3 mei 2014" in rows.first.inner_text()
    # Each name opened is a processing record naming the person.
    opened = [r for r in school.records.records[before:] if r.operation == "identity-read"]
    assert [KID] == [r.data_subject for r in opened] and opened[0].employee


def test_a_function_without_identity_sees_no_names_on_the_worklist(school: Site) -> None:
    with httpx.Client(timeout=30) as http:
        shown = http_log_in(http, f"{school.url}/werklijst", "admin-wijkteam")

    assert 200 == shown.status_code
    assert PUPIL not in shown.text and KID[:8] in shown.text

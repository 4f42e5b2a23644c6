"""A parent's objection (bezwaar, AVG art. 21), in a real headless Chromium at a real OpenID
provider: the parent records it on their page (as their own account, the person's pseudonymous
id in it), the organisation objected to finds it on its werklijst, decides, and the parent sees
the decision. The attacks closed: an objection for a child the parent is not linked to, one
without the session's CSRF token, a professional posting as the parents, and a function that
may not decide."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ketenbus_contracts.plan import ObjectionDecided, ObjectionRecorded
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD, PARENT, WIJKTEAM
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


def sent(site: Site, kind: type) -> list[Any]:
    return [e for e in site.portal.published if isinstance(e, kind)]


def test_a_parent_objects_the_organisation_decides_and_the_parent_sees_it(
    wijkteam: Site, page: Any
) -> None:
    site = wijkteam
    log_in(page, f"{site.url}/ouders/{CHILD}", "ouder-demo-0001")
    page.get_by_role("link", name="Maak bezwaar").click()
    page.get_by_label("Tegen welke organisatie").select_option(label="Sociaal Team Lingewaard")
    page.get_by_label("Tegen het gebruik van welke gegevens").select_option(value="plan")
    page.get_by_role("button", name="Bezwaar maken").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-bezwaar-gemaakt.png"), full_page=True)
    made = page.locator("main").inner_text()

    professional = page.context.browser.new_page(locale="nl-NL")
    log_in(professional, f"{site.url}/werklijst", "consulent-wijkteam")
    professional.get_by_role("link", name="beslissen").click()
    professional.get_by_role("button", name="Afwijzen").click()
    professional.screenshot(path=str(ARTIFACTS / "bezwaar-beslist.png"), full_page=True)
    decided = professional.locator("main").inner_text()
    page.reload()
    page.screenshot(path=str(ARTIFACTS / "ouders-bezwaar-besluit.png"), full_page=True)
    seen = page.locator("main").inner_text()

    assert "Uw bezwaar is verstuurd." in made and "in behandeling" in made
    assert "Het besluit is verstuurd" in decided and "afgewezen" in decided
    assert "afgewezen op 24 november 2026" in seen
    [objected] = sent(site, ObjectionRecorded)
    [decision] = sent(site, ObjectionDecided)
    assert (PARENT, CHILD, WIJKTEAM.partner, "plan") == (
        objected.source,
        objected.subject,
        objected.data.partner,
        objected.data.purpose.value,
    )
    assert (WIJKTEAM.partner, PARENT, "rejected") == (
        decision.source,
        decision.data.partner,
        decision.data.decision,
    )
    for event in (objected, decision):
        assert re.fullmatch(r"mw-[0-9a-f]{24}", event.ketenbusactor or "")
    assert objected.ketenbusactor != decision.ketenbusactor


def test_an_objection_for_another_child_or_without_csrf_is_refused(
    wijkteam: Site, page: Any
) -> None:
    site = wijkteam
    before = len(site.portal.published)
    log_in(page, f"{site.url}/ouders/{CHILD}/bezwaar", "ouder-demo-0001")
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    form = {"organisatie": WIJKTEAM.partner, "doel": "plan"}

    other = page.request.post(
        f"{site.url}/ouders/{KID}/bezwaar", form=form | {"csrf": token}, max_redirects=0
    )
    missing = page.request.post(f"{site.url}/ouders/{CHILD}/bezwaar", form=form, max_redirects=0)
    unknown = page.request.post(
        f"{site.url}/ouders/{CHILD}/bezwaar",
        form=form | {"csrf": token, "organisatie": "leerplicht-lingewaard"},
        max_redirects=0,
    )

    assert (404, 400, 400) == (other.status, missing.status, unknown.status)
    assert before == len(site.portal.published)


def test_a_professional_cannot_object_as_the_parents_nor_decide_without_the_function(
    wijkteam: Site, page: Any
) -> None:
    site = wijkteam
    before = len(site.portal.published)
    log_in(page, f"{site.url}/werklijst", "mentor-wijkteam")

    as_parent = page.request.post(
        f"{site.url}/ouders/{CHILD}/bezwaar",
        form={"organisatie": WIJKTEAM.partner, "doel": "plan", "csrf": ""},
        max_redirects=0,
    )
    decide = page.goto(f"{site.url}/plan/{CHILD}/bezwaren")

    assert (303, 403) == (as_parent.status, decide.status)
    assert before == len(site.portal.published)

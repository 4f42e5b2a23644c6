"""The parents give and withdraw their consent on a handover from their own page, in a real
headless Chromium, logged in at a real OpenID provider (acr substantieel): each answer is an
event of the parent's own account with the person's pseudonymous id in it, never a name. The
attacks closed: a parent posting for a child they are not linked to, a post without the
session's CSRF token, a login below substantieel, a professional's session."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

import demo.arrangements as ev
from ketenbus_contracts.arrangements import HandelingsdeelConsented
from ketenbus_contracts.handover import ConsentRecorded, ConsentWithdrawn
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD, PARENT, handover_started, parents_viewed
from tests.oidc import PASSWORD, available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]

CHILDCARE = "kdv-het-speelhuis"


@pytest.fixture(scope="module")
def with_consent(wijkteam: Site) -> Site:
    """A childcare → primary handover of each child (consent: AVG art. 6 lid 1 sub a), the
    parents' view of the dossier recorded by the childcare."""
    for child in (CHILD, KID):
        started = handover_started(
            date(2027, 8, 1), date(2027, 3, 1), child, transition="ko-po", sender=CHILDCARE
        )
        wijkteam.portal.app.apply(started)
        wijkteam.portal.app.apply(parents_viewed(started, date(2027, 3, 5)))
    return wijkteam


def handover_of(site: Site, child: str) -> str:
    [handover] = [
        h["handover_id"]
        for h in site.portal.app.plan_of(child)["handovers"]
        if h.get("transition") == "ko-po"
    ]
    return str(handover)


def post(page: Any, site: Site, child: str, form: dict[str, str]) -> Any:
    """The consent form posted as the browser's session would, not following a redirect."""
    url = f"{site.url}/ouders/{child}/toestemming/{handover_of(site, child)}"
    return page.request.post(url, form=form, max_redirects=0)


def sent(site: Site, kind: type) -> list[Any]:
    return [e for e in site.portal.published if isinstance(e, kind)]


def test_a_parent_gives_and_withdraws_consent_as_their_own_account(
    with_consent: Site, page: Any
) -> None:
    site = with_consent
    log_in(page, f"{site.url}/ouders/{CHILD}", "ouder-demo-0001")
    page.get_by_role("link", name="toestemming geven of intrekken").click()
    page.get_by_role("button", name="Ik geef toestemming").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-toestemming-gegeven.png"), full_page=True)
    given = page.locator("main").inner_text()
    page.get_by_role("button", name="Toestemming intrekken").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-toestemming-ingetrokken.png"), full_page=True)
    withdrawn = page.locator("main").inner_text()

    assert "Uw toestemming is gegeven." in given and "Toestemming: gegeven op" in given
    assert "Uw toestemming is ingetrokken." in withdrawn
    assert "Toestemming: ingetrokken op" in withdrawn
    [consent] = sent(site, ConsentRecorded)
    [withdrawal] = sent(site, ConsentWithdrawn)
    handover = handover_of(site, CHILD)
    for event in (consent, withdrawal):
        assert (PARENT, CHILD, handover) == (
            event.source,
            event.subject,
            str(event.data.handover_id),
        )
        assert re.fullmatch(r"mw-[0-9a-f]{24}", event.ketenbusactor or "")
        assert "parents" == event.data.given_by
    assert consent.data.granted
    acts = [r for r in site.records.records if r.operation == "action-taken"]
    assert [(PARENT, CHILD, "handover")] * 2 == [
        (r.requester, r.data_subject, r.purpose.value) for r in acts
    ]


def test_a_parent_cannot_answer_for_a_child_they_are_not_linked_to(
    with_consent: Site, page: Any
) -> None:
    site = with_consent
    before = len(site.portal.published)
    log_in(page, f"{site.url}/ouders/{CHILD}/toestemming", "ouder-demo-0001")
    token = page.locator("input[name=csrf]").first.get_attribute("value")

    response = post(page, site, KID, {"keuze": "geven", "csrf": token or ""})
    page_response = page.goto(f"{site.url}/ouders/{KID}/toestemming")

    assert (404, 404) == (response.status, page_response.status)
    assert before == len(site.portal.published)


def test_a_consent_without_the_sessions_csrf_token_is_refused(
    with_consent: Site, page: Any
) -> None:
    site = with_consent
    before = len(site.portal.published)
    log_in(page, f"{site.url}/ouders/{CHILD}/toestemming", "ouder-demo-0001")

    missing = post(page, site, CHILD, {"keuze": "geven"})
    forged = post(page, site, CHILD, {"keuze": "geven", "csrf": "x" * 43})

    assert (400, 400) == (missing.status, forged.status)
    assert before == len(site.portal.published)


def test_a_login_below_substantieel_gets_no_session_to_consent_with(
    with_consent: Site, page: Any
) -> None:
    site = with_consent
    before = len(site.portal.published)
    page.goto(f"{site.url}/ouders/{CHILD}/toestemming")
    page.get_by_label("Gebruikersnaam").fill("ouder-basis")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
    refused = page.locator("main").inner_text()

    response = post(page, site, CHILD, {"keuze": "geven", "csrf": ""})

    assert "Inloggen mislukt" in refused
    assert (303, "/ouders/inloggen?") == (
        response.status,
        response.headers["location"][: len("/ouders/inloggen?")],
    )
    assert before == len(site.portal.published)


def test_a_professional_cannot_give_the_parents_consent(with_consent: Site, page: Any) -> None:
    site = with_consent
    before = len(site.portal.published)
    log_in(page, f"{site.url}/werklijst", "consulent-wijkteam")

    response = post(page, site, CHILD, {"keuze": "geven", "csrf": ""})

    assert 303 == response.status
    assert before == len(site.portal.published)


def test_a_parent_agrees_with_the_opps_handelingsdeel_as_their_own_account(
    with_consent: Site, page: Any
) -> None:
    site = with_consent
    opps = {}
    for child in (CHILD, KID):
        opp = ev.opp(child, date(2026, 11, 20), [date(2027, 2, 1)], consent="pending")
        site.portal.app.apply(opp)
        opps[child] = opp.data.opp_id
    log_in(page, f"{site.url}/ouders/{CHILD}/toestemming", "ouder-demo-0001")
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    page.get_by_role("button", name="Ik stem in met het handelingsdeel").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-handelingsdeel.png"), full_page=True)
    text = page.locator("main").inner_text()
    other = page.request.post(
        f"{site.url}/ouders/{KID}/handelingsdeel/{opps[KID]}",
        form={"keuze": "instemmen", "csrf": token},
        max_redirects=0,
    )

    assert "Uw instemming met het handelingsdeel: ingestemd." in text
    [answer] = sent(site, HandelingsdeelConsented)
    assert (PARENT, CHILD, opps[CHILD], True) == (
        answer.source,
        answer.subject,
        answer.data.opp_id,
        answer.data.granted,
    )
    assert re.fullmatch(r"mw-[0-9a-f]{24}", answer.ketenbusactor or "")
    assert 404 == other.status

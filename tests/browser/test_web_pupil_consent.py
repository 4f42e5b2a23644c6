"""The pupil from 16 gives and withdraws their own consent on a handover from the same page as
the parents, in a real headless Chromium, logged in at a real OpenID provider (acr
substantieel) as their own account (role pupil) the school linked to their record: each answer
is the pupil's (`given_by: pupil`) as that account. Where the pupil is under 16 the page offers
the pupil nothing and says the parents decide; the parents get no form where the pupil decides.
The pupil records an objection as the parents can, and the pages say "u" and "uw gegevens" to
them, never "uw kind". The attacks closed: the pupil's account posting on the handover where the
parents decide, and opening another child's pages."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ketenbus_contracts.handover import ConsentRecorded, ConsentWithdrawn
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.browser.test_web_parents_consent import sent
from tests.events import (
    CHILD,
    PO,
    PUPIL,
    dossier_prepared,
    handover_started,
    parent_linked,
    parents_viewed,
)
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


@pytest.fixture(scope="module")
def with_pupil(wijkteam: Site) -> Site:
    """The school links the pupil's own account; two handovers that go only with consent
    (vo-so), one where the pupil (16) decides, one where the parents do."""
    wijkteam.portal.app.apply(parent_linked(PO, PUPIL, consent_on=date(2026, 9, 1)))
    for pupil_decides in (True, False):
        started = handover_started(date(2027, 8, 1), date(2027, 3, 1), CHILD, transition="vo-so")
        started = started.model_copy(
            update={"data": started.data.model_copy(update={"pupil_decides": pupil_decides})}
        )
        wijkteam.portal.app.apply(started)
        about = {"leerling": "test:" + json.dumps({"text": "Profiel"})}
        wijkteam.portal.app.apply(dossier_prepared(started, date(2027, 3, 2), about))
        wijkteam.portal.app.apply(parents_viewed(started, date(2027, 3, 5)))
    return wijkteam


def handover_of(site: Site, pupil_decides: bool) -> str:
    [handover] = [
        h["handover_id"]
        for h in site.portal.app.plan_of(CHILD)["handovers"]
        if h.get("transition") == "vo-so" and bool(h.get("pupil_decides")) is pupil_decides
    ]
    return str(handover)


def test_the_pupil_gives_and_withdraws_their_own_consent(with_pupil: Site, page: Any) -> None:
    site = with_pupil
    log_in(page, f"{site.url}/ouders/{CHILD}/toestemming", PUPIL)
    shown = page.locator("main").inner_text()
    page.get_by_role("button", name="Ik geef toestemming").click()
    page.screenshot(path=str(ARTIFACTS / "leerling-toestemming-gegeven.png"), full_page=True)
    given = page.locator("main").inner_text()
    page.get_by_role("button", name="Toestemming intrekken").click()
    withdrawn = page.locator("main").inner_text()

    assert "Voor deze overdracht geven uw ouders toestemming" in shown
    assert "Toestemming: gegeven op" in given
    assert "Toestemming: ingetrokken op" in withdrawn
    [consent] = sent(site, ConsentRecorded)
    [withdrawal] = sent(site, ConsentWithdrawn)
    for event in (consent, withdrawal):
        assert (PUPIL, CHILD, handover_of(site, True), "pupil") == (
            event.source,
            event.subject,
            str(event.data.handover_id),
            event.data.given_by,
        )


def test_the_pupil_cannot_answer_where_the_parents_decide(with_pupil: Site, page: Any) -> None:
    site = with_pupil
    before = len(site.portal.published)
    log_in(page, f"{site.url}/ouders/{CHILD}/toestemming", PUPIL)
    token = page.locator("input[name=csrf]").first.get_attribute("value")

    url = f"{site.url}/ouders/{CHILD}/toestemming/{handover_of(site, False)}"
    response = page.request.post(url, form={"keuze": "geven", "csrf": token or ""})

    assert 400 == response.status
    assert before == len(site.portal.published)


def test_the_pupil_records_an_objection_as_parents_can(with_pupil: Site, page: Any) -> None:
    site = with_pupil
    before = len(site.portal.published)
    log_in(page, f"{site.url}/ouders/{CHILD}/bezwaar", PUPIL)
    shown = page.locator("main").inner_text()
    form = page.locator("form.formulier")
    form.get_by_label("Tegen welke organisatie").select_option(label="Sociaal Team Lingewaard")
    form.get_by_role("button", name="Bezwaar maken").click()
    page.wait_for_url(f"{site.url}/ouders/{CHILD}/bezwaar?verstuurd=bezwaar")
    page.screenshot(path=str(ARTIFACTS / "leerling-bezwaar.png"), full_page=True)

    assert "uw gegevens gebruikt" in shown and "uw kind" not in shown
    [event] = site.portal.published[before:]
    assert (PUPIL, PUPIL, CHILD, "wijkteam-lingewaard") == (
        event.source,
        event.data.parent,
        event.subject,
        event.data.partner,
    )
    [objection] = [o for o in site.portal.app.plan_of(CHILD)["objections"] if o["parent"] == PUPIL]
    assert "wijkteam-lingewaard" == objection["partner"]


def test_the_pupils_pages_say_u_and_uw_gegevens_not_uw_kind(with_pupil: Site, page: Any) -> None:
    site = with_pupil
    log_in(page, f"{site.url}/ouders", PUPIL)
    home = page.locator("body").inner_text()
    page.get_by_role("link", name="Uw gegevens, gekoppeld door Basisschool De Regenboog").click()
    shared = page.locator("body").inner_text()
    page.goto(f"{site.url}/ouders/{CHILD}/toestemming")
    consent = page.locator("body").inner_text()
    page.goto(f"{site.url}/ouders/{CHILD}/overdrachtsdossier")
    dossier = page.locator("body").inner_text()
    page.screenshot(path=str(ARTIFACTS / "leerling-gegevens.png"), full_page=True)

    assert "De school of de gemeente heeft uw account aan uw eigen gegevens gekoppeld." in home
    assert "Wat er over u gedeeld is, en met wie" in shared
    assert "Hier ziet u welke organisaties bij u betrokken zijn" in shared
    assert (
        "Voor deze overdracht geven uw ouders toestemming: u beslist zelf vanaf 16 jaar." in consent
    )
    unwanted = ("uw kind", "Uw kind", "Ouderinzage", " je ", " jij ")
    assert "Uw overdrachtsdossier" in dossier and "Over u" in dossier
    assert [] == [w for text in (home, shared, consent, dossier) for w in unwanted if w in text]


def test_the_pupil_cannot_see_another_childs_page(with_pupil: Site, page: Any) -> None:
    site = with_pupil
    log_in(page, f"{site.url}/ouders/{CHILD}", PUPIL)

    pages = [f"/ouders/{KID}", f"/ouders/{KID}/toestemming", f"/ouders/{KID}/bezwaar"]
    statuses = [page.goto(f"{site.url}{path}").status for path in pages]
    dossier = page.goto(f"{site.url}/ouders/{KID}/overdrachtsdossier")

    assert [404, 404, 404] == statuses
    assert 404 == dossier.status
    assert PUPIL not in site.portal.app.parents_of(KID)

"""The exemption form in a real Chromium, as the law has it: only the leerplicht of the
municipality where the child lives grants an exemption (Leerplichtwet art. 6; the residence
from the population feed, on the plan), and an art. 7 statement that the child will never be fit
to attend a school ("niet geschikt", art. 5 onder a) frees it from the yearly renewal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import resident_registered
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


def grant(page: Any, article: str, **fields: str) -> None:
    form = page.get_by_role("form", name="Vrijstelling verlenen")
    form.get_by_label("Artikel (Leerplichtwet)").select_option(article)
    form.get_by_label("Ingangsdatum").fill("2026-12-01")
    for label, value in fields.items():
        field = form.get_by_label(label, exact=False)
        if value == "aan":
            field.check()
        elif label.startswith("Verklaring art. 7"):
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Vrijstelling verlenen").click()


def test_only_the_leerplicht_where_the_child_lives_grants_and_never_fit_is_not_renewed(
    leerplicht: Site, page: Any
) -> None:
    url = f"{leerplicht.url}/plan/{KID}"
    # The population feed: the child lives in a municipality of another leerplicht.
    leerplicht.portal.app.apply(resident_registered("gemeente-overbetuwe", date(2026, 9, 1), KID))
    log_in(page, url, "lpa-lingewaard")
    before = len(leerplicht.portal.published)
    grant(page, "5b")
    elsewhere = page.locator("main > .fouten").inner_text()
    page.screenshot(path=str(ARTIFACTS / "vrijstelling-woongemeente.png"), full_page=True)
    published = len(leerplicht.portal.published)

    # The child moves to Lingewaard: its leerplicht grants, the statement says never fit.
    leerplicht.portal.app.apply(resident_registered("gemeente-lingewaard", date(2026, 11, 20), KID))
    page.goto(url)
    grant(
        page,
        "5a",
        **{
            "Einddatum": "2030-07-31",
            "Verklaring art. 7 gegeven door": "arts",
            "Datum van de verklaring": "2026-11-20",
            "Niet geschikt": "aan",
        },
    )
    page.wait_for_url(f"{url}?verstuurd=vrijstelling")
    page.screenshot(path=str(ARTIFACTS / "vrijstelling-niet-geschikt.png"), full_page=True)

    assert (
        "Alleen de leerplicht van de gemeente waar het kind woont, verleent een vrijstelling "
        "(Leerplichtwet art. 6)."
    ) in elsewhere
    assert before == published
    event = leerplicht.portal.published[-1]
    statement = event.data.statement
    assert ("5a", date(2030, 7, 31)) == (event.data.article, event.data.valid_until)
    assert statement is not None and statement.never_fit
    assert "De vrijstelling is verwerkt." == page.get_by_role("status").inner_text().strip()
    assert "Woont in Gemeente Lingewaard" in page.locator("main").inner_text()

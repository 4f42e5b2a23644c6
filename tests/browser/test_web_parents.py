"""The parents' pages in a real headless Chromium, logged in at a real OpenID provider: the
children a school or the municipality linked the parent to, and the handover dossier in Dutch
(labels, never codes), a dossier prepared before its sections travelled sealed shown as not
available for inzage."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD, dossier_prepared, dossier_prepared_v1, handover_started
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


def test_a_parent_sees_the_children_they_are_linked_to_and_no_other(
    wijkteam: Site, page: Any
) -> None:
    log_in(page, f"{wijkteam.url}/ouders", "ouder-demo-0001")
    page.screenshot(path=str(ARTIFACTS / "ouders-kinderen.png"), full_page=True)
    links = page.locator("main a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    text = page.locator("main").inner_text()

    assert [f"/ouders/{CHILD}"] == links
    assert KID not in page.content()
    assert "Kind gekoppeld door Basisschool De Regenboog (sinds 1 september 2026)" in text
    page.get_by_role("link", name="Kind gekoppeld door Basisschool De Regenboog").click()
    assert page.url.endswith(f"/ouders/{CHILD}")


def test_a_parent_who_is_linked_to_no_child_is_told_so(wijkteam: Site, page: Any) -> None:
    log_in(page, f"{wijkteam.url}/ouders", "ouder-demo-0001")
    original = wijkteam.portal.linked_children

    async def none(parent: str) -> list[dict[str, Any]]:
        return []

    wijkteam.portal.linked_children = none  # type: ignore[method-assign]
    try:
        page.reload()
        text = page.locator("main").inner_text()
    finally:
        wijkteam.portal.linked_children = original  # type: ignore[method-assign]

    assert "Uw account is nog niet aan een kind gekoppeld." in text


def test_the_dossier_shows_dutch_labels_and_a_v1_dossier_as_not_available_for_inzage(
    wijkteam: Site, page: Any
) -> None:
    app = wijkteam.portal.app
    opened = "test:" + json.dumps({"what_helps": "Vaste structuur", "vve_programme": "Piramide"})
    sealed = handover_started(date(2027, 8, 1), date(2027, 3, 1))
    app.apply(sealed)
    app.apply(dossier_prepared(sealed, date(2027, 3, 2), {"early-education": opened}, "OPT-UIT"))
    old = handover_started(date(2027, 8, 1), date(2027, 2, 1))
    app.apply(old)
    app.apply(dossier_prepared_v1(old, date(2027, 2, 2)))

    log_in(page, f"{wijkteam.url}/ouders/{CHILD}/overdrachtsdossier", "ouder-demo-0001")
    page.screenshot(path=str(ARTIFACTS / "ouders-dossier-labels.png"), full_page=True)
    text = page.locator("main").inner_text()

    assert "Overdracht van de opvang (ontwikkeling, VVE) (gaat mee, tenzij u bezwaar maakt)" in text
    assert "Wat helpt bij dit kind" in text and "VVE-programma" in text
    assert "Overstap: basisschool → voortgezet onderwijs." in text
    assert "niet beschikbaar voor inzage" in text
    assert [] == [c for c in ("early-education", "what_helps", "OPT-UIT", "po-vo") if c in text]

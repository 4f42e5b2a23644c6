"""The parents' inzage of the handover dossier before it goes, in a real headless Chromium:
the linked parent logged in at a real OpenID provider opens it (with the parent account's
keys; a stand-in keyring here, kluis in tests/integration) and downloads a copy; each read is
a processing record naming the parent. The attacks closed: a parent not linked to the child
and an organisation's professional get nothing of it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD, PARENT, dossier_prepared, handover_started
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]

LEERLING = "test:" + json.dumps({"text": "Lotte leest graag; rekenen gaat met extra uitleg."})


@pytest.fixture(scope="module")
def with_dossier(wijkteam: Site) -> Site:
    for child in (CHILD, KID):
        started = handover_started(date(2027, 8, 1), date(2027, 3, 1), child=child)
        wijkteam.portal.app.apply(started)
        wijkteam.portal.app.apply(
            dossier_prepared(started, date(2027, 3, 2), {"leerling": LEERLING})
        )
    return wijkteam


def test_a_linked_parent_sees_the_dossier_before_it_goes_and_downloads_a_copy(
    with_dossier: Site, page: Any
) -> None:
    site = with_dossier
    log_in(page, f"{site.url}/ouders/{CHILD}", "ouder-demo-0001")
    page.get_by_role("link", name="bekijk het voordat het gaat").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-dossier.png"), full_page=True)
    body = page.locator("main").inner_text()

    assert page.url.endswith(f"/ouders/{CHILD}/overdrachtsdossier")
    assert "Lotte leest graag; rekenen gaat met extra uitleg." in body
    with page.expect_download() as download:
        page.get_by_role("link", name="Download een kopie (JSON)").click()
    copy = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert "overdrachtsdossier.json" == download.value.suggested_filename
    assert [{"text": "Lotte leest graag; rekenen gaat met extra uitleg."}] == [
        s["opened"] for s in copy[0]["sections"]
    ]
    reads = [r for r in site.records.records if r.operation == "dossier-read"]
    assert [(PARENT, CHILD, "released", "handover")] * 2 == [
        (r.requester, r.data_subject, r.decision.value, r.purpose.value) for r in reads
    ]


def test_a_parent_not_linked_to_the_child_gets_nothing_of_its_dossier(
    with_dossier: Site, page: Any
) -> None:
    log_in(page, f"{with_dossier.url}/ouders/{CHILD}", "ouder-demo-0001")

    for path in ("overdrachtsdossier", "overdrachtsdossier/kopie"):
        response = page.goto(f"{with_dossier.url}/ouders/{KID}/{path}")
        assert (404, False) == (response.status, "Lotte" in response.text())


def test_a_professional_gets_no_dossier_through_the_parents_pages(
    with_dossier: Site, page: Any
) -> None:
    log_in(page, f"{with_dossier.url}/werklijst", "consulent-wijkteam")

    for path in ("overdrachtsdossier", "overdrachtsdossier/kopie"):
        url = f"{with_dossier.url}/ouders/{CHILD}/{path}"
        response = page.request.get(url, max_redirects=0)
        # Sent to the parents' login (DigiD-like), the dossier unread.
        location = response.headers["location"]
        assert (303, True) == (response.status, location.startswith("/ouders/inloggen?"))

"""Canary: a child's name and date of birth that the handover dossier carries are shown to the
linked parent on their page (their inzage) and in their copy, and are written nowhere else by
the parents' pages: not in the web app's log, not in a processing record, not in an event the
parent's consent or objection publishes, not in a header or a file name."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.browser.site import ARTIFACTS, CHROMIUM, Site, log_in
from tests.events import CHILD, dossier_prepared, handover_started, parents_viewed
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]

CANARY = "Xanthippe Kanarievogel"
BORN = "2014-02-28"


def test_the_childs_identity_in_the_dossier_is_shown_to_the_parent_and_written_nowhere(
    wijkteam: Site, page: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    site = wijkteam
    started = handover_started(
        date(2027, 8, 1), date(2027, 3, 1), transition="ko-po", sender="kdv-het-speelhuis"
    )
    leerling = "test:" + json.dumps({"text": f"{CANARY}, geboren {BORN}"})
    site.portal.app.apply(started)
    site.portal.app.apply(dossier_prepared(started, date(2027, 3, 2), {"leerling": leerling}))
    site.portal.app.apply(parents_viewed(started, date(2027, 3, 5)))
    published_before = len(site.portal.published)

    log_in(page, f"{site.url}/ouders/{CHILD}/overdrachtsdossier", "ouder-demo-0001")
    shown = page.locator("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download een kopie (JSON)").click()
    copy = download.value.path().read_text(encoding="utf-8")
    headers = page.request.get(f"{site.url}/ouders/{CHILD}/overdrachtsdossier/kopie").headers
    page.goto(f"{site.url}/ouders/{CHILD}/toestemming")
    page.get_by_role("button", name="Ik geef toestemming").click()
    page.goto(f"{site.url}/ouders/{CHILD}/bezwaar")
    page.get_by_role("button", name="Bezwaar maken").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-canary.png"), full_page=True)
    written = capfd.readouterr()
    events = [e.model_dump_json() for e in site.portal.published[published_before:]]
    records = [json.dumps(r.as_ldv(), default=str) for r in site.records.records]

    assert CANARY in shown and CANARY in copy  # the parents' inzage: theirs to see
    assert 2 == len(events)
    assert "consent-recorded" in written.out + written.err  # the log was searched
    places = {
        "log": written.out + written.err,
        "events": "\n".join(events),
        "records": "\n".join(records),
        "headers": json.dumps(headers),
        "file name": download.value.suggested_filename,
    }
    assert {} == {where: text for where, text in places.items() if CANARY in text or BORN in text}

"""A professional registers a signal about a child new to ketenbus, in a real headless Chromium
logged in at a real OpenID provider: by the child's BSN (elfproef checked on the form, with a
Dutch error), name and birth date; the web app asks the pseudonym (here the pseudonym service's
stand-in), seals and publishes the signal as the organisation with the person in it, and the
plan of the new child shows it. Canary: the BSN and the name are in no URL the browser opened,
no header either way, no log line, no processing record and nowhere in the event but its sealed
sections (the real sealing over NATS: tests/integration/test_web_new_child_signal.py). The
attacks: a function without the right (a mentor), a forged CSRF token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ketenbus_contracts.pseudonym import child_pseudonym
from services.integral_plan.web_auth import employee_id
from tests.browser.site import ARTIFACTS, CHROMIUM, PSEUDONYM_SECRET, Site, log_in
from tests.events import PO
from tests.oidc import OidcProvider, available, form_value
from tests.oidc import log_in as http_log_in

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]

BSN = "273910097"  # passes the elfproef
NOT_A_BSN = "123456789"  # fails it
NAME = "Quirijn Kanarievogel"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def test_the_school_registers_a_signal_about_a_new_child_by_bsn_written_nowhere_else(
    school: Site, provider: OidcProvider, page: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.url} {json.dumps(r.headers)}"))
    page.on("response", lambda r: seen.append(f"{r.url} {json.dumps(r.headers)}"))
    log_in(page, f"{school.url}/werklijst", "ib-regenboog")
    page.get_by_role("link", name="Signaal afgeven").click()
    before = len(school.portal.published)
    form = page.get_by_role("form", name="Signaal afgeven")
    form.get_by_label("BSN van het kind").fill(NOT_A_BSN)
    form.get_by_label("Naam van het kind").fill(NAME)
    form.get_by_label("Geboortedatum van het kind").fill("2015-06-01")
    form.get_by_role("button", name="Signaal afgeven").click()
    form = page.get_by_role("form", name="Signaal afgeven")
    alert = form.get_by_role("alert").inner_text()

    assert "Dit is geen geldig BSN (de elfproef klopt niet): controleer het." in alert
    assert "Kies ten minste één zorggebied." in alert
    assert before == len(school.portal.published)
    form.get_by_label("BSN van het kind").fill(BSN)
    form.get_by_label("Gedrag").check()
    form.get_by_label("Toelichting").fill("Komt vaak te laat en slaapt in de klas.")
    form.get_by_label("Hoe bent u bereikbaar bij een match?").fill("IB'er, 026-1234567")
    form.get_by_role("button", name="Signaal afgeven").click()
    child = child_pseudonym(PSEUDONYM_SECRET, BSN)
    page.wait_for_url(f"{school.url}/plan/{child}?verstuurd=signaal")
    page.screenshot(path=str(ARTIFACTS / "formulier-signaal-nieuw-kind.png"), full_page=True)
    written = capfd.readouterr()

    [event] = school.portal.published[before:]
    actor = employee_id(provider.issuer, "ib-regenboog")
    expected = ("nl.ketenbus.signalling.signal-registered.v1", PO, child, actor, "4-11")
    assert expected == (
        event.type,
        event.source,
        event.subject,
        event.ketenbusactor,
        event.data.age_band,
    )
    assert "Het signaal is verwerkt." in page.get_by_role("status").inner_text()
    signals = page.locator("#signalen + ul").inner_text()
    assert "Basisschool De Regenboog, 24 november 2026: actief" in signals
    # The stand-in 'seals' in clear: what the event carries outside its sections is checked.
    envelope = event.model_dump(mode="json")
    envelope["data"].pop("sealed")
    records = [json.dumps(r.as_ldv(), default=str) for r in school.records.records]
    assert "web.published" in written.out + written.err  # the log was searched
    places = {
        "urls and headers": "\n".join(seen),
        "log": written.out + written.err,
        "event": json.dumps(envelope),
        "records": "\n".join(records),
    }
    assert {} == {where: text for where, text in places.items() if BSN in text or NAME in text}


def test_a_mentor_cannot_register_a_signal_about_a_new_child(
    school: Site, http: httpx.Client
) -> None:
    shown = http_log_in(http, f"{school.url}/werklijst", "mentor-wijkteam")
    before = len(school.portal.published)
    page = http.get(f"{school.url}/signaal")
    data = {"bsn": BSN, "naam": NAME, "geboortedatum": "2015-06-01", "zorg": "gedrag"}
    posted = http.post(
        f"{school.url}/signaal",
        data=data | {"contact": "x", "csrf": form_value(shown.text, "csrf")},
    )

    assert (403, 403, 0) == (
        page.status_code,
        posted.status_code,
        len(school.portal.published) - before,
    )


def test_a_signal_about_a_new_child_with_a_forged_csrf_token_is_not_sent(
    school: Site, http: httpx.Client
) -> None:
    http_log_in(http, f"{school.url}/signaal", "ib-regenboog")
    before = len(school.portal.published)
    data = {"bsn": BSN, "naam": NAME, "geboortedatum": "2015-06-01", "zorg": "gedrag"}
    posted = http.post(f"{school.url}/signaal", data=data | {"contact": "x", "csrf": "vervalst"})

    assert (400, 0) == (posted.status_code, len(school.portal.published) - before)

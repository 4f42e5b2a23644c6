"""The casework forms in a real Chromium: the school registers a signal, leerplicht answers a
verzuimmelding, the SWV's director decides a funding dispute, the school records the parents'
view of a handover dossier and releases it; each sees the result on the plan (and the werklijst
where it changes), and its errors on the form first.

Each form publishes one contract event as the organisation with the acting person's
pseudonymous id in it (`ketenbusactor`); the stand-in portal applies it to the in-memory plan
at once (over NATS the services do). The attacks, as a partner's people would try them: a
function without the right (a mentor, an intern begeleider deciding a dispute), an
organisation acting on a child it has no relation with, a forged CSRF token.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from ketenbus_contracts import handover as ho
from services.integral_plan.web_auth import employee_id
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.browser.test_web_forms import _post_as
from tests.events import (
    CHILD,
    LEERPLICHT,
    PO,
    SWV,
    VO,
    dossier_prepared,
    handover_started,
)
from tests.oidc import OidcProvider, available, form_value
from tests.oidc import log_in as http_log_in

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def test_the_school_registers_a_signal_after_the_errors_on_the_form(
    school: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{school.url}/plan/{KID}"
    log_in(page, url, "ib-regenboog")
    before = len(school.portal.published)
    form = page.get_by_role("form", name="Signaal afgeven")
    assert 0 == form.get_by_label("Geboortedatum").count()  # opened on the plan (identity)
    form.get_by_role("button", name="Signaal afgeven").click()
    form = page.get_by_role("form", name="Signaal afgeven")
    alert = form.get_by_role("alert").inner_text()

    assert "Kies ten minste één zorggebied." in alert and "Vul hoe u bereikbaar bent in." in alert
    assert before == len(school.portal.published)
    form.get_by_label("Gedrag").check()
    form.get_by_label("Thuissituatie en opvoeding").check()
    form.get_by_label("Toelichting").fill("Sem is vaak moe en boos in de klas.")
    form.get_by_label("Hoe bent u bereikbaar bij een match?").fill("IB'er, 026-1234567")
    form.get_by_role("button", name="Signaal afgeven").click()
    page.wait_for_url(f"{url}?verstuurd=signaal")
    page.screenshot(path=str(ARTIFACTS / "formulier-signaal.png"), full_page=True)

    event = school.portal.published[-1]
    actor = employee_id(provider.issuer, "ib-regenboog")
    expected = ("nl.ketenbus.signalling.signal-registered.v1", PO, actor, "12-15")
    assert expected == (event.type, event.source, event.ketenbusactor, event.data.age_band)
    assert "IB'er, 026-1234567" == event.data.signaller.contact
    assert "Het signaal is verwerkt." in page.get_by_role("status").inner_text()
    signals = page.locator("#signalen + ul").inner_text()
    assert "Basisschool De Regenboog, 24 november 2026: actief" in signals
    assert 0 == page.get_by_role("form", name="Signaal afgeven").count()  # one at a time
    assert 1 == page.get_by_role("form", name="Signaal intrekken").count()


def test_leerplicht_answers_the_verzuimmelding_after_the_errors_on_the_form(
    leerplicht: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{leerplicht.url}/plan/{KID}"
    log_in(page, url, "lpa-lingewaard")
    before = len(leerplicht.portal.published)
    form = page.get_by_role("form", name="Verzuimmelding beantwoorden")
    form.get_by_label("Stand").select_option("afgesloten")
    form.get_by_role("button", name="Verzuimmelding beantwoorden").click()
    form = page.get_by_role("form", name="Verzuimmelding beantwoorden")

    assert "Kies de reden van afsluiten." in form.get_by_role("alert").inner_text()
    assert before == len(leerplicht.portal.published)
    form.get_by_label("Stand").select_option("afgesloten")
    form.get_by_label("Reden van afsluiten").select_option("terug-naar-school")
    form.get_by_role("button", name="Verzuimmelding beantwoorden").click()
    page.wait_for_url(f"{url}?verstuurd=beantwoord")
    page.screenshot(path=str(ARTIFACTS / "formulier-verzuimmelding.png"), full_page=True)

    event = leerplicht.portal.published[-1]
    actor = employee_id(provider.issuer, "lpa-lingewaard")
    expected = ("nl.ketenbus.truancy.report-answered.v1", LEERPLICHT, actor, "afgesloten")
    assert expected == (event.type, event.source, event.ketenbusactor, event.data.status)
    report = page.locator("#aanwezigheid ~ ul li").filter(has_text="Verzuimmelding")
    assert "Afgesloten sinds 24 november 2026 (reden: terug-naar-school)" in report.inner_text()
    assert 0 == page.get_by_role("form", name="Verzuimmelding beantwoorden").count()
    timeline = page.locator("ol.timeline").inner_text()
    assert "verzuimmelding beantwoord door leerplicht" in timeline


def test_the_swv_director_decides_the_funding_dispute_after_the_errors_on_the_form(
    swv: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{swv.url}/plan/{KID}"
    log_in(page, f"{swv.url}/werklijst", "directeur-swv")
    due = page.locator("tbody tr").filter(has_text="Geschil over bekostiging: beslissen")
    assert "uiterlijk 1 januari 2027" in due.inner_text()
    page.goto(url)
    before = len(swv.portal.published)
    form = page.get_by_role("form", name="Geschil beslissen")
    form.get_by_label("Samenwerkingsverband (%)").fill("30")
    form.get_by_label("Gemeente (%)").fill("60")
    form.get_by_role("button", name="Geschil beslissen").click()
    form = page.get_by_role("form", name="Geschil beslissen")

    assert "De percentages zijn samen 100." in form.get_by_role("alert").inner_text()
    assert "60" == form.get_by_label("Gemeente (%)").input_value()
    assert before == len(swv.portal.published)
    form.get_by_label("Gemeente (%)").fill("70")
    form.get_by_role("button", name="Geschil beslissen").click()
    page.wait_for_url(f"{url}?verstuurd=beslist")
    page.screenshot(path=str(ARTIFACTS / "formulier-geschil.png"), full_page=True)

    event = swv.portal.published[-1]
    actor = employee_id(provider.issuer, "directeur-swv")
    expected = ("nl.ketenbus.arrangements.dispute-decided.v1", SWV, SWV, actor)
    assert expected == (event.type, event.source, event.data.decided_by, event.ketenbusactor)
    arrangements = page.locator("#arrangementen + ul").inner_text()
    assert "Geschil: beslist" in arrangements
    assert "Bekostiging: samenwerkingsverband 30%, gemeente 70%" in arrangements
    assert 0 == page.get_by_role("form", name="Geschil beslissen").count()
    page.goto(f"{swv.url}/werklijst")
    assert 0 == page.locator("tbody tr").filter(has_text="Geschil over bekostiging").count()


@pytest.fixture(scope="module")
def requested(school: Site) -> str:
    """KID's handover (po→vo, over its date) prepared by the school and requested by the vo
    school, as the handover service tells it; its id."""
    handover_id = uuid.UUID(school.portal.app.plan_of(KID)["handovers"][0]["handover_id"])
    started = handover_started(date(2026, 11, 10), date(2026, 9, 1), KID, handover_id)
    sections = {"leerling": 'test:{"text": "Sem"}', "verzuim": 'test:{"text": "-"}'}
    school.portal.app.apply(dossier_prepared(started, date(2026, 11, 20), sections))
    school.portal.app.apply(
        ho.DossierRequested.create(
            source="ketenbus.handover",
            subject=KID,
            data=ho.DossierRequestedData(
                handover_id=handover_id,
                receiver=ho.Organisation(partner=VO, contact="zorg@lyceum.example"),
                enrolment=ho.Enrolment(partner=VO, enrolled_on=date(2026, 11, 20)),
                requested_on=date(2026, 11, 21),
            ),
        )
    )
    return str(handover_id)


def test_the_school_records_the_parents_view_and_releases_the_dossier(
    school: Site, provider: OidcProvider, page: Any, requested: str
) -> None:
    url = f"{school.url}/plan/{KID}"
    log_in(page, f"{school.url}/werklijst", "ib-regenboog")
    stalled = page.locator("tbody tr").filter(has_text="Overdracht stokt").count()
    page.goto(url)
    before = len(school.portal.published)
    row = page.get_by_role("row").filter(has_text="PO → VO")
    assert "opgevraagd door Het Lyceum" in row.inner_text()
    row.get_by_text("Inzage ouders vastleggen en vrijgeven").click()
    form = page.get_by_role("form", name="Inzage ouders en vrijgeven")
    form.get_by_label("De ouders zagen het dossier in op").fill("2026-11-23")
    form.get_by_label("Akkoord met het dossier?").select_option("nee")
    form.get_by_role("button", name="Vastleggen").click()
    form = page.get_by_role("form", name="Inzage ouders en vrijgeven")

    assert "Vul waarom de ouders niet akkoord zijn in." in form.get_by_role("alert").inner_text()
    assert before == len(school.portal.published)
    form.get_by_label("Waarom niet akkoord").fill("Het verzuim van groep 7 hoort er niet bij.")
    form.get_by_label("Verzuim").check()
    form.get_by_label("Dossier nu vrijgeven").check()
    form.get_by_label("De ouders kregen een kopie op").fill("2026-11-24")
    form.get_by_role("button", name="Vastleggen").click()
    page.wait_for_url(f"{url}?verstuurd=vrijgegeven")
    page.screenshot(path=str(ARTIFACTS / "formulier-overdracht.png"), full_page=True)

    viewed, released = school.portal.published[before:]
    actor = employee_id(provider.issuer, "ib-regenboog")
    assert ("nl.ketenbus.handover.parents-viewed.v1", PO, actor, ["verzuim"]) == (
        viewed.type,
        viewed.source,
        viewed.ketenbusactor,
        viewed.data.opted_out,
    )
    assert ("nl.ketenbus.handover.dossier-released.v1", actor) == (
        released.type,
        released.ketenbusactor,
    )
    row = page.get_by_role("row").filter(has_text="PO → VO")
    assert "dossier geleverd" in row.inner_text()
    assert "kopie aan de ouders 24 november 2026" in row.inner_text()
    page.goto(f"{school.url}/werklijst")
    assert stalled - 1 == page.locator("tbody tr").filter(has_text="Overdracht stokt").count()


def test_a_mentor_cannot_release_a_handover(
    school: Site, http: httpx.Client, requested: str
) -> None:
    path = f"overdrachten/{requested}/ouders"
    data = {"ingezien": "2026-11-23", "akkoord": "ja", "vrijgeven": "ja", "kopie": "2026-11-24"}
    posted = _post_as(school, http, "mentor-wijkteam", KID, path, data)

    assert (403, 0) == posted[2:]


def _dispute(site: Site) -> str:
    plan = site.portal.app.plan_of(KID)
    return str(next(a["dispute"] for a in plan["arrangements"] if a.get("dispute"))["dispute_id"])


def test_a_mentor_cannot_decide_a_dispute(swv: Site, http: httpx.Client) -> None:
    path = f"geschillen/{_dispute(swv)}/beslissen"
    posted = _post_as(swv, http, "mentor-wijkteam", KID, path, {"swv": "100"})

    assert (200, False, 403, 0) == (*posted[:1], "Geschil beslissen" in posted[1], *posted[2:])


def test_an_intern_begeleider_of_a_school_that_holds_no_doorzettingsmacht_cannot_decide(
    school: Site, http: httpx.Client
) -> None:
    path = f"geschillen/{_dispute(school)}/beslissen"
    posted = _post_as(school, http, "ib-regenboog", KID, path, {"school": "100"})

    assert (403, 0) == posted[2:]


def test_an_organisation_without_a_relation_with_the_child_acts_on_nothing(
    swv: Site, http: httpx.Client
) -> None:
    shown = http_log_in(http, f"{swv.url}/plan/{KID}", "directeur-swv")
    csrf = form_value(shown.text, "csrf")
    before = len(swv.portal.published)

    decided = http.post(
        f"{swv.url}/plan/{CHILD}/geschillen/{_dispute(swv)}/beslissen",
        data={"swv": "100", "csrf": csrf},
    )
    plan = http.get(f"{swv.url}/plan/{CHILD}")

    assert (404, 404, before) == (decided.status_code, plan.status_code, len(swv.portal.published))


def test_a_signal_posted_with_a_forged_csrf_token_publishes_nothing(
    school: Site, http: httpx.Client
) -> None:
    http_log_in(http, f"{school.url}/plan/{KID}", "ib-regenboog")
    before = len(school.portal.published)
    data = {"zorg": "gedrag", "contact": "ib"}

    forged = http.post(f"{school.url}/plan/{KID}/signalen", data=data | {"csrf": "geraden"})
    missing = http.post(f"{school.url}/plan/{KID}/signalen", data=data)

    assert (400, 400, before) == (
        forged.status_code,
        missing.status_code,
        len(school.portal.published),
    )

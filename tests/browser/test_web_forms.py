"""The plan's forms in a real Chromium: a person logged in sets a goal, agrees an action and
reports it done, sees it on the plan and the werklijst, and sees their errors on the form.

Each form publishes one contract event as the organisation with the acting person's
pseudonymous id in it (`ketenbusactor`); here the stand-in portal applies it to the in-memory
plan at once (over NATS the plan service does, tests/integration). The attacks: a post without
the session's CSRF token, a function that may not, an organisation reporting another's action.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.integral_plan.web_auth import employee_id
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD, LEERPLICHT, PO, WIJKTEAM
from tests.oidc import OidcProvider, available, form_value
from tests.oidc import log_in as http_log_in

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


def test_a_consulent_sets_a_goal_and_sees_it_on_the_plan(
    wijkteam: Site, provider: OidcProvider, plan: str, page: Any
) -> None:
    form = page.get_by_role("form", name="Doel stellen")
    form.get_by_label("Domein").select_option("gezin")
    form.get_by_label("Wat is het doel?").fill("Het gezin heeft weer een vast dagritme.")
    form.get_by_label("Streefdatum").fill("2027-03-01")
    form.get_by_role("button", name="Doel stellen").click()
    page.wait_for_url(f"{plan}?verstuurd=doel")
    page.screenshot(path=str(ARTIFACTS / "formulier-doel.png"), full_page=True)

    assert "Het doel is verwerkt." in page.get_by_role("status").inner_text()
    assert "Het gezin heeft weer een vast dagritme." in page.locator("main").inner_text()
    event = wijkteam.portal.published[-1]
    assert ("nl.ketenbus.plan.goal-set.v1", WIJKTEAM.partner) == (event.type, event.source)
    assert employee_id(provider.issuer, "consulent-wijkteam") == event.ketenbusactor
    assert "2027-03-01" == event.data.target_on.isoformat()


def test_a_form_with_errors_comes_back_with_them_and_what_was_typed(
    wijkteam: Site, plan: str, page: Any
) -> None:
    before = len(wijkteam.portal.published)
    form = page.get_by_role("form", name="Doel stellen")
    form.get_by_label("Streefdatum").fill("2020-01-01")
    form.get_by_role("button", name="Doel stellen").click()
    page.screenshot(path=str(ARTIFACTS / "formulier-fouten.png"), full_page=True)

    alert = page.get_by_role("form", name="Doel stellen").get_by_role("alert").inner_text()
    assert "Vul het doel in." in alert and "De streefdatum ligt in het verleden." in alert
    assert "2020-01-01" == page.get_by_label("Streefdatum").input_value()
    assert "true" == page.get_by_label("Wat is het doel?").get_attribute("aria-invalid")
    assert before == len(wijkteam.portal.published)


def test_an_action_agreed_shows_on_the_plan_and_the_werklijst_until_reported_done(
    wijkteam: Site, plan: str, page: Any
) -> None:
    form = page.get_by_role("form", name="Actie afspreken")
    form.get_by_label("Wat wordt er gedaan?").fill("Gesprek met de leerplichtambtenaar")
    form.get_by_label("Wie doet het?").select_option(label="Sociaal Team Lingewaard")
    form.get_by_label("Koppelt terug aan").select_option(label="Basisschool De Regenboog")
    form.get_by_label("Uiterlijk").fill("2026-11-26")
    form.get_by_role("button", name="Actie afspreken").click()
    page.wait_for_url(f"{plan}?verstuurd=actie")

    row = page.get_by_role("row").filter(has_text="Gesprek met de leerplichtambtenaar")
    assert "Open" in row.inner_text() and "26 november 2026" in row.inner_text()
    page.goto(f"{wijkteam.url}/werklijst")
    soon = page.locator("tbody tr").filter(has_text="Actie binnenkort")
    assert "Sociaal Team Lingewaard doet het" in soon.last.inner_text()
    count = page.locator("tbody tr").count()

    page.goto(plan)
    row = page.get_by_role("row").filter(has_text="Gesprek met de leerplichtambtenaar")
    row.get_by_text("Afgerond melden", exact=True).first.click()
    row.get_by_label("Terugkoppeling").fill("Gesprek gevoerd op 25 november.")
    row.get_by_label("Vervolg").fill("Leerplicht belt de ouders.")
    row.get_by_role("button", name="Afgerond melden").click()
    page.wait_for_url(f"{plan}?verstuurd=afgerond")
    page.screenshot(path=str(ARTIFACTS / "formulier-afgerond.png"), full_page=True)

    row = page.get_by_role("row").filter(has_text="Gesprek met de leerplichtambtenaar")
    assert "Afgerond" in row.inner_text() and "Gesprek gevoerd op 25 november." in row.inner_text()
    page.goto(f"{wijkteam.url}/werklijst")
    assert count - 1 == page.locator("tbody tr").count()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def test_a_post_without_the_sessions_csrf_token_publishes_nothing(
    wijkteam: Site, http: httpx.Client
) -> None:
    shown = http_log_in(http, f"{wijkteam.url}/plan/{CHILD}", "consulent-wijkteam")
    before = len(wijkteam.portal.published)
    data = {"domein": "gezin", "tekst": "Vervalst"}

    forged = http.post(f"{wijkteam.url}/plan/{CHILD}/doelen", data=data | {"csrf": "geraden"})
    missing = http.post(f"{wijkteam.url}/plan/{CHILD}/doelen", data=data)
    good = http.post(
        f"{wijkteam.url}/plan/{CHILD}/doelen", data=data | {"csrf": form_value(shown.text, "csrf")}
    )

    assert (400, 400, 303) == (forged.status_code, missing.status_code, good.status_code)
    assert before + 1 == len(wijkteam.portal.published)


def test_a_function_that_may_not_set_goals_gets_no_form_and_no_event(
    wijkteam: Site, http: httpx.Client
) -> None:
    posted = _post_as(
        wijkteam, http, "mentor-wijkteam", CHILD, "doelen", {"domein": "gezin", "tekst": "Mag niet"}
    )

    assert (200, False, 403, 0) == (*posted[:1], "Doel stellen" in posted[1], *posted[2:])


def _post_as(
    site: Site, http: httpx.Client, user: str, child: str, path: str, data: dict[str, str]
) -> tuple[int, str, int, int]:
    """`user` logs in, opens the child's plan and posts `data` to its `path` with the session's
    CSRF token: the plan's status and text, the post's status, how many events it published."""
    shown = http_log_in(http, f"{site.url}/plan/{child}", user)
    before = len(site.portal.published)
    csrf = form_value(shown.text, "csrf")
    posted = http.post(f"{site.url}/plan/{child}/{path}", data=data | {"csrf": csrf})
    return shown.status_code, shown.text, posted.status_code, len(site.portal.published) - before


def test_an_organisation_cannot_report_another_organisations_action_done(
    wijkteam: Site, http: httpx.Client
) -> None:
    shown = http_log_in(http, f"{wijkteam.url}/plan/{CHILD}", "consulent-wijkteam")
    plan = wijkteam.portal.app.plan_of(CHILD)
    theirs = next(
        a for a in plan["actions"] if a["actor"] != WIJKTEAM.partner and a["status"] == "open"
    )
    before = len(wijkteam.portal.published)

    posted = http.post(
        f"{wijkteam.url}/plan/{CHILD}/acties/{theirs['action_id']}/afgerond",
        data={"terugkoppeling": "Gedaan", "csrf": form_value(shown.text, "csrf")},
    )

    assert 400 == posted.status_code
    assert "Deze actie kunt u niet als afgerond melden." in posted.text
    assert before == len(wijkteam.portal.published)


def test_the_school_withdraws_its_own_signal_from_the_plan(
    school: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{school.url}/plan/{CHILD}"
    log_in(page, url, "ib-regenboog")
    form = page.get_by_role("form", name="Signaal intrekken")
    assert 1 == form.count()  # its own signal only; the JGZ's is not the school's to withdraw
    form.get_by_label("Waarom").select_option("withdrawn")
    form.get_by_role("button", name="Signaal intrekken").click()
    page.wait_for_url(f"{url}?verstuurd=ingetrokken")

    event = school.portal.published[-1]
    assert ("nl.ketenbus.signalling.signal-withdrawn.v1", PO, "withdrawn") == (
        event.type,
        event.source,
        event.data.reason,
    )
    assert employee_id(provider.issuer, "ib-regenboog") == event.ketenbusactor
    assert "ingetrokken" in page.locator("#signalen + ul").inner_text()


def test_a_signaller_records_contact_made_after_the_match(
    school: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{school.url}/plan/{CHILD}"
    log_in(page, url, "ib-regenboog")
    form = page.get_by_role("form", name="Contact gelegd")
    form.get_by_label("Met alle andere signaleerders gesproken").check()
    form.get_by_role("button", name="Contact gelegd").click()
    page.wait_for_url(f"{url}?verstuurd=contact")

    event = school.portal.published[-1]
    assert ("nl.ketenbus.signalling.contact-made.v1", PO, True) == (
        event.type,
        event.data.partner,
        event.data.all_contacted,
    )
    assert employee_id(provider.issuer, "ib-regenboog") == event.ketenbusactor
    assert "Contact gelegd door Basisschool De Regenboog" in page.locator("main").inner_text()
    assert 0 == page.get_by_role("form", name="Contact gelegd").count()  # once is enough


def test_the_school_makes_a_thuiszitter_a_fitting_offer(
    school: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{school.url}/plan/{KID}"
    log_in(page, url, "ib-regenboog")
    page.get_by_role("form", name="Passend aanbod doen").get_by_role("button").click()
    page.wait_for_url(f"{url}?verstuurd=aanbod")
    page.screenshot(path=str(ARTIFACTS / "formulier-aanbod.png"), full_page=True)

    event = school.portal.published[-1]
    assert ("nl.ketenbus.truancy.offer-made.v1", PO) == (event.type, event.data.by)
    assert employee_id(provider.issuer, "ib-regenboog") == event.ketenbusactor
    assert (
        "Passend aanbod door Basisschool De Regenboog, 24 november 2026"
        in page.locator("main").inner_text()
    )


def test_leerplicht_grants_an_exemption_after_the_errors_on_the_form(
    leerplicht: Site, provider: OidcProvider, page: Any
) -> None:
    url = f"{leerplicht.url}/plan/{KID}"
    log_in(page, url, "lpa-lingewaard")
    before = len(leerplicht.portal.published)
    form = page.get_by_role("form", name="Vrijstelling verlenen")
    form.get_by_label("Artikel (Leerplichtwet)").select_option("5a")
    form.get_by_label("Ingangsdatum").fill("2026-12-01")
    form.get_by_role("button", name="Vrijstelling verlenen").click()
    form = page.get_by_role("form", name="Vrijstelling verlenen")

    assert "Kies wie de verklaring (art. 7) gaf." in form.inner_text()
    assert before == len(leerplicht.portal.published)
    form.get_by_label("Artikel (Leerplichtwet)").select_option("5b")
    form.get_by_label("Motivering").fill("Bedenkingen tegen de richting van alle scholen.")
    form.get_by_role("button", name="Vrijstelling verlenen").click()
    page.wait_for_url(f"{url}?verstuurd=vrijstelling")
    page.screenshot(path=str(ARTIFACTS / "formulier-vrijstelling.png"), full_page=True)

    event = leerplicht.portal.published[-1]
    actor = employee_id(provider.issuer, "lpa-lingewaard")
    expected = ("nl.ketenbus.truancy.exemption-granted.v2", LEERPLICHT, actor, "5b")
    assert expected == (event.type, event.source, event.ketenbusactor, event.data.article)
    assert "De vrijstelling is verwerkt." in page.get_by_role("status").inner_text()
    assert (
        "Vrijstelling (artikel 5b) door Leerplicht en RMC Lingewaard"
        in page.locator("main").inner_text()
    )


def test_a_school_cannot_grant_an_exemption(school: Site, http: httpx.Client) -> None:
    posted = _post_as(
        school, http, "ib-regenboog", KID, "vrijstelling", {"artikel": "5b", "vanaf": "2026-12-01"}
    )

    assert (200, False, 403, 0) == (*posted[:1], "Vrijstelling verlenen" in posted[1], *posted[2:])

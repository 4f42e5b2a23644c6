"""The daily-work forms in a real Chromium against the real backbone (tests/browser/real.py):
an embedded nats-server under the registry's authorization, every service, a real OpenID
provider and each organisation's web app as `ketenbus web` runs it. A professional logs in,
fills in a form, and sees on the plan and the werklijst what the services made of the event
the form published (waited for with `wait_until`, reloading the page: the services take it
asynchronously, the page shows what the plan service answers).

The stand-in plan of the other browser tests proves the pages; these prove that what a form
publishes, sealed with the organisation's keys from kluis and signed as the organisation over
its own NATS user, is taken by the real services and lands on the real plan. Nothing the forms
sent is dead-lettered. One backbone and one story for the module: the tests go on from each
other in the order written (the wijkteam withdraws the signal it registered first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest

from demo import arrangements as arr
from ketenbus_partner.connect import Connections
from services.integral_plan.web import datum
from services.runtime.nats_auth import credential_source
from services.runtime.streams import HANDOVER
from tests.browser.real import (
    GEMEENTE,
    LEERPLICHT,
    SCHOOL,
    WIJKTEAM,
    RealBackbone,
    dead_letters,
    running_backbone,
    today,
)
from tests.browser.site import ARTIFACTS, CHROMIUM, log_in
from tests.integration.helpers import wait_until
from tests.oidc import available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealBackbone]:
    with running_backbone(tmp_path_factory.mktemp("real")) as running:
        yield running


def shows(page: Any, url: str, text: str, where: str = "main", what: str = "") -> str:
    """Reload `url` until `where` on it shows `text` (the services took the event); its text."""

    def shown() -> str | None:
        page.goto(url)
        found = page.locator(where)
        content: str = found.inner_text() if found.count() else ""
        return content if text in content else None

    return _waited(page, shown, what or f"{text!r} on {url}")


def gone(page: Any, url: str, text: str, what: str = "") -> str:
    """Reload `url` until its main part no longer shows `text`; its text."""

    def left() -> str | None:
        page.goto(url)
        content: str = page.locator("main").inner_text()
        return content if text not in content else None

    return _waited(page, left, what or f"{text!r} gone from {url}")


def _waited(page: Any, check: Callable[[], str | None], what: str) -> str:
    """`wait_until`; the page as it was kept as an artifact when it gives up."""
    try:
        return wait_until(check, what=what)
    except AssertionError:
        page.screenshot(path=str(ARTIFACTS / "echt-niet-gezien.png"), full_page=True)
        raise


def day(on: date) -> str:
    """A date as the pages write it (4 december 2026)."""
    return datum(on.isoformat())


def test_the_wijkteam_registers_a_signal_the_signalling_service_records(
    real: RealBackbone, page: Any
) -> None:
    plan = f"{real.sites[WIJKTEAM]}/plan/{real.story.child}"
    log_in(page, plan, "consulent-wijkteam")
    form = page.get_by_role("form", name="Signaal afgeven")
    form.get_by_label("Gedrag").check()
    form.get_by_label("Toelichting").fill("Boos en moe bij het huisbezoek.")
    form.get_by_label("Hoe bent u bereikbaar bij een match?").fill("Wijkteam Huissen, 026-2223344")
    form.get_by_label("Geboortedatum van het kind").fill("2015-06-21")
    form.get_by_role("button", name="Signaal afgeven").click()
    page.wait_for_url(f"{plan}?verstuurd=signaal")

    mine = f"Sociaal Team Lingewaard, {day(today())}: actief"
    signals = shows(page, plan, mine, "#signalen + ul")
    page.screenshot(path=str(ARTIFACTS / "echt-signaal.png"), full_page=True)
    assert "Boos en moe bij het huisbezoek." in signals  # sealed for the wijkteam, opened again
    assert 1 == page.get_by_role("form", name="Signaal intrekken").count()
    # The match now names the wijkteam too, on the school's werklijst.
    page.context.clear_cookies()
    worklist = f"{real.sites[SCHOOL.partner]}/werklijst"
    log_in(page, worklist, "ib-regenboog")
    also = "Ook betrokken: GGD Gelderland-Zuid, Jeugdgezondheidszorg, Sociaal Team Lingewaard"
    shows(page, worklist, also, "tbody", "the wijkteam in the match on the school's werklijst")


def test_the_school_records_contact_made_after_the_match(real: RealBackbone, page: Any) -> None:
    site = real.sites[SCHOOL.partner]
    plan, worklist = f"{site}/plan/{real.story.child}", f"{site}/werklijst"
    log_in(page, plan, "ib-regenboog")
    form = page.get_by_role("form", name="Contact gelegd")
    form.get_by_label("Met alle andere signaleerders gesproken").check()
    form.get_by_role("button", name="Contact gelegd").click()
    page.wait_for_url(f"{plan}?verstuurd=contact")

    shows(page, plan, "Contact gelegd door Basisschool De Regenboog")
    page.screenshot(path=str(ARTIFACTS / "echt-contact.png"), full_page=True)
    assert 0 == page.get_by_role("form", name="Contact gelegd").count()
    gone(page, worklist, "Nieuwe match", "the match off the school's werklijst")


def test_the_wijkteam_withdraws_its_signal(real: RealBackbone, page: Any) -> None:
    plan = f"{real.sites[WIJKTEAM]}/plan/{real.story.child}"
    log_in(page, plan, "consulent-wijkteam")
    form = page.get_by_role("form", name="Signaal intrekken")
    form.get_by_label("Waarom").select_option("withdrawn")
    form.get_by_role("button", name="Signaal intrekken").click()
    page.wait_for_url(f"{plan}?verstuurd=ingetrokken")

    mine = shows(page, plan, "ingetrokken", "#signalen + ul")
    assert f"Sociaal Team Lingewaard, {day(today())}: ingetrokken" in mine
    assert 0 == page.get_by_role("form", name="Signaal intrekken").count()


def test_leerplicht_grants_an_exemption(real: RealBackbone, page: Any) -> None:
    plan = f"{real.sites[LEERPLICHT]}/plan/{real.story.child}"
    log_in(page, plan, "lpa-lingewaard")
    form = page.get_by_role("form", name="Vrijstelling verlenen")
    form.get_by_label("Artikel (Leerplichtwet)").select_option("5b")
    form.get_by_label("Ingangsdatum").fill(today().isoformat())
    form.get_by_label("Motivering").fill("Bedenkingen tegen de richting van alle scholen.")
    form.get_by_role("button", name="Vrijstelling verlenen").click()
    page.wait_for_url(f"{plan}?verstuurd=vrijstelling")

    shows(page, plan, "Vrijstelling (artikel 5b) door Leerplicht en RMC Lingewaard")
    page.screenshot(path=str(ARTIFACTS / "echt-vrijstelling.png"), full_page=True)


def test_the_school_makes_a_thuiszitter_an_offer(real: RealBackbone, page: Any) -> None:
    """The truancy service registered the sick pupil a thuiszitter from the school's absences;
    the IB'er offers a place, which the truancy service records on the plan."""
    plan = f"{real.sites[SCHOOL.partner]}/plan/{real.story.thuiszitter}"
    log_in(page, plan, "ib-regenboog")
    assert "Thuiszitter (categorie 2)" in page.locator("main").inner_text()
    form = page.get_by_role("form", name="Passend aanbod doen")
    form.get_by_role("button", name="Passend aanbod doen").click()
    page.wait_for_url(f"{plan}?verstuurd=aanbod")

    shows(page, plan, f"Passend aanbod door Basisschool De Regenboog, {day(today())}")
    page.screenshot(path=str(ARTIFACTS / "echt-aanbod.png"), full_page=True)


def test_a_consulent_sets_a_goal_agrees_an_action_and_the_school_reports_it_done(
    real: RealBackbone, page: Any
) -> None:
    child, wijkteam, school = real.story.child, real.sites[WIJKTEAM], real.sites[SCHOOL.partner]
    plan = f"{wijkteam}/plan/{child}"
    log_in(page, plan, "consulent-wijkteam")
    form = page.get_by_role("form", name="Doel stellen")
    form.get_by_label("Domein").select_option("gezin")
    form.get_by_label("Wat is het doel?").fill("Het gezin heeft weer een vast dagritme.")
    form.get_by_role("button", name="Doel stellen").click()
    page.wait_for_url(f"{plan}?verstuurd=doel")
    # The plan service's receipt, read through the wijkteam's receipts consumer, is in.
    assert "Het doel is verwerkt." == page.get_by_role("status").inner_text().strip()
    shows(page, plan, "Het gezin heeft weer een vast dagritme.", "main")

    due = today().isoformat()
    form = page.get_by_role("form", name="Actie afspreken")
    form.get_by_label("Wat wordt er gedaan?").fill("Gesprek met de ouders over het dagritme")
    form.get_by_label("Wie doet het?").select_option(label="Basisschool De Regenboog")
    form.get_by_label("Koppelt terug aan").select_option(label="Sociaal Team Lingewaard")
    form.get_by_label("Uiterlijk").fill(due)
    form.get_by_role("button", name="Actie afspreken").click()
    page.wait_for_url(f"{plan}?verstuurd=actie")
    shows(page, plan, "Gesprek met de ouders over het dagritme")
    row = page.get_by_role("row").filter(has_text="Gesprek met de ouders over het dagritme")
    assert "Open" in row.inner_text() and day(today()) in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "echt-actie.png"), full_page=True)

    # The school does it and reports it done, in its own web app: until then on its werklijst.
    page.context.clear_cookies()
    school_plan, worklist = f"{school}/plan/{child}", f"{school}/werklijst"
    log_in(page, worklist, "ib-regenboog")
    todo = "Basisschool De Regenboog doet het en koppelt terug aan Sociaal Team Lingewaard"
    shows(page, worklist, todo, "tbody", "the action on the school's werklijst")
    page.goto(school_plan)
    row = page.get_by_role("row").filter(has_text="Gesprek met de ouders over het dagritme")
    row.get_by_text("Afgerond melden", exact=True).first.click()
    row.get_by_label("Terugkoppeling").fill("Gesprek gevoerd; vaste bedtijden.")
    row.get_by_role("button", name="Afgerond melden").click()
    page.wait_for_url(f"{school_plan}?verstuurd=afgerond")

    shows(page, school_plan, "Gesprek gevoerd; vaste bedtijden.")
    row = page.get_by_role("row").filter(has_text="Gesprek met de ouders over het dagritme")
    assert "Afgerond" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "echt-afgerond.png"), full_page=True)
    gone(page, worklist, todo, "the action off the school's werklijst")


def open_handover_form(page: Any, plan: str, summary: str, name: str) -> Any:
    """The school's IB'er on `plan`: the po→vo handover the vo school requested, its form
    `name` opened from `summary`."""
    log_in(page, plan, "ib-regenboog")
    row = page.get_by_role("row").filter(has_text="PO → VO")
    assert "opgevraagd door Het Lyceum" in row.inner_text()
    row.get_by_text(summary).click()
    return page.get_by_role("form", name=name)


def delivered_after(page: Any, plan: str, form: Any, button: str, shot: str) -> str:
    """Post the handover `form` with `button`; its row once the service delivered."""
    form.get_by_role("button", name=button).click()
    page.wait_for_url(f"{plan}?verstuurd=vrijgegeven")
    row_text = shows(page, plan, "geleverd", "#overdrachten + table")
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return row_text


def test_the_school_releases_the_requested_dossier_and_the_handover_service_delivers_it(
    real: RealBackbone, page: Any
) -> None:
    school = real.sites[SCHOOL.partner]
    plan = f"{school}/plan/{real.story.child}"
    form = open_handover_form(page, plan, "Dossier vrijgeven", "Dossier vrijgeven")
    form.get_by_label("De ouders kregen een kopie op").fill(today().isoformat())
    row_text = delivered_after(page, plan, form, "Vrijgeven", "echt-overdracht.png")
    assert f"kopie aan de ouders {day(today())}" in row_text
    assert 0 == page.get_by_role("form", name="Dossier vrijgeven").count()


def test_the_school_records_the_parents_view_and_releases_in_one_post(
    real: RealBackbone, page: Any
) -> None:
    """The full form: the OSO file recorded no parents' view, so the school records it (not
    agreed, one category opted out) and releases with the parents' copy in one post; po→vo is a
    legal duty, so no consent is asked. The handover service delivers without the opted-out."""
    school = real.sites[SCHOOL.partner]
    plan = f"{school}/plan/{real.story.unviewed_child}"
    form = open_handover_form(
        page, plan, "Inzage ouders vastleggen en vrijgeven", "Inzage ouders en vrijgeven"
    )
    assert 0 == page.get_by_role("form", name="Dossier vrijgeven").count()
    assert 0 == form.get_by_label("Toestemming van de ouders").count()  # po→vo: legal duty
    form.get_by_label("De ouders zagen het dossier in op").fill(today().isoformat())
    form.get_by_label("Akkoord met het dossier?").select_option("nee")
    form.get_by_label("Waarom niet akkoord (versleuteld)").fill("Het verzuim hoort er niet bij.")
    form.locator("input[name=opt_uit][value=verzuim]").check()
    form.get_by_label("Dossier nu vrijgeven aan Het Lyceum").check()
    form.get_by_label("De ouders kregen een kopie op").fill(today().isoformat())
    row_text = delivered_after(page, plan, form, "Vastleggen", "echt-overdracht-inzage.png")
    assert f"ouders zagen het dossier in op {day(today())}" in row_text
    assert f"kopie aan de ouders {day(today())}" in row_text
    assert 0 == page.get_by_role("form", name="Inzage ouders en vrijgeven").count()
    # Playwright's sync API keeps an event loop on this thread: read the stream on another.
    with ThreadPoolExecutor(1) as reader:
        delivered = reader.submit(
            asyncio.run, _delivered(real, real.story.unviewed_handover_id)
        ).result()
    assert ["verzuim"] == [s.category for s in delivered.data.withheld if s.rule == "OPT-UIT"]
    assert "verzuim" not in [s.category for s in delivered.data.sections]


async def _delivered(real: RealBackbone, handover_id: str) -> Any:
    """The handover service's dossier-delivered for `handover_id`, read as the backbone."""
    async with Connections(real.url, credential_source(real.settings)) as conns:
        return await arr.wait_for(
            await conns.user(arr.SUPERVISOR_USER),
            "dossier-delivered",
            lambda e: str(e.data.handover_id) == handover_id,
            stream=HANDOVER,
        )


def test_leerplicht_answers_the_verzuimmelding_and_decides_its_signal_from_the_werklijst(
    real: RealBackbone, page: Any
) -> None:
    site = real.sites[LEERPLICHT]
    plan, worklist = f"{site}/plan/{real.story.child}", f"{site}/werklijst"
    log_in(page, plan, "lpa-lingewaard")
    form = page.get_by_role("form", name="Verzuimmelding beantwoorden")
    form.get_by_label("Stand").select_option("afgesloten")
    form.get_by_label("Reden van afsluiten").select_option("zorg-ingezet")
    form.get_by_role("button", name="Verzuimmelding beantwoorden").click()
    page.wait_for_url(f"{plan}?verstuurd=beantwoord")

    report = shows(page, plan, "Afgesloten sinds", "#aanwezigheid ~ ul")
    page.screenshot(path=str(ARTIFACTS / "echt-verzuimmelding.png"), full_page=True)
    assert f"Afgesloten sinds {day(today())} (reden: zorg-ingezet)" in report
    assert 0 == page.get_by_role("form", name="Verzuimmelding beantwoorden").count()

    # The werklijst asks leerplicht whether it signals to the Verwijsindex: it does.
    page.goto(worklist)
    decide = page.locator("tbody tr").filter(has_text="besluit of u een signaal afgeeft")
    decide.get_by_role("link").click()
    page.wait_for_url(plan)
    form = page.get_by_role("form", name="Signaal afgeven")
    assert 0 == form.get_by_label("Geboortedatum").count()  # opened on the plan (identity)
    form.get_by_label("Schoolverzuim (leerplicht)").check()
    form.get_by_label("Hoe bent u bereikbaar bij een match?").fill("Leerplicht, 026-9998877")
    form.get_by_role("button", name="Signaal afgeven").click()
    page.wait_for_url(f"{plan}?verstuurd=signaal")

    signals = "#signalen + ul"
    shows(page, plan, f"Leerplicht en RMC Lingewaard, {day(today())}: actief", signals)
    gone(page, worklist, "besluit of u een signaal afgeeft", "the decision off the werklijst")


def test_the_gemeente_decides_the_funding_dispute_it_holds(real: RealBackbone, page: Any) -> None:
    site = real.sites[GEMEENTE]
    plan, worklist = f"{site}/plan/{real.story.child}", f"{site}/werklijst"
    log_in(page, worklist, "beleid-gemeente")
    due = page.locator("tbody tr").filter(has_text="Geschil over bekostiging: beslissen")
    due.get_by_role("link").click()
    page.wait_for_url(plan)
    form = page.get_by_role("form", name="Geschil beslissen")
    form.get_by_label("Samenwerkingsverband (%)").fill("30")
    form.get_by_label("Gemeente (%)").fill("70")
    form.get_by_role("button", name="Geschil beslissen").click()
    page.wait_for_url(f"{plan}?verstuurd=beslist")

    arrangements = shows(page, plan, "Geschil: beslist", "#arrangementen + ul")
    page.screenshot(path=str(ARTIFACTS / "echt-geschil.png"), full_page=True)
    assert "Bekostiging: samenwerkingsverband 30%, gemeente 70%" in arrangements
    assert 0 == page.get_by_role("form", name="Geschil beslissen").count()
    gone(page, worklist, "Geschil over bekostiging", "the dispute off the werklijst")


def test_nothing_the_forms_sent_was_dead_lettered(real: RealBackbone) -> None:
    found = asyncio.run(dead_letters(real.settings, real.url))

    # The story's own poison message (demo/story.py), and nothing the forms sent.
    assert ["invalid-json"] == [d["reason"] for d in real.story.dead_letters]
    assert real.story.dead_letters == found

"""What became of a form, in a real Chromium: after a form publishes, the page says what the
service decided on the receipt of that event: verwerkt; niet verwerkt, with the reason in Dutch
and its code; or nog niet bevestigd, with a link to look again that tells it once the receipt is
in. The outcome is shown on the plan of the child the form was about only, and nothing of the
child goes into the log. A parent's form refused says so, with the reason, instead of sent.

The stand-in portal answers each event with a receipt as the services do on the feed
(tests/browser/site.py); over NATS it is tests/integration/test_web_receipts.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.integral_plan.domain import NotALinkedParentError, NotAPartyError
from tests.browser.site import ARTIFACTS, CHROMIUM, KID, Site, log_in
from tests.events import CHILD
from tests.oidc import available

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing"),
    pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing"),
]


def set_goal(page: Any, text: str) -> None:
    form = page.get_by_role("form", name="Doel stellen")
    form.get_by_label("Domein").select_option("onderwijs")
    form.get_by_label("Wat is het doel?").fill(text)
    form.get_by_role("button", name="Doel stellen").click()


def test_a_goal_the_plan_service_takes_is_shown_as_processed(
    wijkteam: Site, plan: str, page: Any
) -> None:
    set_goal(page, "Lotte leest elke dag een kwartier.")
    page.wait_for_url(f"{plan}?verstuurd=doel")
    page.screenshot(path=str(ARTIFACTS / "ontvangst-verwerkt.png"), full_page=True)

    receipt = wijkteam.portal.given[wijkteam.portal.published[-1].id]
    assert "accepted" == receipt.status
    assert "Het doel is verwerkt." == page.get_by_role("status").inner_text().strip()
    assert 0 == page.locator("main > .fouten").count()
    assert "Lotte leest elke dag een kwartier." in page.locator("main").inner_text()


def test_a_refused_goal_shows_the_reason_in_dutch_and_its_code(
    wijkteam: Site, plan: str, page: Any
) -> None:
    # Between the page and the plan service's decision the wijkteam left the plan.
    wijkteam.portal.refuse = NotAPartyError("wijkteam-lingewaard is not a party")
    set_goal(page, "Lotte gaat naar de bibliotheek.")
    page.wait_for_url(f"{plan}?verstuurd=doel")
    page.screenshot(path=str(ARTIFACTS / "ontvangst-geweigerd.png"), full_page=True)

    receipt = wijkteam.portal.given[wijkteam.portal.published[-1].id]
    assert ("refused", "not-a-party") == (receipt.status, receipt.reason)
    assert (
        "Het doel is niet verwerkt: uw organisatie neemt (niet meer) deel aan dit plan "
        "(code: not-a-party)."
    ) == page.locator("main > .fouten").locator("p").inner_text().strip()
    assert 0 == page.locator("main > p.verstuurd").count()
    assert "Lotte gaat naar de bibliotheek." not in page.locator("main").inner_text()


def test_a_goal_without_a_receipt_yet_says_so_and_the_link_tells_it_later(
    wijkteam: Site, plan: str, page: Any
) -> None:
    wijkteam.portal.silent = True
    try:
        set_goal(page, "Lotte slaapt voor tienen.")
        page.wait_for_url(f"{plan}?verstuurd=doel")
        pending = page.get_by_role("status").inner_text()
        page.screenshot(path=str(ARTIFACTS / "ontvangst-onbevestigd.png"), full_page=True)
    finally:
        wijkteam.portal.silent = False
    wijkteam.portal.answer_withheld()
    page.get_by_role("link", name="Later opnieuw kijken").click()
    page.wait_for_url(f"{plan}?verstuurd=doel")

    assert "Het doel is verstuurd, maar nog niet bevestigd." in pending
    assert "Het doel is verwerkt." == page.get_by_role("status").inner_text().strip()


def test_the_outcome_shows_only_on_the_plan_of_the_child_the_form_was_about(
    wijkteam: Site, plan: str, page: Any
) -> None:
    wijkteam.portal.refuse = NotAPartyError("wijkteam-lingewaard is not a party")
    set_goal(page, "Lotte fietst naar school.")
    page.wait_for_url(f"{plan}?verstuurd=doel")
    assert 1 == page.locator("main > .fouten").count()

    page.goto(f"{wijkteam.url}/plan/{KID}?verstuurd=doel")

    assert 0 == page.get_by_role("status").count()
    assert 0 == page.locator("main > .fouten").count()


def test_the_log_of_a_form_and_its_outcome_names_no_child_and_nothing_it_said(
    wijkteam: Site, plan: str, page: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = "Kanarie-doel Xanthippe"
    capfd.readouterr()
    wijkteam.portal.refuse = NotAPartyError("wijkteam-lingewaard is not a party")
    set_goal(page, canary)
    page.wait_for_url(f"{plan}?verstuurd=doel")
    set_goal(page, canary + " opnieuw")
    page.wait_for_url(f"{plan}?verstuurd=doel")
    written = capfd.readouterr()
    log = written.out + written.err
    lines = [json.loads(line) for line in log.splitlines() if '"web.published"' in line]

    assert ["geweigerd", "verwerkt"] == [line["outcome"] for line in lines]
    assert canary not in log and CHILD not in log


def test_a_parents_refused_objection_says_why_instead_of_sent(wijkteam: Site, page: Any) -> None:
    # The plan service refuses the account's objection: its link ended meanwhile.
    wijkteam.portal.refuse = NotALinkedParentError("the account is not linked to the child")
    log_in(page, f"{wijkteam.url}/ouders/{CHILD}/bezwaar", "ouder-demo-0001")
    page.get_by_label("Tegen welke organisatie").select_option(label="Sociaal Team Lingewaard")
    page.get_by_label("Tegen het gebruik van welke gegevens").select_option(value="plan")
    page.get_by_role("button", name="Bezwaar maken").click()
    page.screenshot(path=str(ARTIFACTS / "ouders-bezwaar-geweigerd.png"), full_page=True)

    receipt = wijkteam.portal.given[wijkteam.portal.published[-1].id]
    assert ("refused", "not-a-linked-parent") == (receipt.status, receipt.reason)
    assert "Niet verwerkt" == page.get_by_role("heading", level=1).inner_text()
    assert (
        "Uw bezwaar is niet verwerkt: uw account is niet (meer) aan dit kind gekoppeld "
        "(code: not-a-linked-parent)."
    ) in page.locator("main").inner_text()
    assert "verstuurd" not in page.locator("main").inner_text()

"""The web pages in a real headless Chromium (Debian's), driven by Playwright.

The pages run on uvicorn on 127.0.0.1 against an in-memory plan and a stand-in keyring (the
pages are what is tested here; the real portal over NATS is in tests/integration). Screenshots
go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.keyring import KeyRefusedError
from ketenbus_partner.plan import open_plan
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.integral_plan.query import NotOnPlanError, PlanAccess
from services.integral_plan.web import create_web_app
from tests.events import (
    CHILD,
    JGZ,
    NOW,
    PO,
    SCHOOL,
    WIJKTEAM,
    action,
    agreement,
    arrangement_agreed,
    dispute_escalated,
    done,
    enrolled,
    funding_disputed,
    goal,
    handover_escalated,
    handover_started,
    joined,
    match,
    regie,
    signal,
    support_requested,
    three_month_rule,
    thuiszitter_registered,
    verzuim_report,
    youth_care_decided,
)

KID = "e" * 32
CARE = "Ambulante gezinsbegeleiding"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing")


def clear(text: str, **fields: Any) -> dict[Purpose, str]:
    """A stand-in 'sealed' section the stand-in keyring opens (the real sealing is elsewhere)."""
    return {Purpose.PLAN: "test:" + json.dumps({"text": text} | fields)}


class StandInKeyring:
    """Opens `test:` sections; refuses the signalling purpose, as kluis does without a role."""

    def __init__(self, partner: str) -> None:
        self.partner = partner

    async def open_token(self, token: str, *, event_id: uuid.UUID) -> dict[str, Any]:
        if not token.startswith("test:"):
            raise KeyRefusedError("role-not-permitted", "stand-in", purpose=Purpose.SIGNALLING)
        opened: dict[str, Any] = json.loads(token[5:])
        return opened


class LocalPortal:
    def __init__(self, app: IntegralPlanApplication, access: PlanAccess, partner: str) -> None:
        self.partner = partner
        self.app = app
        self.access = access

    async def plan(self, child: str) -> dict[str, Any] | None:
        try:
            visible = self.access.visible_plan(self.app.plan_of(child), self.partner)
        except (UnknownPlanError, NotOnPlanError):
            return None
        return await open_plan(visible, StandInKeyring(self.partner))  # type: ignore[arg-type]

    async def worklist(self) -> dict[str, Any]:
        return self.app.worklist(self.partner)

    async def shared(self, child: str) -> dict[str, Any] | None:
        try:
            return self.app.plan_of(child)
        except UnknownPlanError:
            return None

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        raise NotImplementedError


def story() -> IntegralPlanApplication:
    """Two signals and a match; the wijkteam joins with regie; goals, agreements, actions."""
    app = IntegralPlanApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW
    )
    d = date(2026, 11, 19)
    app.apply(signal(SCHOOL, date(2026, 10, 20), sealed={Purpose.SIGNALLING: "sealed"}))
    app.apply(signal(JGZ, date(2026, 10, 23), sealed={Purpose.SIGNALLING: "sealed"}))
    app.apply(match([SCHOOL, JGZ], datetime(2026, 11, 18, 9, tzinfo=NOW.tzinfo)))
    app.apply(joined(SCHOOL, WIJKTEAM, d))
    app.apply(regie(SCHOOL, WIJKTEAM, d))
    app.apply(goal(WIJKTEAM, d, sealed=clear("Lotte gaat weer elke dag naar school.")))
    parties = [SCHOOL, JGZ, WIJKTEAM]
    # An agreement sealed under a key this reader's stand-in keyring refuses.
    app.apply(agreement(WIJKTEAM, parties, d, sealed={Purpose.PLAN: "sealed"}))
    late = clear("", what="Huisbezoek over slapen en eten")
    app.apply(action(WIJKTEAM, JGZ, WIJKTEAM, date(2026, 11, 10), date(2026, 11, 20), sealed=late))
    soon = clear("", what="Taaltoets afnemen")
    app.apply(action(WIJKTEAM, SCHOOL, WIJKTEAM, d, date(2026, 11, 26), sealed=soon))
    first = action(
        WIJKTEAM,
        WIJKTEAM,
        SCHOOL,
        d,
        date(2026, 11, 21),
        sealed=clear("", what="Gesprek met ouders plannen"),
    )
    app.apply(first)
    report = clear("", report="Gesprek op 2 december.", follow_up="School sluit aan.")
    app.apply(done(WIJKTEAM, first, date(2026, 11, 21), sealed=report))
    for event in other_domains():
        app.apply(event)
    return app


def other_domains() -> list[Any]:
    """A second child: a handover over its date, support and youth care, a thuiszitter."""
    started = handover_started(date(2026, 11, 10), date(2026, 9, 1), KID)
    agreed = arrangement_agreed(date(2026, 10, 1), KID)
    disputed = funding_disputed(agreed, date(2026, 10, 5))
    care = youth_care_decided(date(2026, 10, 2), KID)
    care = care.model_copy(
        update={
            "data": care.data.model_copy(
                update={"sealed": {Purpose.YOUTH_CARE: "test:" + json.dumps({"product": CARE})}}
            )
        }
    )
    return [
        enrolled(PO, date(2026, 8, 20), KID),
        started,
        handover_escalated(started, date(2026, 11, 12)),
        support_requested(date(2026, 9, 15), KID),
        care,
        agreed,
        disputed,
        dispute_escalated(disputed, date(2026, 10, 20)),
        verzuim_report(date(2026, 9, 30), KID),
        thuiszitter_registered(date(2026, 9, 1), KID),
        three_month_rule(date(2026, 9, 1), date(2026, 11, 20), KID),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, WIJKTEAM.partner)


@pytest.fixture
def school_site(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, PO)


def serve(tmp_path: Path, partner: str) -> Iterator[str]:
    access = PlanAccess.load(tmp_path)
    web = create_web_app(LocalPortal(story(), access, partner), access, lambda: NOW)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900}, locale="nl-NL")
        finally:
            browser.close()


def visit(page: Any, url: str, screenshot: str = "") -> str:
    """Open `url`; the text of its main content (and a screenshot for a person to look at)."""
    page.goto(url)
    if screenshot:
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    return str(page.locator("main").inner_text())


def test_the_worklist_shows_the_access_team_what_to_pick_up(site: str, page: Any) -> None:
    page.goto(f"{site}/werklijst")
    page.screenshot(path=str(ARTIFACTS / "werklijst.png"), full_page=True)

    assert "nl" == page.locator("html").get_attribute("lang")
    assert "Werklijst van Sociaal Team Lingewaard" == page.locator("h1").inner_text()
    rows = page.locator("tbody tr")
    assert 2 == rows.count()
    assert "Actie over datum" in rows.nth(0).inner_text()
    assert "4 dagen over datum" in rows.nth(0).inner_text()
    assert "Actie binnenkort" in rows.nth(1).inner_text()
    page.get_by_role("link", name="Plan van kind").first.click()
    assert page.url.endswith(f"/plan/{CHILD}")


def test_a_childs_plan_shows_who_does_what_and_the_timeline(site: str, page: Any) -> None:
    page.goto(f"{site}/plan/{CHILD}")
    page.screenshot(path=str(ARTIFACTS / "plan.png"), full_page=True)

    body = page.locator("main").inner_text()
    assert "Lotte gaat weer elke dag naar school." in body
    assert "Huisbezoek over slapen en eten" in body
    assert "Over datum" in body
    assert "Gesprek op 2 december." in body
    # A section the reader's keys do not open says so; a signal's concern is not even offered
    # to the wijkteam sealed (Jeugdwet afdeling 7.1: it stays with its signaller).
    assert 1 == body.count("versleuteld, u mag dit niet inzien")
    assert "Afspraken" in body and "Elke maand" not in body
    actions = page.get_by_role("table", name="Wie doet wat, en koppelt terug aan wie, wanneer")
    assert 3 == actions.locator("tbody tr").count()
    timeline = page.locator("ol.timeline li")
    # The signals and the match are not the wijkteam's to see (the match did not notify it).
    assert "zorgsignaal" not in body
    assert "actie afgesproken" in timeline.first.inner_text()
    assert 8 == timeline.count()  # eleven less two signals and the match


def test_parents_see_what_is_shared_and_with_whom_but_not_the_content(site: str, page: Any) -> None:
    body = visit(page, f"{site}/ouders/{CHILD}", "ouders.png")
    table = page.get_by_role("table", name="Betrokken organisaties")
    assert 3 == table.locator("tbody tr").count()
    assert "Basisschool De Regenboog" in body
    assert "Plan: doelen, afspraken en acties" in body
    assert "Lotte" not in body
    assert "Huisbezoek" not in body


def test_an_unknown_child_gets_a_plain_not_found_page(site: str, page: Any) -> None:
    response = page.goto(f"{site}/plan/{'d' * 32}")

    assert 404 == response.status
    assert "Niet gevonden" == page.locator("h1").inner_text()


def test_the_schools_worklist_shows_a_stalled_handover_and_a_thuiszitter_escalation(
    school_site: str, page: Any
) -> None:
    page.goto(f"{school_site}/werklijst")
    page.screenshot(path=str(ARTIFACTS / "werklijst-school.png"), full_page=True)

    rows = page.locator("tbody tr")
    mine = [
        rows.nth(i).inner_text() for i in range(rows.count()) if KID[:8] in rows.nth(i).inner_text()
    ]
    assert 2 == len(mine)
    assert "Thuiszitter: escalatie" in mine[0] and "84 dagen thuis" in mine[0]
    assert "Overdracht stokt" in mine[1] and "opgeschaald (niveau 2)" in mine[1]
    assert "14 dagen over datum" in mine[1]


def test_a_childs_plan_shows_handovers_arrangements_and_attendance(site: str, page: Any) -> None:
    body = visit(page, f"{site}/plan/{KID}", "plan-domeinen.png")
    handovers = page.get_by_role("table", name="Overdrachten naar een volgende school of opvang")
    assert 1 == handovers.locator("tbody tr").count()
    assert "PO → VO" in handovers.inner_text() and "loopt" in handovers.inner_text()
    assert "Onderwijs-zorgarrangement" in body
    assert "Geschil: voorgelegd aan doorzettingsmacht" in body
    assert "samenwerkingsverband 60%, gemeente 40%" in body
    assert CARE in body  # the wijkteam opens the youth-care section
    assert "Stand: Thuiszitter" in body
    assert "overdracht over datum: opgeschaald" in page.locator("ol.timeline").inner_text()


def test_parents_see_the_kinds_of_information_from_every_domain_but_not_the_content(
    site: str, page: Any
) -> None:
    body = visit(page, f"{site}/ouders/{KID}")
    assert "Overdracht naar een nieuwe school of opvang" in body
    assert "Jeugdhulp" in body
    assert "Inschrijving en aanwezigheid op school (leerplicht)" in body
    assert CARE not in body

"""The web app for the tests: an in-memory plan (a story of two children), a stand-in keyring,
the app on uvicorn on 127.0.0.1, and a real OpenID provider (tests/oidc) to log in at.

The pages are what is tested with this; the real portal over NATS is in tests/integration.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import uvicorn

from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.handover import DossierDelivered, DossierDeliveredData, DossierReleased
from ketenbus_contracts.plan import Party
from ketenbus_contracts.pseudonym import InvalidBsnError, child_pseudonym
from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.keyring import KeyRefusedError
from ketenbus_partner.plan import open_plan
from ketenbus_partner.pseudonyms import PseudonymRefusedError
from services.integral_plan.application import IntegralPlanApplication, UnknownPlanError
from services.integral_plan.domain import PlanError
from services.integral_plan.portal import prepared_dossiers
from services.integral_plan.query import NotOnPlanError, PlanAccess
from services.integral_plan.web import create_web_app
from services.integral_plan.web_auth import LoginConfig, WebSettings
from services.integral_plan.web_records import MemoryLog
from services.runtime.partners import PartnerRegistry
from services.runtime.receipts import receipt
from tests.events import (
    JGZ,
    NOW,
    PARENT,
    PO,
    SCHOOL,
    SWV,
    VO,
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
    parent_linked,
    regie,
    signal,
    support_requested,
    three_month_rule,
    thuiszitter_registered,
    verzuim_report,
    youth_care_decided,
)
from tests.integration.helpers import wait_until
from tests.oidc import PASSWORD, OidcProvider

KID = "e" * 32
PSEUDONYM_SECRET = b"the pseudonym service's stand-in secret for the web tests"
CARE = "Ambulante gezinsbegeleiding"
PUPIL = "Sem de Vries"  # the second child's name, sealed under identity in its enrolment


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
    """The plan service's stand-in: what is published is applied to the in-memory plan at once
    and answered with a receipt, as the services do on the feed: refused (the plan's own rules,
    or `refuse`: what a service the stand-in lacks would refuse), else accepted; none while
    `silent` (the service has not decided yet)."""

    def __init__(self, app: IntegralPlanApplication, access: PlanAccess, partner: str) -> None:
        self.partner = partner
        self.app = app
        self.access = access
        self.published: list[Any] = []
        self.given: dict[uuid.UUID, Receipt] = {}
        self.refuse: Exception | None = None
        self.silent = False
        self.withheld: list[Any] = []

    async def plan(self, child: str) -> dict[str, Any] | None:
        try:
            visible = self.access.visible_plan(self.app.plan_of(child), self.partner)
        except (UnknownPlanError, NotOnPlanError):
            return None
        return await open_plan(visible, StandInKeyring(self.partner))  # type: ignore[arg-type]

    async def worklist(self) -> dict[str, Any]:
        return self.app.worklist(self.partner)

    async def pseudonym(self, bsn: str) -> str:
        """The pseudonym service's stand-in: the same keyed hash under a test secret, and its
        refusal of a BSN failing the elfproef (the web app checks it before asking)."""
        try:
            return child_pseudonym(PSEUDONYM_SECRET, bsn)
        except InvalidBsnError:
            raise PseudonymRefusedError("invalid-bsn", "stand-in") from None

    async def shared(self, child: str) -> dict[str, Any] | None:
        try:
            return self.app.plan_of(child)
        except UnknownPlanError:
            return None

    async def forward(self, subject: str, token: bytes) -> dict[str, Any]:
        raise NotImplementedError

    async def seal(
        self, model: Any, *, child: str, event_id: uuid.UUID, scope: str | None = None
    ) -> dict[Purpose, str]:
        return {Purpose.PLAN: "test:" + model.model_dump_json()}

    async def publish(self, event: Any) -> None:
        self.published.append(event)
        refusal, self.refuse = self.refuse, None
        if refusal is None:
            try:
                self.app.apply(delivered(event) if isinstance(event, DossierReleased) else event)
            except PlanError as exc:
                refusal = exc
        if self.silent:
            self.withheld.append((event, refusal))
        else:
            self.answer(event, refusal)

    def answer(self, event: Any, refusal: Exception | None = None) -> None:
        """The receipt of `event` on the partner's feed."""
        seq = len(self.given) + 1
        given = receipt("integral-plan", event.source, stream_seq=seq, event_id=event.id,
                        refusal=refusal)  # fmt: skip
        self.given[event.id] = given

    def answer_withheld(self) -> None:
        """The receipts held back while `silent`, given now."""
        for event, refusal in self.withheld:
            self.answer(event, refusal)
        self.withheld.clear()

    async def receipts(
        self, event_ids: Sequence[uuid.UUID], wait: float
    ) -> Mapping[uuid.UUID, Receipt]:
        return {i: self.given[i] for i in event_ids if i in self.given}

    async def publish_as_parent(self, event: Any, parent: str, wait: float = 0.0) -> Receipt | None:
        assert event.source == parent
        await self.publish(event)
        return self.given.get(event.id)

    async def parents_view(self, child: str, parent: str) -> dict[str, Any] | None:
        try:
            plan, parents = self.app.plan_of(child), self.app.parents_of(child)
            return self.access.visible_plan(plan, parent, parents)
        except (UnknownPlanError, NotOnPlanError):
            return None

    async def linked_children(self, parent: str) -> list[dict[str, Any]]:
        return self.app.children_of(parent)

    async def parents_dossier(self, child: str, parent: str) -> list[dict[str, Any]] | None:
        view = await self.parents_view(child, parent)
        if view is None:
            return None
        return await prepared_dossiers(view, StandInKeyring(parent))  # type: ignore[arg-type]


def delivered(released: DossierReleased) -> DossierDelivered:
    """The handover service's stand-in: a released dossier is delivered to the receiver the
    plan names (over NATS the handover service checks the release first)."""
    return DossierDelivered.create(
        source="ketenbus.handover",
        subject=released.subject,
        data=DossierDeliveredData(
            handover_id=released.data.handover_id,
            sender=released.source,
            receiver=VO,
            delivered_on=released.data.released_on,
            sections=[],
            withheld=[],
            parents_copy_on=released.data.parents_copy_on,
        ),
    )


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
    # The school links the parent's account (with consent); the parent keeps a sleep diary.
    app.apply(parent_linked(PO, consent_on=date(2026, 9, 1)))
    diary = clear("", what="Slaapdagboek bijhouden")
    parent = Party(partner=PARENT, role="ouder", contact="via het sociaal team")
    app.apply(joined(WIJKTEAM, parent, d))
    app.apply(action(WIJKTEAM, parent, WIJKTEAM, d, date(2027, 1, 15), sealed=diary))
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
    enrolment = enrolled(PO, date(2026, 8, 20), KID)
    who = "test:" + json.dumps({"name": PUPIL, "birth_date": "2014-05-03"})
    enrolment = enrolment.model_copy(
        update={"data": enrolment.data.model_copy(update={"sealed": {Purpose.IDENTITY: who}})}
    )
    return [
        enrolment,
        started,
        handover_escalated(started, date(2026, 11, 12)),
        support_requested(date(2026, 9, 15), KID),
        care,
        agreed,
        disputed,
        holders(dispute_escalated(disputed, date(2026, 10, 20)), SWV, "gemeente-lingewaard"),
        verzuim_report(date(2026, 9, 30), KID),
        thuiszitter_registered(date(2026, 9, 1), KID),
        three_month_rule(date(2026, 9, 1), date(2026, 11, 20), KID),
    ]


def holders(escalated: Any, *partners: str) -> Any:
    """The escalation with `partners` as the holders of doorzettingsmacht, as the register has
    them for the region (infra/arrangements/doorzettingsmacht.yaml: the SWV and the gemeente)."""
    named = [
        escalated.data.holders[0].model_copy(update={"partner": p, "function": "directie"})
        for p in partners
    ]
    return escalated.model_copy(
        update={"data": escalated.data.model_copy(update={"holders": named})}
    )


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


def log_in(page: Any, url: str, user: str) -> None:
    """Open `url`; at the provider's form, log in as `user` and come back."""
    page.goto(url)
    page.get_by_label("Gebruikersnaam").fill(user)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url)


PARENTS_CLIENT = "ketenbus-ouders"
CALLBACKS = ("/inloggen/terug", "/ouders/inloggen/terug")


def client_id(partner: str) -> str:
    provider = PartnerRegistry.load().entry(partner).identity_provider
    assert provider is not None
    return provider.client_id


@contextmanager
def running_provider(tmp: Path, ports: dict[str, int]) -> Iterator[OidcProvider]:
    """A real OpenID provider with a client for each partner's site (partner -> port) and the
    parents' client for all of them."""
    clients = {
        client_id(partner): [f"http://127.0.0.1:{port}{CALLBACKS[0]}"]
        for partner, port in ports.items()
    }
    clients[PARENTS_CLIENT] = [f"http://127.0.0.1:{p}{CALLBACKS[1]}" for p in ports.values()]
    provider = OidcProvider.start(tmp, clients)
    try:
        yield provider
    finally:
        provider.stop()


class Site:
    """One organisation's web app, running; its processing records in memory."""

    def __init__(self, url: str, records: MemoryLog, app: Any, portal: LocalPortal) -> None:
        self.url = url
        self.records = records
        self.app = app
        self.portal = portal


@contextmanager
def running_site(
    tmp: Path, partner: str, port: int, provider: OidcProvider, **options: Any
) -> Iterator[Site]:
    access = PlanAccess.load(tmp)
    settings = WebSettings(oidc_issuer=provider.issuer, parents_issuer=provider.issuer)
    login = LoginConfig.for_partner(partner, PartnerRegistry.load(), settings)
    records = MemoryLog()
    portal = LocalPortal(story(), access, partner)
    web = create_web_app(
        portal,
        access,
        lambda: NOW,
        login=login,
        records=records,
        **options,
    )
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=60.0, what="the web server")
    try:
        yield Site(f"http://127.0.0.1:{port}", records, web, portal)
    finally:
        server.should_exit = True
        thread.join(30)

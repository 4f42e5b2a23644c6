"""The parents' pages of the web app (ouderinzage), beside the organisation's in `web.py`.

- `/ouders`: the children a school or the municipality linked the logged-in parent's account
  to (`parent-linked`, asked as that account: the plan service lists only its own links), each
  linking to `/ouders/{kind}`;
- `/ouders/{kind}/toestemming`: the parents give, refuse or withdraw their consent on a
  handover where the law asks it (`basis: consent` in infra/handover/rules.yaml, from childcare
  for one), once the school recorded that they viewed the dossier;
  where the pupil is 16 or older the pupil decides, not the parents: the pupil logs in as the
  parents do (the same provider and assurance level) as their own account (registry role pupil,
  linked to their record by the same link) and gives, refuses or withdraws the pupil's consent
  there (`given_by: pupil`), never the parents' nor on an OPP's handelingsdeel. Each answer is a
  `consent-recorded` or `consent-withdrawn` published as the parent's own account, signed with
  its key, with the person's pseudonymous id in `ketenbusactor`; the handover service takes it
  only from an account a school or the municipality linked to the child, and a dossier not yet
  delivered does not go on consent withdrawn. On the same page the parents answer on an OPP's
  handelingsdeel (`handelingsdeel-consented`, as their account; the arrangements service takes
  it only from an account linked to the child);
- `/ouders/{kind}/bezwaar`: a parent, or the pupil from 16 (their own account), records an
  objection (bezwaar, AVG art. 21) against one organisation on the plan processing the child's
  data for a purpose (`objection-recorded`, as that own account) and sees each one's decision;
  the organisation objected to finds it on its werklijst and decides at
  `/plan/{kind}/bezwaren` (`objection-decided`, as the organisation with the person in it;
  function action `decide-objection`);
- the Dutch labels of the handover dossier's page (OSO categories, disclosure rules, fields),
  and of a dossier prepared before its sections travelled sealed: "niet beschikbaar voor
  inzage".

A parent is known here by their account (an opaque id in the partner registry, role parent)
and in records by a pseudonymous id (a hash of issuer and subject), never by name or BSN.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import structlog
from fastapi import FastAPI, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from ketenbus_contracts.arrangements import HandelingsdeelConsented, HandelingsdeelConsentedData
from ketenbus_contracts.envelope import PSEUDONYM_PATTERN, CloudEvent
from ketenbus_contracts.feed import Receipt
from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    ConsentWithdrawn,
    ConsentWithdrawnData,
)
from ketenbus_contracts.plan import (
    ObjectionDecided,
    ObjectionDecidedData,
    ObjectionRecorded,
    ObjectionRecordedData,
)
from ketenbus_contracts.purposes import Purpose
from services.integral_plan.portal import Portal
from services.integral_plan.query import PlanAccess
from services.integral_plan.web_auth import (
    PARENT,
    LoginRequiredError,
    Person,
    csrf_ok,
    person_of,
    professional_of,
)
from services.integral_plan.web_receipts import outcome
from services.integral_plan.web_records import Recorder, WebOperation
from services.runtime.parent_links import OWN_ACCOUNT_ROLES, PUPIL_ROLE

Page = Callable[..., HTMLResponse]
Message = Callable[[Request, int, str, str], HTMLResponse]
Child = Annotated[str, PathParam(pattern=PSEUDONYM_PATTERN)]
log = structlog.get_logger("web")

NOT_LINKED = "Er is over dit kind niets gedeeld, of u bent niet aan dit kind gekoppeld."
NOT_ON_PLAN = "Er is geen plan van dit kind waarbij u betrokken bent."
GIVE, REFUSE, WITHDRAW = "geven", "weigeren", "intrekken"
AGREE, DISAGREE = "instemmen", "niet-instemmen"
CONSENT_STATUS = {
    None: "nog niet gegeven",
    "granted": "gegeven",
    "refused": "geweigerd",
    "withdrawn": "ingetrokken",
}
OBJECTION_STATUS = {None: "in behandeling", "upheld": "toegewezen", "rejected": "afgewezen"}
DECISIONS = {"upheld": "Toewijzen: wij stoppen met deze verwerking", "rejected": "Afwijzen"}
EXPIRED = "Het formulier is verlopen; probeer het opnieuw."
HANDELINGSDEEL = {
    "pending": "nog niet gegeven",
    "granted": "ingestemd",
    "refused": "niet ingestemd",
}

# OSO gegevensset 2019.1 categories (infra/handover/oso-categories.yaml), as parents read them.
CATEGORIES = {
    "metadata": "Gegevens over het dossier",
    "ouderinzage": "Inzage door ouders",
    "school": "De huidige school",
    "leerling": "Uw kind",
    "oudersverzorgers": "Ouders en verzorgers",
    "vve": "Voor- en vroegschoolse educatie",
    "schoolloopbaan": "Schoolloopbaan",
    "overstapadvies": "Overstapadvies",
    "onderwijsondersteuning": "Ondersteuning op school",
    "verzuim": "Verzuim",
    "eindtoetsbo": "Eindtoets basisonderwijs",
    "toetsresultaten": "Toetsresultaten",
    "handelingsplannen": "Handelingsplannen",
    "cijferlijsten": "Cijferlijsten",
    "vombo": "Vooropleiding mbo",
    "bijlagedocs": "Bijlagen",
    "early-education": "Overdracht van de opvang (ontwikkeling, VVE)",
}
RULES = {
    "VERPLICHT": "gaat altijd mee",
    "OPT-UIT": "gaat mee, tenzij u bezwaar maakt",
    "VERBODEN": "gaat nooit mee",
}
DOSSIER_FIELDS = {
    "text": "Tekst",
    "domains": "Ontwikkeling per gebied",
    "vve_programme": "VVE-programma",
    "vve_hours_per_week": "Uren VVE per week",
    "attended_from": "Op de opvang sinds",
    "what_helps": "Wat helpt bij dit kind",
    "parents_view": "Wat ouders ervan vinden",
    "reason_not_agreed": "Waarom niet akkoord",
}
TRANSITIONS = {
    "ko": "kinderopvang",
    "po": "basisschool",
    "so": "speciaal onderwijs",
    "vo": "voortgezet onderwijs",
    "mbo": "mbo",
}
NOT_OPENED = {
    "no-relation": "u bent (nog) niet aan uw kind gekoppeld voor dit deel",
    "relation-ended": "de koppeling is beëindigd",
    "scope-not-permitted": "dit deel is niet voor ouders",
    "child-erased": "de gegevens zijn gewist",
}


# To the pupil's own account, about themselves.
CATEGORIES_PUPIL = {"leerling": "Over u"}
NOT_OPENED_PUPIL = {"no-relation": "u bent (nog) niet aan uw gegevens gekoppeld voor dit deel"}


@pass_context
def category_label(context: Context, category: str) -> str:
    """An OSO category as the reader reads it (to the pupil: "Over u", not "Uw kind")."""
    if context.get("pupil") and category in CATEGORIES_PUPIL:
        return CATEGORIES_PUPIL[category]
    return CATEGORIES.get(category, category)


@pass_context
def not_opened_label(context: Context, code: str) -> str:
    """Why a part of the dossier did not open, as the reader reads it."""
    if context.get("pupil") and code in NOT_OPENED_PUPIL:
        return NOT_OPENED_PUPIL[code]
    return NOT_OPENED.get(code, "dit deel kon niet worden geopend")


def transition_label(code: str | None) -> str:
    """`po-vo` as `basisschool → voortgezet onderwijs`."""
    if not code:
        return ""
    return " → ".join(TRANSITIONS.get(part, part) for part in code.split("-"))


def value_label(value: Any) -> str:
    """A field's value as text: lists and nested fields readable, never a raw structure."""
    if isinstance(value, list):
        return "; ".join(value_label(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{DOSSIER_FIELDS.get(k, k)}: {value_label(v)}" for k, v in value.items())
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ParentsSite:
    """What the parents' pages need of the site `create_web_app` builds."""

    portal: Portal
    access: PlanAccess
    templates: Jinja2Templates
    page: Page
    message: Message
    record: Recorder
    today: Callable[[], date]
    receipt_wait: float = 0.0  # how long a form waits for the receipt of what it published

    async def as_parent(
        self,
        request: Request,
        parent: Person,
        event: CloudEvent[Any],
        told: tuple[str, str],
        purpose: Purpose = Purpose.PLAN,
    ) -> Response:
        """Publish `event` as the parent's (or the pupil's) own account, record the act for
        `purpose` and answer as `told`: what was sent, the page to go on to."""
        receipt = await self.portal.publish_as_parent(event, parent.partner, self.receipt_wait)
        self.record(parent, WebOperation.ACT, event.subject, purpose=purpose)
        return self.answered(request, parent, event, receipt, told)

    def answered(
        self,
        request: Request,
        person: Person,
        event: CloudEvent[Any],
        receipt: Receipt | None,
        told: tuple[str, str],
    ) -> Response:
        """After a form published `event` (logged with its outcome): a refusal told at once
        (its reason in Dutch and its code), else on to the page `told` names (`bevestigd=nee`
        when the receipt is not in yet)."""
        what, then = told
        said = outcome(what, [event.id], {event.id: receipt} if receipt else {})
        log.info(
            "web.published",
            type=event.type,
            event_id=str(event.id),
            employee=person.employee,
            outcome=said.verdict,
        )
        if said.verdict == "geweigerd":
            return self.message(request, 200, "Niet verwerkt", said.text)
        pending = "&bevestigd=nee" if said.verdict == "onbevestigd" else ""
        return RedirectResponse(then + pending, 303)


def parent_of(request: Request, site: ParentsSite) -> Person | Response:
    """The logged-in parent (or pupil: their own account, role pupil) with a known account;
    else to the parents' login, or refused."""
    person = person_of(request)
    if person is None or person.kind != PARENT:
        raise LoginRequiredError(request.url.path, PARENT)
    if site.access.directory.role_of(person.partner) not in OWN_ACCOUNT_ROLES:
        return site.message(request, 403, "Geen toegang", "Uw account is niet bekend bij ketenbus.")
    return person


def add_parents_routes(app: FastAPI, site: ParentsSite) -> None:
    """The parents' routes and the dossier page's labels, on `app`."""
    site.templates.env.filters.update(
        categorie=category_label,
        regel=lambda r: RULES.get(r, r),
        dossierveld=lambda f: DOSSIER_FIELDS.get(f, f),
        dossierwaarde=value_label,
        overstap=transition_label,
        niet_geopend=not_opened_label,
        toestemming=lambda status: CONSENT_STATUS.get(status, status),
        handelingsdeel=lambda status: HANDELINGSDEEL.get(status, status),
        bezwaarstatus=lambda status: OBJECTION_STATUS.get(status, status),
    )

    async def linked(
        request: Request, child: str, csrf: str | None = None
    ) -> tuple[Person, dict[str, Any]] | Response:
        """The logged-in parent and their view of the child (a read recorded; a form's CSRF
        token checked first when `csrf` is given); else the response that says why not."""
        parent = parent_of(request, site)
        if isinstance(parent, Response):
            return parent
        if csrf is not None and not csrf_ok(request, csrf):
            return site.message(request, 400, "Niet verstuurd", EXPIRED)
        view = await site.portal.parents_view(child, parent.partner)
        operation = WebOperation.READ_SHARED if csrf is None else WebOperation.ACT
        if view is None:
            site.record(parent, operation, child, shown=False, refusal="not-linked")
            return site.message(request, 404, "Niet gevonden", NOT_LINKED)
        if csrf is None:
            site.record(parent, operation, child)
        return parent, view

    @app.get("/ouders", response_class=HTMLResponse, summary="Ouderinzage: uw kinderen (HTML)")
    async def parents_home(request: Request) -> Response:
        parent = parent_of(request, site)
        if isinstance(parent, Response):
            return parent
        children = await site.portal.linked_children(parent.partner)
        return site.page(request, "ouders_kinderen.html", children=children, parents=True)

    @app.get(
        "/ouders/{child}/toestemming",
        response_class=HTMLResponse,
        summary="Ouders: toestemming geven of intrekken (HTML)",
    )
    async def consent_page(
        request: Request, child: Child, verstuurd: str = "", bevestigd: str = ""
    ) -> Response:
        found = await linked(request, child)
        if isinstance(found, Response):
            return found
        person, view = found
        pupil = is_pupil(person, site)
        return site.page(
            request,
            "ouders_toestemming.html",
            child=child,
            handovers=consent_handovers(view, pupil),
            opps=[] if pupil else handelingsdelen(view),
            pupil=pupil,
            sent=verstuurd in (GIVE, REFUSE, WITHDRAW, AGREE, DISAGREE) and verstuurd,
            pending=bevestigd == "nee",
            parents=True,
        )

    @app.post("/ouders/{child}/toestemming/{handover_id}", include_in_schema=False)
    async def answer_consent(
        request: Request,
        child: Child,
        handover_id: uuid.UUID,
        keuze: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        found = await linked(request, child, csrf)
        if isinstance(found, Response):
            return found
        parent, view = found
        pupil = is_pupil(parent, site)
        handover = next(
            (h for h in consent_handovers(view, pupil) if h["handover_id"] == str(handover_id)),
            None,
        )
        if handover is None or keuze not in handover["choices"]:
            return site.message(
                request, 400, "Niet verstuurd", "Voor deze overdracht kunt u dit nu niet kiezen."
            )
        event = consent_event(keuze, child, handover_id, parent, site.today(), pupil)
        told = ("Uw keuze", f"/ouders/{child}/toestemming?verstuurd={keuze}")
        return await site.as_parent(request, parent, event, told, Purpose.HANDOVER)

    @app.post("/ouders/{child}/handelingsdeel/{opp_id}", include_in_schema=False)
    async def answer_handelingsdeel(
        request: Request,
        child: Child,
        opp_id: uuid.UUID,
        keuze: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        found = await linked(request, child, csrf)
        if isinstance(found, Response):
            return found
        parent, view = found
        opp = next((o for o in handelingsdelen(view) if o["ref"] == str(opp_id)), None)
        # The handelingsdeel is the parents' to agree with, never the pupil's account's.
        if (
            opp is None
            or not opp["open"]
            or keuze not in (AGREE, DISAGREE)
            or is_pupil(parent, site)
        ):
            return site.message(
                request, 400, "Niet verstuurd", "Over dit OPP kunt u dit nu niet kiezen."
            )
        data = HandelingsdeelConsentedData(
            opp_id=opp_id, school=opp["by"], answered_on=site.today(), granted=keuze == AGREE
        )
        event = HandelingsdeelConsented.create(
            source=parent.partner, subject=child, data=data, ketenbusactor=parent.employee
        )
        told = ("Uw antwoord", f"/ouders/{child}/toestemming?verstuurd={keuze}")
        return await site.as_parent(request, parent, event, told, Purpose.SUPPORT)

    @app.get(
        "/ouders/{child}/bezwaar", response_class=HTMLResponse, summary="Ouders: bezwaar (HTML)"
    )
    async def objection_page(
        request: Request, child: Child, verstuurd: str = "", bevestigd: str = ""
    ) -> Response:
        found = await linked(request, child)
        if isinstance(found, Response):
            return found
        parent, view = found
        return site.page(
            request,
            "ouders_bezwaar.html",
            child=child,
            objections=view.get("objections", []),
            organisations=objectable(view, parent.partner),
            purposes=[p.value for p in Purpose],
            sent=verstuurd == "bezwaar",
            pending=bevestigd == "nee",
            parents=True,
        )

    @app.post("/ouders/{child}/bezwaar", include_in_schema=False)
    async def record_objection(
        request: Request,
        child: Child,
        organisatie: Annotated[str, Form()] = "",
        doel: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        found = await linked(request, child, csrf)
        if isinstance(found, Response):
            return found
        parent, view = found
        if organisatie not in objectable(view, parent.partner) or doel not in set(Purpose):
            return site.message(
                request, 400, "Niet verstuurd", "Kies een organisatie en een soort gegevens."
            )
        data = ObjectionRecordedData(
            objection_id=uuid.uuid4(),
            parent=parent.partner,
            partner=organisatie,
            purpose=Purpose(doel),
            recorded_on=site.today(),
        )
        event = ObjectionRecorded.create(
            source=parent.partner, subject=child, data=data, ketenbusactor=parent.employee
        )
        told = ("Uw bezwaar", f"/ouders/{child}/bezwaar?verstuurd=bezwaar")
        return await site.as_parent(request, parent, event, told)

    @app.get("/plan/{child}/bezwaren", response_class=HTMLResponse, summary="Bezwaren (HTML)")
    async def objections_page(
        request: Request, child: Child, verstuurd: str = "", bevestigd: str = ""
    ) -> Response:
        person = professional_of(request, "decide-objection")
        plan = await site.portal.plan(child)
        site.record(person, WebOperation.READ_PLAN, child, shown=plan is not None)
        if plan is None:
            return site.message(request, 404, "Niet gevonden", NOT_ON_PLAN)
        return site.page(
            request,
            "bezwaren.html",
            child=child,
            objections=plan.get("objections", []),
            decisions=DECISIONS,
            sent=verstuurd == "beslist",
            pending=bevestigd == "nee",
        )

    @app.post("/plan/{child}/bezwaren/{objection_id}", include_in_schema=False)
    async def decide_objection(
        request: Request,
        child: Child,
        objection_id: uuid.UUID,
        besluit: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        person = professional_of(request, "decide-objection")
        if not csrf_ok(request, csrf):
            return site.message(request, 400, "Niet verstuurd", EXPIRED)
        plan = await site.portal.plan(child)
        if plan is None:
            return site.message(request, 404, "Niet gevonden", NOT_ON_PLAN)
        objection = next(
            (
                o
                for o in plan.get("objections", [])
                if o["objection_id"] == str(objection_id) and o["decision"] is None
            ),
            None,
        )
        if objection is None or besluit not in DECISIONS:
            return site.message(
                request, 400, "Niet verstuurd", "Dit bezwaar kunt u niet beslissen."
            )
        data = ObjectionDecidedData(
            objection_id=objection_id,
            decided_by=site.portal.partner,
            partner=objection["parent"],
            decision=besluit,  # type: ignore[arg-type]
            decided_on=site.today(),
        )
        event = ObjectionDecided.create(
            source=site.portal.partner, subject=child, data=data, ketenbusactor=person.employee
        )
        await site.portal.publish(event)
        site.record(person, WebOperation.ACT, child)
        receipt = (await site.portal.receipts([event.id], site.receipt_wait)).get(event.id)
        told = ("Het besluit", f"/plan/{child}/bezwaren?verstuurd=beslist")
        return site.answered(request, person, event, receipt, told)


def objectable(view: dict[str, Any], parent: str) -> list[str]:
    """The organisations on the plan a parent may object to (active parties, not the parent)."""
    return [
        p["partner"]
        for p in view.get("parties", [])
        if p.get("active", True) and p["partner"] != parent
    ]


def is_pupil(person: Person, site: ParentsSite) -> bool:
    """Whether the logged-in account is the pupil's own (role pupil), not a parent's."""
    return site.access.directory.role_of(person.partner) == PUPIL_ROLE


def consent_event(
    choice: str,
    child: str,
    handover_id: uuid.UUID,
    parent: Person,
    today: date,
    pupil: bool = False,
) -> CloudEvent[Any]:
    """The parents' answer (or the pupil's, from their own account) as that account's event,
    the person in it (pseudonymous)."""
    envelope = {"source": parent.partner, "subject": child, "ketenbusactor": parent.employee}
    given_by: Literal["parents", "pupil"] = "pupil" if pupil else "parents"
    if choice == WITHDRAW:
        withdrawn = ConsentWithdrawnData(
            handover_id=handover_id, given_by=given_by, withdrawn_on=today
        )
        return ConsentWithdrawn.create(data=withdrawn, **envelope)
    given = ConsentRecordedData(
        handover_id=handover_id, given_by=given_by, granted=choice == GIVE, recorded_on=today
    )
    return ConsentRecorded.create(data=given, **envelope)


def consent_handovers(view: dict[str, Any], pupil: bool = False) -> list[dict[str, Any]]:
    """The child's handovers that go only with consent (not yet delivered), each with its
    consent as recorded and what the parents may choose now (`choices`; none while the pupil
    decides or before the school recorded the parents' view of the dossier); for the pupil's
    own account (`pupil`) the other way round: choices only where the pupil decides."""
    shown = []
    for handover in view.get("handovers", []):
        if handover.get("basis") != "consent" or handover.get("delivered_on"):
            continue
        consent = handover.get("consent") or {}
        status = consent.get("status")
        choices: list[str] = []
        if bool(handover.get("pupil_decides")) is pupil and handover.get("parents_viewed_on"):
            choices = [WITHDRAW] if status == "granted" else [GIVE, REFUSE]
            if status == "refused":
                choices = [GIVE]
        shown.append(handover | {"consent_status": status, "choices": choices})
    return shown


def handelingsdelen(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The child's OPPs, each with the parents' answer on its handelingsdeel (`consent`:
    pending, granted or refused) and whether they may answer now (`open`: not yet granted)."""
    shown = []
    for a in view.get("arrangements", []):
        if a.get("kind") != "opp-drawn-up":
            continue
        consent = (a.get("details") or {}).get("handelingsdeel_consent") or "pending"
        shown.append(a | {"consent": consent, "open": consent != "granted"})
    return shown

"""The plan on the web: server-rendered pages (Dutch) and a small JSON API (FastAPI).

Pages, for the organisation the portal runs for:
- `/werklijst`: the organisation's worklist (thuiszitter escalations, actions over or near
  their date, stalled handovers, new matches);
- `/plan/{kind}`: a child's plan (parties, goals, actions, handovers, arrangements, attendance,
  signals) with its timeline, opened with the organisation's keys;
- `/signaal`: a signal about a child new to ketenbus, by its BSN, name and birth date (the
  pseudonym asked, the sections sealed by kluis, as a partner's first signal);
- `/ouders/{kind}`: what is shared about the child and with whom (kinds, never content);
- `/ouders/{kind}/overdrachtsdossier` (and `/kopie`, a JSON copy to download): the handover
  dossier before it goes, opened with the logged-in parent's account keys (inzage).

API, for a partner's own system (it signs its `PlanQuery` itself; the plan service checks it):
- `GET /api/plan/{child}` and `GET /api/worklist` with `Authorization: Bearer <signed query>`;
  the plan comes back with the sections the partner may hold, still sealed, to open with its
  own keys.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from fastapi import FastAPI, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, WORKLIST_QUERY_SUBJECT
from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.pseudonyms import PseudonymClientError
from services.integral_plan.portal import Portal
from services.integral_plan.query import PlanAccess
from services.integral_plan.web_auth import (
    ABSOLUTE,
    IDLE,
    LOGIN_ERRORS,
    PARENT,
    PROFESSIONAL,
    ROTATE,
    Login,
    LoginConfig,
    LoginRequiredError,
    NotPermittedError,
    SessionMiddleware,
    SessionStore,
    UnknownFunctionError,
    WebSettings,
    csrf_ok,
    csrf_token,
    login_failure,
    person_of,
    professional_of,
)
from services.integral_plan.web_casework import (
    casework_routes,
    handover_forms,
    provides_identity,
    send_new_child_signal,
    signal_codes,
)
from services.integral_plan.web_forms import (
    DOMAINS,
    SENT,
    Child,
    OnPlan,
    PlanForm,
    action_form,
    answer_form,
    closed_reasons,
    contact_form,
    done_form,
    exemption_form,
    goal_form,
    identity_of,
    offer_form,
    publish_draft,
    withdraw_form,
)
from services.integral_plan.web_parents import ParentsSite, add_parents_routes
from services.integral_plan.web_receipts import Outcome, outcome
from services.integral_plan.web_records import MemoryLog, ProcessingLog, Recorder, WebOperation
from services.integral_plan.web_security import security_headers
from services.runtime.parent_links import OWN_ACCOUNT_ROLES, PUPIL_ROLE

ID_TOKEN = "id_token"  # noqa: S105 (the session key, not a token)
SENT_FORMS = "sent"  # the session's last form sent per child: which, and the event ids
MAX_SENT_FORMS = 20
READ_DOSSIER, HANDOVER = WebOperation.READ_DOSSIER, Purpose.HANDOVER
DOSSIER = "Ouderinzage: het overdrachtsdossier voordat het gaat (HTML)"

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

MONTHS = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]
KINDS = {
    "new-match": "Nieuwe match",
    "overdue-action": "Actie over datum",
    "due-soon-action": "Actie binnenkort",
    "stalled-handover": "Overdracht stokt",
    "zorgplicht-decision": "Beslissen op aanmelding (zorgplicht)",
    "opp-due": "OPP opstellen na plaatsing",
    "opp-evaluation-overdue": "OPP niet binnen een jaar geëvalueerd",
    "tlv-waiting": "TLV zonder plek (wachtend)",
    "opp-consent-pending": "Instemming ouders met handelingsdeel OPP",
    "continuity-gap": "Lopende zorg gaat niet mee bij overstap",
    "thuiszitter-escalation": "Thuiszitter: escalatie",
    "signal-decision": "Verzuimmelding: signaal Verwijsindex?",
    "jgz-referral": "Langdurig ziek: naar de JGZ (MAZL)",
    "exemption-renewal": "Vrijstelling loopt af: verlengen?",
    "dispute-decision": "Geschil over bekostiging: beslissen (doorzettingsmacht)",
    "objection-decision": "Bezwaar van ouders: beslissen",
}
# Leerplichtwet 1969, as ketenbus_contracts.truancy.ExemptionArticleV2 has the articles.
EXEMPTION_ARTICLES = {
    "5a": "5 onder a: lichamelijke of psychische gronden",
    "5b": "5 onder b: bedenkingen tegen de richting",
    "5c": "5 onder c: ingeschreven bij een school buiten Nederland",
    "5a-trekkend": "5a: trekkend bestaan",
    "3a": "3a: gedeeltelijke vrijstelling (uren per week)",
    "3b": "3b: gedeeltelijke vrijstelling (uren per week)",
    "15": "15: andere vorm van onderwijs voor de kwalificatieplicht",
}
STATEMENT_BY = {
    "arts": "arts",
    "psycholoog": "psycholoog",
    "orthopedagoog-generalist": "orthopedagoog-generalist",
}
URGENT = {"overdue-action", "thuiszitter-escalation", "stalled-handover", "continuity-gap"}
EVENTS = {
    "signal": "zorgsignaal afgegeven",
    "signal-withdrawn": "zorgsignaal ingetrokken",
    "signal-risk-ended": "zorgsignaal beëindigd, zorg voorbij",
    "match": "match in de verwijsindex",
    "party-joined": "aangesloten bij het plan",
    "party-left": "niet meer betrokken",
    "regie-assigned": "regie toegewezen",
    "goal-set": "doel gesteld",
    "agreement-made": "afspraak gemaakt",
    "action-agreed": "actie afgesproken",
    "action-done": "actie afgerond en teruggekoppeld",
    "handover-started": "overdracht gestart",
    "dossier-requested": "overdrachtsdossier opgevraagd door de ontvangende school",
    "dossier-delivered": "overdrachtsdossier geleverd",
    "warm-conversation-held": "warme overdracht: gesprek gevoerd",
    "handover-closed": "overdracht afgerond",
    "continuity-gap-found": "lopende ondersteuning niet meegegeven bij de overdracht",
    "handover-escalated": "overdracht over datum: opgeschaald",
    "support-requested": "ondersteuning aangevraagd",
    "tlv-issued": "toelaatbaarheidsverklaring (TLV) afgegeven",
    "opp-drawn-up": "ontwikkelingsperspectiefplan (OPP) opgesteld",
    "youth-care-decided": "jeugdhulp toegekend",
    "arrangement-agreed": "onderwijs-zorgarrangement afgesproken",
    "funding-disputed": "bekostiging betwist",
    "dispute-escalated": "geschil over bekostiging voorgelegd aan doorzettingsmacht",
    "dispute-decided": "geschil over bekostiging beslist",
    "regie-changed": "regie gewijzigd",
    "coordinator-regie": "integrale regie bij de coördinator van de match",
    "reduced-teaching-time-requested": "minder onderwijstijd aangevraagd (Variawet)",
    "pupil-enrolled": "ingeschreven op school",
    "pupil-de-enrolled": "uitgeschreven van school",
    "verzuim-report-due": "verzuim gemeld bij leerplicht",
    "report-answered": "verzuimmelding beantwoord door leerplicht",
    "thuiszitter-registered": "thuiszitter geregistreerd",
    "thuiszitter-ended": "geen thuiszitter meer",
    "three-month-rule-reached": "drie maanden thuis bijna of al bereikt",
    "exemption-granted": "vrijstelling van leerplicht verleend",
    "offer-made": "passend aanbod gedaan",
    "aanmelding-received": "aangemeld op school (zorgplicht)",
    "decision-period-extended": "beslistermijn op aanmelding verlengd",
    "placement-decided": "besloten op aanmelding",
    "handelingsdeel-consented": "ouders over het handelingsdeel van het OPP",
    "tlv-placed": "geplaatst op de TLV",
    "zorgplicht-decision-deadline-passed": "beslistermijn op aanmelding verstreken",
    "opp-after-placement-deadline-passed": "geen OPP binnen zes weken na plaatsing",
    "opp-evaluation-deadline-passed": "OPP niet binnen een jaar geëvalueerd",
}
ARRANGEMENTS = {
    "support-requested": "Aanvraag ondersteuning",
    "tlv-issued": "Toelaatbaarheidsverklaring (TLV)",
    "opp-drawn-up": "Ontwikkelingsperspectiefplan (OPP)",
    "youth-care-decided": "Jeugdhulp",
    "arrangement-agreed": "Onderwijs-zorgarrangement",
    "reduced-teaching-time-requested": "Minder onderwijstijd (Variawet)",
    "aanmelding-received": "Aanmelding (zorgplicht)",
}
HANDOVER_STATUS = {
    "started": "loopt",
    "delivered": "dossier geleverd",
    "warm-conversation-held": "gesprek gevoerd",
    "closed": "afgerond",
}
DISPUTE_STATUS = {
    "funding-disputed": "bekostiging betwist",
    "dispute-escalated": "voorgelegd aan doorzettingsmacht",
    "dispute-decided": "beslist",
}
ATTENDANCE_STATUS = {
    "thuiszitter": "Thuiszitter",
    "exempt": "Vrijgesteld van leerplicht",
    "enrolled": "Ingeschreven",
    "not-enrolled": "Niet ingeschreven",
    "unknown": "Niets bekend",
}
PAYERS = {"school": "school", "swv": "samenwerkingsverband", "municipality": "gemeente"}
PURPOSES = {
    Purpose.IDENTITY.value: "Wie uw kind is (naam, BSN, geboortedatum)",
    Purpose.SIGNALLING.value: "Zorgsignaal (waar de zorg over gaat)",
    Purpose.HANDOVER.value: "Overdracht (onderwijskundig rapport)",
    Purpose.SUPPORT.value: "Ondersteuning in het onderwijs",
    Purpose.YOUTH_CARE.value: "Jeugdhulp",
    Purpose.ATTENDANCE.value: "Schoolverzuim",
    Purpose.PLAN.value: "Plan: doelen, afspraken en acties",
}
PURPOSES_PUPIL = {Purpose.IDENTITY.value: "Wie u bent (naam, BSN, geboortedatum)"}
FIELDS = {
    "concern": "Zorggebied",
    "notes": "Toelichting",
    "text": "Omschrijving",
    "what": "Wat",
    "report": "Terugkoppeling",
    "follow_up": "Vervolg",
    "name": "Naam",
    "bsn": "BSN",
    "birth_date": "Geboortedatum",
    "question": "Vraag",
    "tried_so_far": "Al geprobeerd",
    "grounds": "Gronden",
    "advice": "Advies",
    "goals": "Doelen",
    "perspective": "Perspectief",
    "description": "Omschrijving",
    "product": "Product",
    "care": "Zorg",
    "motivation": "Motivering",
    "why_needed": "Waarom nodig",
    "programme": "Programma",
}
REFUSALS = {
    "no-relation": "geen relatie met het kind",
    "role-not-permitted": "niet voor uw rol",
    "child-erased": "gegevens gewist",
}
STATUS = {"open": "Open", "done": "Afgerond", "overdue": "Over datum"}
SIGNAL_STATUS = {"active": "actief", "withdrawn": "ingetrokken", "risk-ended": "zorg voorbij"}
BEARER = "Bearer "
NO_PLAN = "not-on-plan"
REFUSED_STATUS = {"not-on-plan": 404, "invalid-request": 400}
SIGNAL_PENDING = (
    "Het signaal is afgegeven. Het plan van dit kind staat hier zodra de plandienst het heeft "
    "verwerkt: ververs de pagina straks."
)
PSEUDONYM_UNAVAILABLE = (
    "De pseudonimiseringsdienst antwoordt nu niet: het signaal is niet afgegeven. Probeer het "
    "later opnieuw."
)

log = structlog.get_logger("web")


@pass_context
def purpose_label(context: Context, purpose: str) -> str:
    """A purpose as the reader reads it: to the pupil's own account "Wie u bent", not "uw kind"."""
    if context.get("pupil") and purpose in PURPOSES_PUPIL:
        return PURPOSES_PUPIL[purpose]
    return PURPOSES.get(purpose, purpose)


def datum(value: str | None) -> str:
    """An ISO date or time as a Dutch date, e.g. 24 november 2026."""
    if not value:
        return ""
    day = datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def action_status(action: dict[str, Any], today: date) -> str:
    if action["status"] == "open" and date.fromisoformat(action["due_on"]) < today:
        return "overdue"
    return str(action["status"])


def create_web_app(
    portal: Portal,
    access: PlanAccess,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    login: LoginConfig | None = None,
    records: ProcessingLog | None = None,
    tls: bool = False,
    api_docs: bool = False,
    session_clock: Callable[[], float] | None = None,
    receipt_wait: float | None = None,
) -> FastAPI:
    """The site. `login`: how people log in (without it no page opens); `records`: where each
    read's processing record goes; `tls`: served over https (HSTS, Secure cookies);
    `api_docs`: the API's OpenAPI document at /api/openapi.json (no Swagger UI: it would load
    script from elsewhere); `receipt_wait`: how long a posted form waits for the receipts of
    what it published (default: `KETENBUS_WEB_RECEIPT_WAIT_SECONDS`)."""
    app = FastAPI(
        title="ketenbus integraal plan",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if api_docs else None,
    )
    config = login
    wait = WebSettings().receipt_wait_seconds if receipt_wait is None else receipt_wait
    sessions = SessionStore(
        config.idle if config else IDLE,
        config.absolute if config else ABSOLUTE,
        session_clock or time.monotonic,
    )
    app.add_middleware(SessionMiddleware, store=sessions, tls=tls)
    logins = Login(config) if config else None
    app.middleware("http")(security_headers(tls, logins.origins if logins else ()))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.sessions = sessions
    app.state.login = logins
    record = Recorder(records if records is not None else MemoryLog(), clock)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env

    def is_pupil(account: str) -> bool:
        return access.directory.role_of(account) == PUPIL_ROLE

    def name_of(partner: str) -> str:
        try:
            return access.directory.entry(partner).name
        except LookupError:
            return partner

    env.filters.update(
        datum=datum,
        soort=lambda kind: KINDS.get(kind, kind),
        organisatie=name_of,
        organisaties=lambda ids: ", ".join(name_of(p.strip()) for p in ids.split(",")),
        doel=purpose_label,
        veld=lambda field: FIELDS.get(field, field),
        waarde=lambda v: ", ".join(map(str, v)) if isinstance(v, list) else v,
        weigering=lambda code: REFUSALS.get(code, code),
        status=action_status,
        statuslabel=lambda s: STATUS.get(s, s),
        signaalstatus=lambda s: SIGNAL_STATUS.get(s, s),
        gebeurtenis=lambda kind: EVENTS.get(kind, kind),
        arrangement=lambda kind: ARRANGEMENTS.get(kind, kind),
        overdrachtstatus=lambda s: HANDOVER_STATUS.get(s, s),
        geschilstatus=lambda s: DISPUTE_STATUS.get(s, s),
        aanwezigheid=lambda s: ATTENDANCE_STATUS.get(s, s),
        geboortedatum=lambda plan: (identity_of(plan) or {}).get("birth_date"),
        overgang=lambda t: (t or "").upper().replace("-", " → "),
        bekostiging=lambda shares: ", ".join(
            f"{PAYERS.get(s['payer'], s['payer'])} {s['percent']}%" for s in shares or []
        ),
    )
    reader = {
        "reader_name": name_of(portal.partner),
        "reader": portal.partner,
        "urgent": URGENT,
        "domains": DOMAINS,
        "withdrawal_reasons": {"withdrawn": "ingetrokken", "risk-ended": "zorg voorbij"},
        "report_statuses": {"in-behandeling": "in behandeling", "afgesloten": "afgesloten"},
        "exemption_articles": EXEMPTION_ARTICLES,
        "statement_by": STATEMENT_BY,
        "concern_domains": signal_codes().concern_domains,
        "closed_reasons": closed_reasons(portal.partner),
        "provides_identity": provides_identity(portal.partner),
        "handover_forms": handover_forms(),
    }

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        person = person_of(request)
        # The pupil's own account reads about themselves: "u", "uw gegevens", not "uw kind".
        pupil = person is not None and person.kind == PARENT and is_pupil(person.partner)
        me = {"person": person, "csrf": csrf_token(request) if person else "", "pupil": pupil}
        return templates.TemplateResponse(
            request, template, reader | me | context, status_code=status
        )

    def message(request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return page(request, "melding.html", status, title=title, message=text)

    def not_found(request: Request, text: str) -> HTMLResponse:
        return message(request, 404, "Niet gevonden", text)

    professional = professional_of

    @app.exception_handler(LoginRequiredError)
    async def to_login(request: Request, exc: LoginRequiredError) -> RedirectResponse:
        start = "/inloggen" if exc.kind == PROFESSIONAL else "/ouders/inloggen"
        return RedirectResponse(f"{start}?{urlencode({'next': exc.next_path})}", 303)

    @app.exception_handler(NotPermittedError)
    async def not_permitted(request: Request, exc: NotPermittedError) -> HTMLResponse:
        return message(
            request, 403, "Geen toegang", "Dit mag u met uw functie niet inzien of doen."
        )

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/werklijst")

    @app.get("/inloggen", include_in_schema=False)
    async def login_start(request: Request, next: str | None = None) -> Any:
        return await start_login(request, PROFESSIONAL, next)

    @app.get("/ouders/inloggen", include_in_schema=False)
    async def parents_login_start(request: Request, next: str | None = None) -> Any:
        return await start_login(request, PARENT, next)

    async def start_login(request: Request, kind: str, next_path: str | None) -> Any:
        if logins is None or kind not in logins.clients:
            return message(request, 503, "Inloggen kan niet", "Inloggen is niet ingesteld.")
        return await logins.start(request, kind, next_path)

    @app.get("/inloggen/terug", include_in_schema=False, name="login_callback")
    async def login_callback(request: Request) -> Any:
        return await finish_login(request, PROFESSIONAL)

    @app.get("/ouders/inloggen/terug", include_in_schema=False, name="parents_login_callback")
    async def parents_login_callback(request: Request) -> Any:
        return await finish_login(request, PARENT)

    async def finish_login(request: Request, kind: str) -> Any:
        if logins is None or kind not in logins.clients:
            return message(request, 503, "Inloggen kan niet", "Inloggen is niet ingesteld.")
        try:
            person, target, id_token = await logins.finish(request, kind)
        except UnknownFunctionError:
            request.session.clear()
            return message(
                request, 403, "Geen toegang", "Uw functie geeft geen toegang tot deze gegevens."
            )
        except LOGIN_ERRORS as exc:
            log.warning("web.login_refused", kind=kind, reason=login_failure(exc))
            request.session.clear()
            return message(request, 400, "Inloggen mislukt", "Probeer het opnieuw.")
        request.session.clear()
        request.session["person"] = person.as_session()
        request.session[ID_TOKEN] = id_token  # server-side: to end the provider's session too
        request.scope[ROTATE] = True
        log.info("web.logged_in", kind=kind, employee=person.employee)
        return RedirectResponse(target, 303)

    @app.post("/uitloggen", include_in_schema=False)
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        """Ends the session here, then at the provider when it offers that (RP-Initiated
        Logout): the browser goes there and comes back to /uitgelogd."""
        if not csrf_ok(request, csrf):
            return message(request, 400, "Uitloggen mislukt", "Probeer het opnieuw.")
        person, id_token = person_of(request), str(request.session.get(ID_TOKEN) or "")
        request.session.clear()
        at_provider = None
        if logins is not None and person is not None:
            try:
                at_provider = await logins.end_session(request, person.kind, id_token)
            except LOGIN_ERRORS as exc:
                log.warning("web.provider_logout_unavailable", reason=login_failure(exc))
        if at_provider is None:
            return message(request, 200, "Uitgelogd", "U bent uitgelogd.")
        log.info("web.logged_out", kind=person.kind if person else "", at_provider=True)
        return RedirectResponse(at_provider, 303)

    @app.get("/uitgelogd", include_in_schema=False, name="logged_out")
    async def logged_out(request: Request) -> HTMLResponse:
        return message(request, 200, "Uitgelogd", "U bent uitgelogd, hier en bij uw inlogprovider.")

    @app.get("/werklijst", response_class=HTMLResponse, summary="Werklijst (HTML)")
    async def worklist_page(request: Request) -> HTMLResponse:
        person = professional(request, "read-worklist")
        worklist = await portal.worklist()
        record(person, WebOperation.READ_WORKLIST)
        identities: dict[str, dict[str, Any]] = {}
        if person.may("see-identity"):
            # Opened here, with the organisation's keys, for this page only: never stored.
            for child in dict.fromkeys(item["child"] for item in worklist["items"]):
                plan = await portal.plan(child)
                who = identity_of(plan) if plan else None
                if who:
                    identities[child] = who
                    record(person, WebOperation.READ_IDENTITY, child)
        return page(request, "werklijst.html", worklist=worklist, identities=identities)

    @app.get("/plan/{child}", response_class=HTMLResponse, summary="Plan van een kind (HTML)")
    async def plan_page(
        request: Request, child: Child, verstuurd: str | None = None
    ) -> HTMLResponse:
        person = professional(request, "read-plan")
        plan = await portal.plan(child)
        record(person, WebOperation.READ_PLAN, child, shown=plan is not None, refusal=NO_PLAN)
        sent = await sent_outcome(request, child, verstuurd or "")
        if plan is None and sent is not None and sent.verdict == "geweigerd":
            return message(request, 200, "Niet verwerkt", sent.text)
        if plan is None and verstuurd == "signaal":
            # A first signal about a child new to ketenbus: its plan comes once processed.
            return message(request, 200, "Signaal afgegeven", SIGNAL_PENDING)
        if plan is None:
            return not_found(request, "Er is geen plan van dit kind waarbij u betrokken bent.")
        return page(
            request, "plan.html", plan=plan, today=clock().date(), sent=sent, sent_as=verstuurd
        )

    async def sent_outcome(request: Request, child: str, done: str) -> Outcome | None:
        """What became of the form this session last sent on this child's plan (`done`), from
        the receipts in now; None when it sent no such form here."""
        sent = (request.session.get(SENT_FORMS) or {}).get(child)
        if not sent or sent["done"] != done or done not in SENT:
            return None
        ids = [uuid.UUID(i) for i in sent["events"]]
        return outcome(SENT[done], ids, await portal.receipts(ids, 0))

    @app.get("/signaal", response_class=HTMLResponse, summary="Signaal afgeven: nieuw kind (HTML)")
    async def new_signal_page(request: Request) -> HTMLResponse:
        professional(request, "register-signal")
        return page(request, "signaal.html")

    @app.post("/signaal", include_in_schema=False)
    async def new_signal(request: Request) -> Response:
        """A signal about a child by its BSN, name and birth date (the BSN only in this post's
        body: never in a URL, a log line, a subject or a header)."""
        person = professional(request, "register-signal")
        form = await request.form()
        csrf = form.get("csrf")
        if not csrf_ok(request, csrf if isinstance(csrf, str) else None):
            return message(
                request, 400, "Niet verstuurd", "Het formulier is verlopen; probeer het opnieuw."
            )
        on = OnPlan({}, clock().date(), portal.partner, person.employee, "", person.function)
        try:
            checked, child, events = await send_new_child_signal(portal, form, on)
        except PseudonymClientError as exc:
            log.warning(
                "web.pseudonym_unavailable", error=type(exc).__name__, employee=person.employee
            )
            return message(request, 503, "Niet verstuurd", PSEUDONYM_UNAVAILABLE)
        if child is None:
            return page(request, "signaal.html", 400, checked=checked)
        record(person, WebOperation.ACT, child)
        await await_receipts(request, child, "signaal", events, checked.form, person.employee)
        return RedirectResponse(f"/plan/{child}?verstuurd=signaal", 303)

    async def await_receipts(
        request: Request, child: str, done: str, events: list[Any], form: str, employee: str
    ) -> None:
        """After a form published `events` about `child`: the session remembers them (the plan
        page tells what became of them), and the receipts are waited for, a bounded time."""
        ids = [e.id for e in events]
        forms = dict(request.session.get(SENT_FORMS) or {})
        forms.pop(child, None)
        forms[child] = {"done": done, "events": [str(i) for i in ids]}
        request.session[SENT_FORMS] = dict(list(forms.items())[-MAX_SENT_FORMS:])
        started = time.monotonic()
        verdict = outcome(SENT[done], ids, await portal.receipts(ids, wait)).verdict
        log.info(
            "web.published",
            form=form,
            event_id=str(ids[0]),
            employee=employee,
            outcome=verdict,
            waited_ms=round((time.monotonic() - started) * 1000),
        )

    async def act(
        request: Request, child: str, action: str, fill: PlanForm, ref: str = ""
    ) -> Response:
        """A form posted on a child's plan: checked, sealed, published as the organisation with
        the person in it; back on the plan with its errors, or to the plan when sent."""
        person = professional(request, action)
        form = await request.form()
        csrf = form.get("csrf")
        if not csrf_ok(request, csrf if isinstance(csrf, str) else None):
            return message(
                request,
                400,
                "Niet verstuurd",
                "Het formulier is verlopen; probeer het opnieuw vanaf het plan.",
            )
        plan = await portal.plan(child)
        if plan is None:
            return not_found(request, "Er is geen plan van dit kind waarbij u betrokken bent.")
        on = OnPlan(plan, clock().date(), portal.partner, person.employee, ref, person.function)
        checked, draft = fill(form, on)
        if draft is None:
            record(person, WebOperation.READ_PLAN, child)
            return page(request, "plan.html", 400, plan=plan, today=clock().date(), checked=checked)
        events = await publish_draft(portal, draft, child)
        record(person, WebOperation.ACT, child)
        await await_receipts(request, child, draft.done, events, checked.form, person.employee)
        return RedirectResponse(f"/plan/{child}?verstuurd={draft.done}", 303)

    @app.post("/plan/{child}/doelen", include_in_schema=False)
    async def set_goal(request: Request, child: Child) -> Response:
        return await act(request, child, "set-goal", goal_form)

    @app.post("/plan/{child}/acties", include_in_schema=False)
    async def agree_action(request: Request, child: Child) -> Response:
        return await act(request, child, "agree-action", action_form)

    @app.post("/plan/{child}/acties/{action_id}/afgerond", include_in_schema=False)
    async def report_done(request: Request, child: Child, action_id: uuid.UUID) -> Response:
        return await act(request, child, "report-done", done_form, str(action_id))

    @app.post("/plan/{child}/signalen/{signal_id}/intrekken", include_in_schema=False)
    async def withdraw_signal(request: Request, child: Child, signal_id: uuid.UUID) -> Response:
        return await act(request, child, "withdraw-signal", withdraw_form, str(signal_id))

    @app.post("/plan/{child}/verzuimmeldingen/{report_id}/antwoord", include_in_schema=False)
    async def answer_report(request: Request, child: Child, report_id: uuid.UUID) -> Response:
        return await act(request, child, "answer-verzuimmelding", answer_form, str(report_id))

    @app.post("/plan/{child}/match/{match_id}/contact", include_in_schema=False)
    async def record_contact(request: Request, child: Child, match_id: uuid.UUID) -> Response:
        return await act(request, child, "record-contact", contact_form, str(match_id))

    @app.post("/plan/{child}/aanbod", include_in_schema=False)
    async def make_offer(request: Request, child: Child) -> Response:
        return await act(request, child, "make-offer", offer_form)

    @app.post("/plan/{child}/vrijstelling", include_in_schema=False)
    async def grant_exemption(request: Request, child: Child) -> Response:
        return await act(request, child, "grant-exemption", exemption_form)

    today = lambda: clock().date()  # noqa: E731
    add_parents_routes(
        app, ParentsSite(portal, access, templates, page, message, record, today, wait)
    )
    casework_routes(app, act)

    @app.get("/ouders/{child}", response_class=HTMLResponse, summary="Ouderinzage (HTML)")
    async def parents_page(request: Request, child: Child) -> HTMLResponse:
        person = person_of(request)
        if person is None:
            raise LoginRequiredError(request.url.path, PARENT)
        if person.kind == PARENT:
            if access.directory.role_of(person.partner) not in OWN_ACCOUNT_ROLES:
                return message(
                    request, 403, "Geen toegang", "Uw account is niet bekend bij ketenbus."
                )
            plan = await portal.parents_view(child, person.partner)
        else:
            person = professional(request, "read-plan")
            plan = await portal.shared(child)
        record(person, WebOperation.READ_SHARED, child, shown=plan is not None, refusal=NO_PLAN)
        if plan is None:
            return not_found(
                request, "Er is over dit kind niets gedeeld, of u bent niet aan dit kind gekoppeld."
            )
        rows = shared_rows(plan, access, name_of)
        kinds = shared_kinds(plan)
        return page(request, "ouders.html", plan=plan, rows=rows, kinds=kinds, parents=True)

    async def dossier_of(request: Request, child: str) -> list[dict[str, Any]] | Response:
        """The prepared dossiers for the parent logged in (opened with the parent account's
        keys), recorded as the parent's read; a response when there is nothing to show."""
        person = person_of(request)
        if person is None or person.kind != PARENT:
            raise LoginRequiredError(request.url.path, PARENT)
        if access.directory.role_of(person.partner) not in OWN_ACCOUNT_ROLES:
            return message(request, 403, "Geen toegang", "Uw account is niet bekend bij ketenbus.")
        dossiers = await portal.parents_dossier(child, person.partner)
        # Read for the handover (the parents' inzage), not for the plan.
        shown = dossiers is not None
        record(person, READ_DOSSIER, child, shown=shown, refusal=NO_PLAN, purpose=HANDOVER)
        if dossiers is None:
            return not_found(
                request, "Er is over dit kind niets gedeeld, of u bent niet aan dit kind gekoppeld."
            )
        return dossiers

    @app.get("/ouders/{child}/overdrachtsdossier", response_class=HTMLResponse, summary=DOSSIER)
    async def parents_dossier(request: Request, child: Child) -> Response:
        dossiers = await dossier_of(request, child)
        if isinstance(dossiers, Response):
            return dossiers
        return page(request, "dossier.html", dossiers=dossiers, child=child, parents=True)

    @app.get("/ouders/{child}/overdrachtsdossier/kopie", summary=DOSSIER + ": kopie (JSON)")
    async def parents_dossier_copy(request: Request, child: Child) -> Response:
        dossiers = await dossier_of(request, child)
        if isinstance(dossiers, Response):
            return dossiers
        # A file name that names no child: the copy is the parent's, its content theirs to keep.
        disposition = 'attachment; filename="overdrachtsdossier.json"'
        return JSONResponse(dossiers, headers={"Content-Disposition": disposition})

    @app.get("/api/plan/{child}", summary="A child's plan for the signing partner (JSON)")
    async def plan_api(
        child: Child, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        answer = await portal.forward(PLAN_QUERY_SUBJECT, _bearer(authorization))
        if answer.get("refusal") or not answer.get("found"):
            return _refused(answer.get("refusal") or "not-on-plan")
        if answer["plan"]["child"] != child:
            return _refused("invalid-request")
        return JSONResponse(answer["plan"])

    @app.get("/api/worklist", summary="The signing partner's worklist (JSON)")
    async def worklist_api(authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        answer = await portal.forward(WORKLIST_QUERY_SUBJECT, _bearer(authorization))
        if not answer.get("ok"):
            return _refused(answer.get("refusal") or "invalid-request")
        return JSONResponse(answer["worklist"])

    return app


def shared_rows(
    plan: dict[str, Any], access: PlanAccess, name_of: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Per organisation on the plan: what kinds it shared, what kinds it may see, and whether
    it still takes part (`active`; else `left_on`, the day its part ended)."""
    shared: dict[str, set[str]] = {}
    for partner, item in shared_items(plan):
        shared.setdefault(partner, set()).update(item.get("sealed", {}))
    rows = []
    for party in plan.get("parties", []):
        partner = party["partner"]
        try:
            may_see = access.may_hold(access.role_of(partner))
        except ValueError:
            may_see = set()
        rows.append(
            {
                "name": name_of(partner),
                "role": party["role"],
                "contact": party["contact"],
                "shared": [p.value for p in Purpose if p.value in shared.get(partner, set())],
                "may_see": [p.value for p in Purpose if p.value in may_see],
                # A party that left takes part no longer: shown apart, with the day it left.
                "active": party.get("active", True),
                "left_on": party.get("left_on"),
            }
        )
    return rows


def shared_items(plan: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each item of the plan that carries sealed sections, with the organisation that shared it."""
    for signal in plan.get("signals", []):
        yield signal["partner"], signal
    for key in ("goals", "agreements", "actions", "arrangements"):
        for item in plan.get(key, []):
            yield item["by"], item
    for handover in plan.get("handovers", []):
        yield handover["from"] or "", handover
    attendance = plan.get("attendance") or {}
    for key, by in (("enrolments", "school"), ("reports", "school"), ("exemptions", "leerplicht")):
        for item in attendance.get(key, []):
            yield item[by], item
    for offer in attendance.get("offers", []):
        yield offer["by"], offer


def shared_kinds(plan: dict[str, Any]) -> list[str]:
    """Which kinds of information are on the plan (labels, never what they say)."""
    kinds = []
    if plan.get("handovers"):
        kinds.append("Overdracht naar een nieuwe school of opvang")
    kinds += sorted({ARRANGEMENTS.get(a["kind"], a["kind"]) for a in plan.get("arrangements", [])})
    if any(a.get("dispute") for a in plan.get("arrangements", [])):
        kinds.append("Afspraken over wie de ondersteuning betaalt")
    attendance = plan.get("attendance") or {}
    if attendance.get("status", "unknown") != "unknown" or attendance.get("reports"):
        kinds.append("Inschrijving en aanwezigheid op school (leerplicht)")
    return kinds


def _bearer(authorization: str | None) -> bytes:
    if not authorization or not authorization.startswith(BEARER):
        raise HTTPException(401, "a signed plan query is required", {"WWW-Authenticate": "Bearer"})
    return authorization[len(BEARER) :].strip().encode("ascii", "replace")


def _refused(code: str) -> JSONResponse:
    return JSONResponse({"refusal": code}, status_code=REFUSED_STATUS.get(code, 401))

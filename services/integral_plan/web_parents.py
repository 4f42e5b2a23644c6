"""The parents' pages of the web app (ouderinzage), beside the organisation's in `web.py`.

- `/ouders`: the children a school or the municipality linked the logged-in parent's account
  to (`parent-linked`, asked as that account: the plan service lists only its own links), each
  linking to `/ouders/{kind}`;
- the Dutch labels of the handover dossier's page (OSO categories, disclosure rules, fields),
  and of a dossier prepared before its sections travelled sealed: "niet beschikbaar voor
  inzage".

A parent is known here by their account (an opaque id in the partner registry, role parent)
and in records by a pseudonymous id (a hash of issuer and subject), never by name or BSN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from services.integral_plan.portal import Portal
from services.integral_plan.query import PARENT_ROLE, PlanAccess
from services.integral_plan.web_auth import PARENT, LoginRequiredError, Person, person_of

Page = Callable[..., HTMLResponse]
Message = Callable[[Request, int, str, str], HTMLResponse]

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


def parent_of(request: Request, site: ParentsSite) -> Person | Response:
    """The logged-in parent with a known account; else to the parents' login, or refused."""
    person = person_of(request)
    if person is None or person.kind != PARENT:
        raise LoginRequiredError(request.url.path, PARENT)
    if site.access.directory.role_of(person.partner) != PARENT_ROLE:
        return site.message(request, 403, "Geen toegang", "Uw account is niet bekend bij ketenbus.")
    return person


def add_parents_routes(app: FastAPI, site: ParentsSite) -> None:
    """The parents' routes and the dossier page's labels, on `app`."""
    site.templates.env.filters.update(
        categorie=lambda c: CATEGORIES.get(c, c),
        regel=lambda r: RULES.get(r, r),
        dossierveld=lambda f: DOSSIER_FIELDS.get(f, f),
        dossierwaarde=value_label,
        overstap=transition_label,
        niet_geopend=lambda code: NOT_OPENED.get(code, "dit deel kon niet worden geopend"),
    )

    @app.get("/ouders", response_class=HTMLResponse, summary="Ouderinzage: uw kinderen (HTML)")
    async def parents_home(request: Request) -> Response:
        parent = parent_of(request, site)
        if isinstance(parent, Response):
            return parent
        children = await site.portal.linked_children(parent.partner)
        return site.page(request, "ouders_kinderen.html", children=children, parents=True)

"""The plan's forms (Dutch): what a person fills in, checked at the edge, as a contract event.

Each form is checked here before anything is sealed or published: a missing or too long text,
a date that is not a date or lies before today, someone who takes no part in the plan, an
action that is not this organisation's to report. An error names the field in Dutch and goes
back onto the form; a good form becomes one contract event, published by the web app as the
organisation (signed with its key) with the acting person's pseudonymous id in it
(`ketenbusactor`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, TypeVar, get_args

from fastapi import Path as PathParam
from pydantic import BaseModel

from ketenbus_contracts.envelope import PSEUDONYM_PATTERN, CloudEvent
from ketenbus_contracts.plan import (
    ActionAgreed,
    ActionAgreedData,
    ActionDetails,
    ActionDone,
    ActionDoneData,
    ActionReport,
    GoalDetails,
    GoalSet,
    GoalSetData,
    PlanDomain,
    sealed_items,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
    ContactMade,
    ContactMadeData,
    PartnerWithdrawalReason,
    SignalWithdrawn,
    SignalWithdrawnData,
)
from ketenbus_contracts.truancy import (
    Article7Statement,
    ExemptionDetails,
    ExemptionGrantedV2,
    ExemptionGrantedV2Data,
    OfferMade,
    OfferMadeData,
    ReportAnswered,
    ReportAnsweredData,
    ReportStatus,
    StatementBy,
)
from services.policy.regions import RegionRules, load_regions

DOMAINS: tuple[str, ...] = get_args(PlanDomain)
Child = Annotated[str, PathParam(pattern=PSEUDONYM_PATTERN)]
E = TypeVar("E", bound=CloudEvent[Any])
MAX_TEXT = 2000


@dataclass
class Checked:
    """A form's values as typed, and its errors per field (empty: the form is good)."""

    form: str
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, label: str, *, required: bool = True) -> str:
        value = self.values.get(name, "").strip()
        if required and not value:
            self.errors[name] = f"Vul {label} in."
        elif len(value) > MAX_TEXT:
            self.errors[name] = f"{label.capitalize()} is te lang (ten hoogste {MAX_TEXT} tekens)."
        return value

    def day(self, name: str, label: str, today: date, *, required: bool = True) -> date | None:
        value = self.values.get(name, "").strip()
        if not value:
            if required:
                self.errors[name] = f"Vul {label} in."
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.errors[name] = f"{label.capitalize()} is geen datum (jjjj-mm-dd)."
            return None
        if day < today:
            self.errors[name] = f"{label.capitalize()} ligt in het verleden."
        return day

    def choice(self, name: str, label: str, allowed: Mapping[str, Any] | tuple[str, ...]) -> str:
        value = self.values.get(name, "")
        if value not in allowed:
            self.errors[name] = f"Kies {label}."
        return value

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Draft:
    """A checked form: the event to publish once its sections are sealed."""

    sealed: BaseModel | None  # what to seal first (None: the event seals nothing)
    build: Any  # (event id, sealed sections) -> the contract event (or events, in order)
    done: str  # which banner the plan page shows after
    scope: str | None = None  # the record a record-scoped purpose is sealed under (a handover)


@dataclass(frozen=True)
class OnPlan:
    """Where a form was posted: the plan as the organisation sees it, today, the organisation,
    the acting person's pseudonymous id, and what on the plan the form is about (an action),
    and the person's function."""

    plan: dict[str, Any]
    today: date
    partner: str
    actor: str
    ref: str = ""
    role: str = ""  # the person's function (a signal names it)

    def event(self, cls: type[E], event_id: uuid.UUID, data: Any, **fields: Any) -> E:
        """The contract event, as the organisation, with the person in it."""
        return cls.create(
            id=event_id,
            source=self.partner,
            subject=self.plan["child"],
            data=data,
            ketenbusactor=self.actor,
            **fields,
        )


async def publish_draft(portal: Any, draft: Draft, child: str) -> list[CloudEvent[Any]]:
    """A good form's events through the organisation's portal: its sections sealed with the
    organisation's keys (bound to the first event), then each event published in order."""
    event_id = uuid.uuid4()
    sealed = {}
    if draft.sealed is not None:
        sealed = await portal.seal(draft.sealed, child=child, event_id=event_id, scope=draft.scope)
    built = draft.build(event_id, sealed)
    events: list[CloudEvent[Any]] = built if isinstance(built, list) else [built]
    for event in events:
        await portal.publish(event)
    return events


# A form: what was posted, where -> the form checked, and what to publish when it is good.
PlanForm = Callable[[Mapping[str, Any], OnPlan], tuple[Checked, Draft | None]]


def values_of(form: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def identity_of(plan: dict[str, Any]) -> dict[str, Any] | None:
    """The child's name and date of birth from the first identity section the reader opened
    (an enrolment's, a signal's); None when none is open to it."""
    for item in sealed_items(plan):
        opened = (item.get("opened") or {}).get(Purpose.IDENTITY.value) or {}
        if opened.get("name") or opened.get("birth_date"):
            return {"name": opened.get("name") or "", "birth_date": opened.get("birth_date")}
    return None


def active_parties(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["partner"]: p for p in plan.get("parties", []) if p.get("active", True)}


def goal_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Doel stellen`: domain, what the goal is, optionally a target date."""
    checked = Checked("doel", values_of(form))
    domain = checked.choice("domein", "een domein", DOMAINS)
    text = checked.text("tekst", "het doel")
    target = checked.day("streefdatum", "de streefdatum", on.today, required=False)
    if not checked.ok:
        return checked, None
    goal_id = uuid.uuid4()

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> GoalSet:
        data = GoalSetData.model_validate(
            {
                "goal_id": goal_id,
                "domain": domain,
                "set_on": on.today,
                "target_on": target,
                "sealed": sealed,
            }
        )
        return on.event(GoalSet, event_id, data)

    return checked, Draft(GoalDetails(text=text), build, "doel")


def action_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Actie afspreken`: X (who) does Y (what) and reports back to B (to whom) by a date."""
    checked = Checked("actie", values_of(form))
    parties = active_parties(on.plan)
    what = checked.text("wat", "wat er gedaan wordt")
    who = checked.choice("wie", "wie het doet", parties)
    to = checked.choice("aan", "aan wie wordt teruggekoppeld", parties)
    due = checked.day("uiterlijk", "de datum", on.today)
    goals = {g["goal_id"]: g for g in on.plan.get("goals", [])}
    goal = checked.values.get("doel", "")
    if goal and goal not in goals:
        checked.errors["doel"] = "Kies een doel uit het plan, of geen."
    if not checked.ok or due is None:
        return checked, None
    action_id = uuid.uuid4()

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> ActionAgreed:
        data = ActionAgreedData(
            action_id=action_id,
            actor=who,
            reports_to=to,
            due_on=due,
            agreed_on=on.today,
            goal_id=uuid.UUID(goal) if goal else None,
            sealed=sealed,
        )
        return on.event(ActionAgreed, event_id, data)

    return checked, Draft(ActionDetails(what=what), build, "actie")


def done_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Afgerond melden`: the organisation doing an open action (`ref`) reports back, with
    the follow-up agreed."""
    action_id = on.ref
    checked = Checked(f"afgerond-{action_id}", values_of(form))
    action = next((a for a in on.plan.get("actions", []) if a["action_id"] == action_id), None)
    if action is None or action["actor"] != on.partner or action["status"] != "open":
        checked.errors["actie"] = "Deze actie kunt u niet als afgerond melden."
        return checked, None
    report = checked.text("terugkoppeling", "de terugkoppeling")
    follow_up = checked.text("vervolg", "het vervolg", required=False)
    if not checked.ok:
        return checked, None

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> ActionDone:
        data = ActionDoneData(action_id=uuid.UUID(action_id), done_on=on.today, sealed=sealed)
        return on.event(ActionDone, event_id, data)

    return checked, Draft(ActionReport(report=report, follow_up=follow_up), build, "afgerond")


WITHDRAWAL_REASONS: tuple[str, ...] = get_args(PartnerWithdrawalReason)
REPORT_STATUSES: tuple[str, ...] = get_args(ReportStatus)


def withdraw_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Signaal intrekken`: the signaller withdraws its own active signal (`ref`), or says
    the concern is over."""
    checked = Checked(f"intrekken-{on.ref}", values_of(form))
    signal = next((s for s in on.plan.get("signals", []) if s["signal_id"] == on.ref), None)
    if signal is None or signal["partner"] != on.partner or signal["status"] != "active":
        checked.errors["actie"] = "Dit signaal kunt u niet intrekken."
        return checked, None
    reason = checked.choice("reden", "een reden", WITHDRAWAL_REASONS)
    if not checked.ok:
        return checked, None

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> SignalWithdrawn:
        data = SignalWithdrawnData.model_validate(
            {"signal_id": on.ref, "withdrawn_on": on.today, "reason": reason}
        )
        return on.event(SignalWithdrawn, event_id, data)

    return checked, Draft(None, build, "ingetrokken")


def answer_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Verzuimmelding beantwoorden`: leerplicht, to whom the report went (`ref`), says it is
    being handled or closed (with a coded reason)."""
    checked = Checked(f"antwoord-{on.ref}", values_of(form))
    reports = (on.plan.get("attendance") or {}).get("reports", [])
    report = next((r for r in reports if r["report_id"] == on.ref), None)
    if report is None or report["leerplicht"] != on.partner:
        checked.errors["actie"] = "Deze verzuimmelding kunt u niet beantwoorden."
        return checked, None
    status = checked.choice("status", "een stand", REPORT_STATUSES)
    reason = checked.values.get("reden", "").strip()
    if status == "afgesloten" and not reason:
        checked.errors["reden"] = "Kies de reden van afsluiten."
    elif reason and reason not in closed_reasons(on.partner):
        # The truancy service closes a report only with a code of the region's list.
        checked.errors["reden"] = "Kies een reden van afsluiten uit de lijst."
    if not checked.ok:
        return checked, None

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> ReportAnswered:
        data = ReportAnsweredData.model_validate(
            {
                "report_id": on.ref,
                "leerplicht": on.partner,
                "status": status,
                "answered_on": on.today,
                "closed_reason": reason or None,
            }
        )
        return on.event(ReportAnswered, event_id, data)

    return checked, Draft(None, build, "beantwoord")


def contact_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Contact gelegd`: a signaller of the match (`ref`) made contact with the others."""
    checked = Checked(f"contact-{on.ref}", values_of(form))
    match = on.plan.get("match") or {}
    if (
        match.get("match_id") != on.ref
        or on.partner not in match.get("partners", [])
        or match.get("ended_on")
        or on.partner in match.get("contacted", [])
    ):
        checked.errors["actie"] = "Voor deze match kunt u geen contact melden."
        return checked, None
    everyone = checked.values.get("allen") == "ja"

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> ContactMade:
        data = ContactMadeData.model_validate(
            {
                "match_id": on.ref,
                "partner": on.partner,
                "contacted_on": on.today,
                "all_contacted": everyone,
            }
        )
        return on.event(ContactMade, event_id, data)

    return checked, Draft(None, build, "contact")


def offer_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Passend aanbod doen`: a school or the SWV offers a thuiszitter a place (it stops the
    three-month clock); only while the child is a thuiszitter."""
    checked = Checked("aanbod", values_of(form))
    thuiszitter = (on.plan.get("attendance") or {}).get("thuiszitter") or {}
    if not thuiszitter or thuiszitter.get("ended_on"):
        checked.errors["actie"] = "Dit kind is geen thuiszitter: een aanbod is niet nodig."
        return checked, None
    offer_id = uuid.uuid4()

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> OfferMade:
        data = OfferMadeData(offer_id=offer_id, by=on.partner, offered_on=on.today)
        return on.event(OfferMade, event_id, data)

    return checked, Draft(None, build, "aanbod")


STATEMENT_BY: tuple[str, ...] = get_args(StatementBy)


def leerplicht_region(partner: str) -> RegionRules | None:
    """The region whose leerplicht `partner` is (infra/truancy/); None when it is none's."""
    return next((r for r in load_regions().values() if r.leerplicht == partner), None)


def deciding_region(on: OnPlan) -> tuple[RegionRules | None, str | None]:
    """The region whose rules an exemption for the child is granted under, and the leerplicht
    that decides there (Leerplichtwet art. 6: the leerplicht of the municipality where the
    child lives, as the population feed told the plan; not known: the region's leerplicht of
    the child's school), as the truancy service decides it."""
    attendance = on.plan.get("attendance") or {}
    regions = load_regions()
    residence = attendance.get("residence")
    if residence:
        rules = regions.get(residence["region"])
        return rules, None if rules is None else rules.leerplicht_of(residence["municipality"])
    schools = {e["school"] for e in attendance.get("enrolments", [])}
    rules = next((r for r in regions.values() if schools & set(r.schools)), None)
    return rules, None if rules is None else rules.leerplicht


def closed_reasons(partner: str) -> tuple[str, ...]:
    """The codes a report sent to leerplicht `partner` is closed with: its region's list
    (`codes.closed_reasons` in infra/truancy/), which the truancy service holds it to."""
    region = leerplicht_region(partner)
    return tuple(region.codes.closed_reasons) if region else ()


def exemption_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Vrijstelling verlenen`: the leerplicht of the municipality where the child lives grants
    an exemption under an article of the Leerplichtwet, checked as the region's rules have the
    law (infra/truancy/): the statement of art. 7 where asked (and whether it says the child
    will never be fit to attend a school: no yearly renewal then), hours a week for a partial
    one, a yearly renewal ending with the school year. The SWV's advice (art. 5 onder a) is the
    SWV's own event: the truancy service checks it."""
    checked = Checked("vrijstelling", values_of(form))
    rules, deciding = deciding_region(on)
    residence = (on.plan.get("attendance") or {}).get("residence")
    if rules is None or (deciding != on.partner and not residence):
        checked.errors["actie"] = "U kunt voor dit kind geen vrijstelling verlenen."
        return checked, None
    if deciding != on.partner:
        checked.errors["actie"] = (
            "Alleen de leerplicht van de gemeente waar het kind woont, verleent een vrijstelling "
            "(Leerplichtwet art. 6)."
        )
        return checked, None
    law = rules.exemptions
    article = checked.choice("artikel", "een artikel", tuple(law.articles))
    valid_from = checked.day("vanaf", "de ingangsdatum", on.today)
    valid_until = checked.day("tot", "de einddatum", on.today, required=False)
    never_fit = checked.values.get("niet_geschikt") == "ja"
    if valid_from and valid_until and valid_until < valid_from:
        checked.errors["tot"] = "De einddatum ligt voor de ingangsdatum."
    elif valid_from and valid_until and article in law.yearly_renewal and not never_fit:
        end = law.school_year_end(valid_from)
        if valid_until > end:
            checked.errors["tot"] = (
                f"Artikel {article} wordt elk schooljaar verlengd: ten laatste {end.isoformat()}."
            )
    statement = _statement(checked, article in law.statement_required, on.today, never_fit)
    hours = _hours(checked, article in law.partial, rules.weekly_hours(None))
    motivation = checked.text("motivering", "de motivering", required=False)
    if not checked.ok or valid_from is None:
        return checked, None
    exemption_id = uuid.uuid4()

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> ExemptionGrantedV2:
        data = ExemptionGrantedV2Data.model_validate(
            {
                "exemption_id": exemption_id,
                "leerplicht": on.partner,
                "region": rules.region,
                "article": article,
                "statement": statement,
                "hours_per_week": hours,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "sealed": sealed,
            }
        )
        return on.event(ExemptionGrantedV2, event_id, data)

    return checked, Draft(ExemptionDetails(motivation=motivation), build, "vrijstelling")


def _statement(
    checked: Checked, required: bool, today: date, never_fit: bool
) -> Article7Statement | None:
    """The art. 7 statement (who gave it, when, whether it says the child will never be fit
    to attend a school: art. 6 lid 3) where the article asks it; else none."""
    by = checked.values.get("verklaring_door", "")
    if not required:
        if by:
            checked.errors["verklaring_door"] = "Bij dit artikel hoort geen verklaring (art. 7)."
        if never_fit:
            checked.errors["niet_geschikt"] = (
                "Niet geschikt hoort bij de verklaring van artikel 7 (5 onder a)."
            )
        return None
    if by not in STATEMENT_BY:
        checked.errors["verklaring_door"] = "Kies wie de verklaring (art. 7) gaf."
    issued = checked.values.get("verklaring_op", "").strip()
    try:
        day = date.fromisoformat(issued)
    except ValueError:
        checked.errors["verklaring_op"] = "Vul de datum van de verklaring in (jjjj-mm-dd)."
        return None
    if day > today:
        checked.errors["verklaring_op"] = "De datum van de verklaring ligt in de toekomst."
    if not checked.ok:
        return None
    return Article7Statement.model_validate({"by": by, "issued_on": day, "never_fit": never_fit})


def _hours(checked: Checked, partial: bool, weekly: float) -> float | None:
    """Hours a week of a partial exemption (fewer than the school's week); else none."""
    value = checked.values.get("uren", "").strip().replace(",", ".")
    if not partial:
        if value:
            checked.errors["uren"] = "Uren per week horen bij een gedeeltelijke vrijstelling."
        return None
    try:
        hours = float(value)
    except ValueError:
        checked.errors["uren"] = "Vul het aantal uren per week in."
        return None
    if not 0 < hours < weekly:
        checked.errors["uren"] = f"Het aantal uren per week ligt tussen 0 en {weekly:g}."
        return None
    return hours


# What each form sent, as the plan page names it when it tells what became of it.
SENT = {
    "doel": "Het doel",
    "actie": "De actie",
    "afgerond": "Het afronden van de actie",
    "ingetrokken": "Het intrekken van het signaal",
    "beantwoord": "Het antwoord op de verzuimmelding",
    "contact": "Het gemelde contact",
    "aanbod": "Het passend aanbod",
    "vrijstelling": "De vrijstelling",
    "signaal": "Het signaal",
    "beslist": "De beslissing over het geschil",
    "ouders": "De inzage door de ouders",
    "vrijgegeven": "Het vrijgeven van het dossier, met de inzage door de ouders,",
}

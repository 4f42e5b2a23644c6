"""The plan's casework forms (Dutch): register a signal, decide a funding dispute, and the
school's side of a handover (the parents' view, their consent, the release).

Each is a `PlanForm` as in `web_forms` (checked at the edge, errors back onto the form, one
contract event as the organisation with the acting person in it) and a route on the child's
plan, registered by `casework_routes` from `create_web_app`:

- `Signaal afgeven` (register-signal): a concern about a child the organisation already has a
  relation with, its codes checked against the region's list before sealing (the backbone
  never sees them), sealed under `signalling` with the organisation's keys from kluis as a
  partner's system seals it; the child's birth date (opened on the plan, or typed) gives the age
  band and the planned removal date and travels sealed under `identity`.
- `Geschil beslissen` (decide-dispute): a holder of doorzettingsmacht the escalation names (the
  region's register, infra/arrangements/doorzettingsmacht.yaml) decides who pays; the
  arrangements service checks it again.
- `Ouders en vrijgeven` (release-handover): the sending school records that the parents viewed
  the prepared dossier (agreed, or why not: sealed under `handover`), the categories they opted
  out of (OPT-UIT for the transition, infra/handover/oso-categories.yaml), their consent where
  the transition asks it (infra/handover/rules.yaml), and, once the receiving school requested
  the dossier, releases it (with the day the parents got their copy where they get one): one
  form, up to three events in that order (parents-viewed, consent-recorded, dossier-released),
  which the handover service checks again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from functools import cache
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ketenbus_contracts.arrangements import (
    DisputeDecided,
    DisputeDecidedData,
    FundingShare,
    Payer,
)
from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    DossierReleased,
    DossierReleasedData,
    ParentsViewDetails,
    ParentsViewed,
    ParentsViewedData,
    Transition,
)
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from services.integral_plan.web_forms import (
    Checked,
    Child,
    Draft,
    OnPlan,
    PlanForm,
    identity_of,
    values_of,
)
from services.policy.handover import HandoverRules, load_disclosure_rules, load_rules
from services.policy.signal_codes import SignalCodes, load_signal_codes

# act(request, child, action, form, ref): the web app's one way to post a form on a plan.
Act = Callable[[Request, str, str, PlanForm, str], Awaitable[Response]]
MAX_CONTACT = 200
PAYERS: tuple[str, ...] = get_args(Payer)
# The form's field per payer (Dutch), in the order the form shows them.
SHARE_FIELDS = {"school": "school", "swv": "swv", "municipality": "gemeente"}


@cache
def signal_codes() -> SignalCodes:
    return load_signal_codes()


def signal_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Signaal afgeven`: one or more concern codes, notes, how to reach the signaller, and the
    birth date where the plan does not open one; one active signal per organisation."""
    codes = signal_codes()
    concern = _many(form, "zorg")
    checked = Checked("signaal", values_of(form) | {"zorg": ",".join(concern)})
    mine = [
        s
        for s in on.plan.get("signals", [])
        if s["partner"] == on.partner and s["status"] == "active"
    ]
    if mine:
        checked.errors["actie"] = "U heeft al een actief signaal over dit kind."
        return checked, None
    if not concern:
        checked.errors["zorg"] = "Kies ten minste één zorggebied."
    elif not set(concern) <= set(codes.concern_domains):
        checked.errors["zorg"] = "Kies zorggebieden uit de lijst."
    notes = checked.text("toelichting", "de toelichting", required=False)
    contact = checked.text("contact", "hoe u bereikbaar bent")
    if len(contact) > MAX_CONTACT:
        checked.errors["contact"] = f"Uw bereikbaarheid is te lang (ten hoogste {MAX_CONTACT})."
    born = _birth_date(checked, on)
    band = codes.age_band(born, on.today) if born else None
    if born and band is None and "geboortedatum" not in checked.errors:
        checked.errors["geboortedatum"] = (
            f"Vanaf {codes.age_limit_years} jaar is een signaal niet meer mogelijk."
        )
    if not checked.ok or born is None or band is None:
        return checked, None
    signal_id = uuid.uuid4()
    role = (on.role or "professional")[:80]
    signaller = Signaller(partner=on.partner, role=role, contact=contact)
    removal = codes.removal_on(on.today, born)

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> SignalRegistered:
        data = SignalRegisteredData(
            signal_id=signal_id,
            signaller=signaller,
            registered_on=on.today,
            planned_removal_on=removal,
            age_band=band,
            sealed=sealed,
        )
        return on.event(SignalRegistered, event_id, data, purposes=sorted(sealed))

    details = SignalDetails(concern=concern, notes=notes, birth_date=born)
    return checked, Draft(details, build, "signaal")


def _many(form: Mapping[str, Any], name: str) -> list[str]:
    """Every value posted under `name` (checkboxes), in order, each once."""
    getlist = getattr(form, "getlist", None)
    posted = getlist(name) if getlist else form.get(name, [])
    values = [posted] if isinstance(posted, str) else list(posted)
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))


def _birth_date(checked: Checked, on: OnPlan) -> date | None:
    """The birth date the plan opens for this organisation (identity), else the one typed."""
    known = (identity_of(on.plan) or {}).get("birth_date")
    if known:
        return date.fromisoformat(str(known))
    value = checked.values.get("geboortedatum", "").strip()
    if not value:
        checked.errors["geboortedatum"] = "Vul de geboortedatum van het kind in."
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        checked.errors["geboortedatum"] = "De geboortedatum is geen datum (jjjj-mm-dd)."
        return None
    if born > on.today:
        checked.errors["geboortedatum"] = "De geboortedatum ligt in de toekomst."
    return born


def dispute_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Geschil beslissen`: a holder the escalation names splits the funding (whole percents
    per payer, together 100) of the arrangement in dispute (`ref`)."""
    checked = Checked(f"geschil-{on.ref}", values_of(form))
    arrangement = next(
        (
            a
            for a in on.plan.get("arrangements", [])
            if (a.get("dispute") or {}).get("dispute_id") == on.ref
        ),
        None,
    )
    dispute = (arrangement or {}).get("dispute") or {}
    if (
        arrangement is None
        or dispute.get("status") != "dispute-escalated"
        or on.partner not in dispute.get("holders", [])
    ):
        checked.errors["actie"] = "Dit geschil kunt u niet beslissen."
        return checked, None
    shares = []
    for payer, name in SHARE_FIELDS.items():
        value = checked.values.get(name, "").strip()
        if not value or value == "0":
            continue
        if not value.isdigit() or not 0 < int(value) <= 100:
            checked.errors[name] = "Vul een heel percentage in, van 1 tot en met 100."
            continue
        shares.append(FundingShare.model_validate({"payer": payer, "percent": int(value)}))
    if checked.ok and sum(s.percent for s in shares) != 100:
        checked.errors["school"] = "De percentages zijn samen 100."
    if not checked.ok:
        return checked, None
    arrangement_id = uuid.UUID(arrangement["ref"])

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> DisputeDecided:
        data = DisputeDecidedData(
            dispute_id=uuid.UUID(on.ref),
            arrangement_id=arrangement_id,
            decided_by=on.partner,
            decided_on=on.today,
            funding=shares,
        )
        return on.event(DisputeDecided, event_id, data)

    return checked, Draft(None, build, "beslist")


@cache
def handover_rules() -> HandoverRules:
    return load_rules()


@cache
def handover_forms() -> dict[str, dict[str, Any]]:
    """Per transition what the school's handover form asks: the categories the parents may opt
    out of, whether their consent is asked, whether they get a copy of what leaves."""
    disclosure, rules = load_disclosure_rules(), handover_rules()
    return {
        t: {
            "opt_out": [c for c in disclosure.categories if disclosure.rule(c, t) == "OPT-UIT"],
            "consent": rules.requires_consent(t),
            "copy": rules.requires_parents_copy(t),
        }
        for t in get_args(Transition)
        if t in rules.transitions
    }


def handover_form(form: Mapping[str, Any], on: OnPlan) -> tuple[Checked, Draft | None]:
    """`Ouders en vrijgeven`: the sender of a prepared handover (`ref`) records the parents'
    view (and consent where asked) and, when the receiver asked for it, releases the dossier."""
    opted = _many(form, "opt_uit")
    checked = Checked(f"overdracht-{on.ref}", values_of(form) | {"opt_uit": ",".join(opted)})
    handover = next((h for h in on.plan.get("handovers", []) if h["handover_id"] == on.ref), None)
    asks = handover_forms().get((handover or {}).get("transition", ""))
    if (
        handover is None
        or asks is None
        or handover["from"] != on.partner
        or handover["status"] != "started"
        or not handover.get("prepared_on")
        or handover.get("parents_viewed_on")
    ):
        checked.errors["actie"] = "Voor deze overdracht kunt u dit niet vastleggen."
        return checked, None
    viewed = _day_until_today(checked, "ingezien", "de dag dat de ouders het dossier inzagen", on)
    agreed = checked.choice("akkoord", "of de ouders akkoord zijn", ("ja", "nee"))
    reason = checked.text("reden", "waarom de ouders niet akkoord zijn", required=agreed == "nee")
    if not set(opted) <= set(asks["opt_out"]):
        checked.errors["opt_uit"] = "Bij deze overgang kunnen ouders daar geen bezwaar tegen maken."
    consent = None
    if asks["consent"]:
        consent = checked.choice("toestemming", "of er toestemming is", ("verleend", "geweigerd"))
    release = checked.values.get("vrijgeven") == "ja"
    copy_on = None
    if release:
        if not handover.get("requested_on"):
            checked.errors["vrijgeven"] = "De ontvangende school vroeg het dossier nog niet op."
        elif consent == "geweigerd":
            checked.errors["vrijgeven"] = "Zonder toestemming gaat het dossier niet."
        if asks["copy"]:
            copy_on = _day_until_today(
                checked, "kopie", "de dag dat de ouders een kopie kregen", on
            )
    if not checked.ok or viewed is None:
        return checked, None
    given_by = "pupil" if handover.get("pupil_decides") else "parents"
    handover_id = uuid.UUID(on.ref)
    today = on.today

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> list[Any]:
        view = ParentsViewedData.model_validate(
            {
                "handover_id": handover_id,
                "viewed_on": viewed,
                "agreed": agreed == "ja",
                "opted_out": opted,
                "sealed": sealed,
            }
        )
        events: list[Any] = [on.event(ParentsViewed, event_id, view, purposes=sorted(sealed))]
        if consent is not None:
            given = ConsentRecordedData.model_validate(
                {
                    "handover_id": handover_id,
                    "given_by": given_by,
                    "granted": consent == "verleend",
                    "recorded_on": today,
                }
            )
            events.append(on.event(ConsentRecorded, uuid.uuid4(), given))
        if release:
            released = DossierReleasedData(
                handover_id=handover_id, released_on=today, parents_copy_on=copy_on
            )
            events.append(on.event(DossierReleased, uuid.uuid4(), released))
        return events

    details = ParentsViewDetails(reason_not_agreed=reason) if reason else None
    done = "vrijgegeven" if release else "ouders"
    # What the parents said is sealed under the handover, record-scoped: this handover's id.
    return checked, Draft(details, build, done, scope=on.ref)


def _day_until_today(checked: Checked, name: str, label: str, on: OnPlan) -> date | None:
    """A date that has come (today or before)."""
    value = checked.values.get(name, "").strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        checked.errors[name] = f"Vul {label} in (jjjj-mm-dd)."
        return None
    if day > on.today:
        checked.errors[name] = f"{label[0].upper()}{label[1:]} ligt in de toekomst."
    return day


def casework_routes(app: FastAPI, act: Act) -> None:
    """The casework forms' routes on the child's plan."""

    @app.post("/plan/{child}/signalen", include_in_schema=False)
    async def register_signal(request: Request, child: Child) -> Response:
        return await act(request, child, "register-signal", signal_form, "")

    @app.post("/plan/{child}/geschillen/{dispute_id}/beslissen", include_in_schema=False)
    async def decide_dispute(request: Request, child: Child, dispute_id: uuid.UUID) -> Response:
        return await act(request, child, "decide-dispute", dispute_form, str(dispute_id))

    @app.post("/plan/{child}/overdrachten/{handover_id}/ouders", include_in_schema=False)
    async def release_handover(request: Request, child: Child, handover_id: uuid.UUID) -> Response:
        return await act(request, child, "release-handover", handover_form, str(handover_id))

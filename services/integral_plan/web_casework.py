"""The plan's casework forms (Dutch): register a signal, decide a funding dispute.

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


def casework_routes(app: FastAPI, act: Act) -> None:
    """The casework forms' routes on the child's plan."""

    @app.post("/plan/{child}/signalen", include_in_schema=False)
    async def register_signal(request: Request, child: Child) -> Response:
        return await act(request, child, "register-signal", signal_form, "")

    @app.post("/plan/{child}/geschillen/{dispute_id}/beslissen", include_in_schema=False)
    async def decide_dispute(request: Request, child: Child, dispute_id: uuid.UUID) -> Response:
        return await act(request, child, "decide-dispute", dispute_form, str(dispute_id))

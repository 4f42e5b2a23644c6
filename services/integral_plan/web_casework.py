"""The plan's casework forms (Dutch): register a signal, decide a funding dispute, and the
school's side of a handover (the parents' view, their consent, the release).

Each is a `PlanForm` as in `web_forms` (checked at the edge, errors back onto the form, one
contract event as the organisation with the acting person in it) and a route on the child's
plan, registered by `casework_routes` from `create_web_app`:

- `Signaal afgeven` (register-signal): a concern about a child the organisation already has a
  relation with, its codes checked against the region's list before sealing (the backbone
  never sees them), sealed under `signalling` with the organisation's keys from kluis as a
  partner's system seals it; the child's birth date (opened on the plan, or typed) gives the age
  band and the planned removal date and travels sealed under `identity` where the
  organisation's role provides identity (the processing register), else not at all.
- `Geschil beslissen` (decide-dispute): a holder of doorzettingsmacht the escalation names (the
  region's register, infra/arrangements/doorzettingsmacht.yaml) decides who pays; the
  arrangements service checks it again.
- `Ouders en vrijgeven` (release-handover): the sending school records that the parents viewed
  the prepared dossier (agreed, or why not: sealed under `handover`), the categories they opted
  out of (OPT-UIT for the transition, infra/handover/oso-categories.yaml), their consent where
  the transition asks it (infra/handover/rules.yaml), and, once the receiving school requested
  the dossier, releases it (with the day the parents got their copy where they get one): one
  form, up to three events in that order (parents-viewed, consent-recorded, dossier-released),
  which the handover service checks again. Once the parents' view is recorded (on this form
  before the receiver asked, or in the school's OSO dossier at import) the form is `Dossier
  vrijgeven`: the release alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
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
from ketenbus_contracts.envelope import CloudEvent
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
from ketenbus_contracts.pseudonym import is_valid_bsn
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from ketenbus_partner.pseudonyms import PseudonymRefusedError
from services.integral_plan.portal import Portal
from services.integral_plan.web_forms import (
    Checked,
    Child,
    Draft,
    OnPlan,
    PlanForm,
    identity_of,
    publish_draft,
    values_of,
)
from services.policy.handover import HandoverRules, load_disclosure_rules, load_rules
from services.policy.loading import load_register
from services.policy.signal_codes import SignalCodes, load_signal_codes
from services.runtime.partners import PartnerRegistry

# act(request, child, action, form, ref): the web app's one way to post a form on a plan.
Act = Callable[[Request, str, str, PlanForm, str], Awaitable[Response]]
MAX_CONTACT = 200
MAX_NAME = 200
NEW_CHILD = "nieuw-signaal"  # the new child's signal form
BSN_REFUSED = {"invalid-bsn": "Dit is geen geldig BSN (de elfproef klopt niet): controleer het."}
PAYERS: tuple[str, ...] = get_args(Payer)
# The form's field per payer (Dutch), in the order the form shows them.
SHARE_FIELDS = {"school": "school", "swv": "swv", "municipality": "gemeente"}


@cache
def signal_codes() -> SignalCodes:
    return load_signal_codes()


@dataclass(frozen=True)
class NewChild:
    """Who a child new to ketenbus is, as the signaller typed it (sealed under `identity`)."""

    bsn: str
    name: str
    birth_date: date


def signal_form(
    form: Mapping[str, Any], on: OnPlan, child: NewChild | None = None
) -> tuple[Checked, Draft | None]:
    """`Signaal afgeven`: one or more concern codes, notes, how to reach the signaller, and the
    birth date where the plan does not open one; one active signal per organisation. For a
    child new to ketenbus (`child`, checked by `new_child_form`) its BSN, name and birth date
    go with the signal, sealed under `identity`."""
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
    born = child.birth_date if child else _birth_date(checked, on)
    concern, notes, contact, band = _signal_fields(checked, concern, born, on.today)
    if not checked.ok or born is None or band is None:
        return checked, None
    signal_id = uuid.uuid4()
    role = (on.role or "professional")[:80]
    signaller = Signaller(partner=on.partner, role=role, contact=contact)
    removal = signal_codes().removal_on(on.today, born)

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

    # Only an organisation whose role provides identity (the register) has it sealed: kluis
    # refuses the others (a wijkteam), whose birth date gives the age band and goes no further.
    who: dict[str, Any] = {}
    if provides_identity(on.partner):
        who = {"birth_date": born} | ({"bsn": child.bsn, "name": child.name} if child else {})
    details = SignalDetails(concern=concern, notes=notes, **who)
    return checked, Draft(details, build, "signaal")


@cache
def provides_identity(partner: str) -> bool:
    """Whether kluis seals identity for `partner`: its role (the partner registry) is one of
    the identity activity's writer roles in the processing register."""
    role = PartnerRegistry.load().role_of(partner)
    return role in load_register().activity(Purpose.IDENTITY).writer_roles


def _signal_fields(
    checked: Checked, concern: list[str], born: date | None, today: date
) -> tuple[list[str], str, str, str | None]:
    """The signal's concern codes (from the region's list), notes, contact and age band."""
    codes = signal_codes()
    if not concern:
        checked.errors["zorg"] = "Kies ten minste één zorggebied."
    elif not set(concern) <= set(codes.concern_domains):
        checked.errors["zorg"] = "Kies zorggebieden uit de lijst."
    notes = checked.text("toelichting", "de toelichting", required=False)
    contact = checked.text("contact", "hoe u bereikbaar bent")
    if len(contact) > MAX_CONTACT:
        checked.errors["contact"] = f"Uw bereikbaarheid is te lang (ten hoogste {MAX_CONTACT})."
    band = codes.age_band(born, today) if born else None
    if born and band is None and "geboortedatum" not in checked.errors:
        checked.errors["geboortedatum"] = (
            f"Vanaf {codes.age_limit_years} jaar is een signaal niet meer mogelijk."
        )
    return concern, notes, contact, band


def new_child_form(form: Mapping[str, Any], today: date) -> tuple[Checked, NewChild | None]:
    """`Signaal afgeven` for a child new to ketenbus: its BSN (nine digits passing the
    elfproef), name and birth date, with the signal's own fields, all checked before anything
    is asked; errors on the form (`nieuw-signaal`), never the BSN anywhere but the form."""
    concern = _many(form, "zorg")
    checked = Checked(NEW_CHILD, values_of(form) | {"zorg": ",".join(concern)})
    bsn = re.sub(r"[\s.]", "", checked.values.get("bsn", ""))
    if not bsn:
        checked.errors["bsn"] = "Vul het BSN van het kind in."
    elif not re.fullmatch(r"[0-9]{9}", bsn):
        checked.errors["bsn"] = "Een BSN bestaat uit negen cijfers."
    elif not is_valid_bsn(bsn):
        checked.errors["bsn"] = BSN_REFUSED["invalid-bsn"]
    name = checked.text("naam", "de naam van het kind")
    if len(name) > MAX_NAME:
        checked.errors["naam"] = f"De naam is te lang (ten hoogste {MAX_NAME} tekens)."
    born = _typed_birth_date(checked, today)
    _signal_fields(checked, concern, born, today)
    if not checked.ok or born is None:
        return checked, None
    return checked, NewChild(bsn=bsn, name=name, birth_date=born)


async def send_new_child_signal(
    portal: Portal, form: Mapping[str, Any], on: OnPlan
) -> tuple[Checked, str | None, list[CloudEvent[Any]]]:
    """A signal about a child new to ketenbus, as a partner's system registers its first one
    (docs/partners.md steps 3 to 6): the form checked, the child's pseudonym asked of the
    pseudonym service by its BSN (sealed to the service), both sections sealed (by kluis
    itself while the organisation has no relation with the child yet: `ketenbus.kluis.seal`),
    signed and published as the organisation with the person in it. The checked form, and the
    pseudonym and events once sent (None and none when the form goes back with its errors).
    Raises PseudonymServiceUnavailableError when the pseudonym service does not answer."""
    checked, child = new_child_form(form, on.today)
    if child is None:
        return checked, None, []
    try:
        pseudonym = await portal.pseudonym(child.bsn)
    except PseudonymRefusedError as refused:
        checked.errors["bsn"] = BSN_REFUSED.get(
            refused.code, "Voor dit BSN is geen signaal mogelijk."
        )
        return checked, None, []
    plan = await portal.plan(pseudonym)
    on = replace(on, plan=plan or {"child": pseudonym})
    signal, draft = signal_form(form, on, child)
    if draft is None:
        checked.errors.update(signal.errors)
        return checked, None, []
    return checked, pseudonym, await publish_draft(portal, draft, pseudonym)


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
    return _typed_birth_date(checked, on.today)


def _typed_birth_date(checked: Checked, today: date) -> date | None:
    value = checked.values.get("geboortedatum", "").strip()
    if not value:
        checked.errors["geboortedatum"] = "Vul de geboortedatum van het kind in."
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        checked.errors["geboortedatum"] = "De geboortedatum is geen datum (jjjj-mm-dd)."
        return None
    if born > today:
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
    ):
        checked.errors["actie"] = "Voor deze overdracht kunt u dit niet vastleggen."
        return checked, None
    if handover.get("parents_viewed_on"):
        return _release_form(checked, handover, asks, on)
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


def _release_form(
    checked: Checked, handover: dict[str, Any], asks: dict[str, Any], on: OnPlan
) -> tuple[Checked, Draft | None]:
    """`Dossier vrijgeven`: the parents' view is recorded already (on this form before the
    receiver asked, or in the school's OSO dossier at import): the release alone, with the day
    the parents got their copy where they get one."""
    if not handover.get("requested_on"):
        checked.errors["vrijgeven"] = "De ontvangende school vroeg het dossier nog niet op."
    elif asks["consent"] and (handover.get("consent") or {}).get("status") != "granted":
        checked.errors["vrijgeven"] = "Zonder toestemming gaat het dossier niet."
    copy_on = None
    if asks["copy"]:
        copy_on = _day_until_today(checked, "kopie", "de dag dat de ouders een kopie kregen", on)
    if not checked.ok:
        return checked, None
    handover_id = uuid.UUID(on.ref)

    def build(event_id: uuid.UUID, sealed: dict[Any, str]) -> list[Any]:
        released = DossierReleasedData(
            handover_id=handover_id, released_on=on.today, parents_copy_on=copy_on
        )
        return [on.event(DossierReleased, event_id, released)]

    return checked, Draft(None, build, "vrijgegeven")


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

"""`ketenbus signal …`: register, withdraw and list signals, report contact, query vindplaatsen.

`register` and `withdraw` act as a partner system would: the concern codes are checked against
the region's list before sealing (the backbone never sees them), the concern and the child's
identity are sealed with the partner's keyring (keys from kluis), and the event is validated
and published on `in.<partner>.signalling.<name>`. The age band and the planned removal date
are computed here from the birth date, which stays sealed. `list` reads the signalling store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli.kit import backbone_url, echo_safe, fail, parse_date, settings_for

app = typer.Typer(help="Signals about a child (Verwijsindex rules).", no_args_is_help=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)")
]
AsPartner = Annotated[str, typer.Option("--as", help="The signalling partner id")]


def _pseudonyms(settings: Any, partner: str, bsn: str | None, household: str | None) -> Any:
    """The child's and household's pseudonyms from the pseudonym service, asked as `partner`
    (one request; the BSN and household key travel sealed to the service)."""
    from ketenbus_contracts.pseudonym import ChildBsn, HouseholdKey
    from ketenbus_partner.pseudonyms import PseudonymClientError
    from services.runtime.partner import resolve_as

    asked: list[ChildBsn | HouseholdKey] = []
    if bsn is not None:
        asked.append(ChildBsn(bsn=bsn))
    if household:
        asked.append(HouseholdKey(household_key=household))
    if not asked:
        return None
    try:
        return asyncio.run(resolve_as(settings, backbone_url(settings), partner, asked))
    except PseudonymClientError as exc:
        fail(f"refused: {exc}")


async def _publish(url: str, settings: Any, partner: str, build: Any) -> str:
    """Connect as the partner, let `build(keyring)` make the event, sign it, validate it as
    ingress, publish."""
    from ketenbus_partner.keyring import Keyring
    from ketenbus_partner.publish import signed_message
    from services.runtime.ingress import validate_inbound
    from services.runtime.nats_auth import partner_connect

    nc = await partner_connect(settings, partner, url)
    try:
        keyring = Keyring.for_partner(settings.data_dir, partner, nc)
        message = signed_message(await build(keyring), keyring.keys)
        validate_inbound(partner, message.payload, settings)
        await nc.jetstream().publish(message.subject, message.payload, headers=message.headers)
        return message.subject
    finally:
        await nc.close()


@app.command()
def register(
    as_partner: AsPartner,
    role: Annotated[str, typer.Option(help="The professional's role, e.g. ib-er, jeugdarts")],
    contact: Annotated[str, typer.Option(help="How to reach the professional")],
    concern: Annotated[list[str], typer.Option(help="Concern code (rules.yaml); repeatable")],
    vindplaats: Annotated[
        str | None,
        typer.Option(help="Your vindplaats id (`signal vindplaats`): a match names its contact"),
    ] = None,
    child: Annotated[str | None, typer.Option(help="The child's pseudonym")] = None,
    bsn: Annotated[
        str | None, typer.Option(help="The child's BSN (sealed; gives the pseudonym)")
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (sealed; gives the age band and the age limit)")
    ] = None,
    age_band: Annotated[str | None, typer.Option(help="Age band code, when no birth date")] = None,
    household: Annotated[
        str | None, typer.Option(help="Household key, e.g. postcode+number (sent as pseudonym)")
    ] = None,
    municipality: Annotated[str | None, typer.Option(help="Gemeentecode, e.g. 1705")] = None,
    notes: Annotated[str, typer.Option(help="Free notes (sealed)")] = "",
    on: Annotated[str | None, typer.Option(help="Registration date (default today)")] = None,
    until: Annotated[str | None, typer.Option(help="Planned removal date")] = None,
    data_dir: DataDir = None,
) -> None:
    """Register a concern about a child, sealed by the partner before it leaves."""
    from ketenbus_contracts.pseudonym import is_valid_bsn
    from ketenbus_contracts.signalling import (
        SignalDetails,
        Signaller,
        SignalRegistered,
        SignalRegisteredData,
        UnknownConcernCodeError,
        age_band_of,
        check_concern_codes,
        signal_period,
    )
    from services.signalling.rules import load_rules

    settings = settings_for(data_dir)
    rules = load_rules()
    if (child is None) == (bsn is None):
        fail("give exactly one of --child (pseudonym) and --bsn")
    if bsn is not None and not is_valid_bsn(bsn):
        fail("invalid-bsn: not a valid BSN (nine digits, eleven-check)")
    born = parse_date(birth_date, "--birth-date") if birth_date else None
    registered_on = parse_date(on, "--on") if on else date.today()
    band = age_band or (age_band_of(born, registered_on, rules.age_bands) if born else None)
    if born and band is None:
        fail(f"no signals from age {rules.lifecycle.age_limit_years}")
    if band is None:
        fail("give --age-band or --birth-date: who is informed depends on the child's age")
    removal = (
        parse_date(until, "--until")
        if until
        else signal_period(
            registered_on,
            born,
            max_years=rules.max_signal_duration.years,
            age_limit=rules.lifecycle.age_limit_years,
        )
    )
    details = SignalDetails(concern=concern, notes=notes, bsn=bsn, birth_date=born)
    try:
        check_concern_codes(details, rules.concern_domains)
    except UnknownConcernCodeError as exc:
        fail(f"{exc} (known: {', '.join(rules.concern_domains)})")
    # Checked before asking: nothing leaves for a signal that would be refused anyway.
    resolved = _pseudonyms(settings, as_partner, bsn, household)
    pseudonym = child or resolved.child(str(bsn))
    household_pseudonym = resolved.household(household) if household else None
    signaller = Signaller(partner=as_partner, role=role, contact=contact, vindplaats=vindplaats)
    signal_id = uuid.uuid4()

    async def build(keyring: Any) -> SignalRegistered:
        event_id = uuid.uuid4()
        sealed = await keyring.seal(details, child=pseudonym, event_id=event_id)
        return SignalRegistered.create(
            id=event_id,
            source=as_partner,
            subject=pseudonym,
            purposes=sorted(sealed),
            data=SignalRegisteredData(
                signal_id=signal_id,
                signaller=signaller,
                registered_on=registered_on,
                planned_removal_on=removal,
                household=household_pseudonym,
                municipality=municipality,
                age_band=band,
                sealed=sealed,
            ),
        )

    subject = _run_publish(settings, as_partner, build)
    typer.echo(f"signal {signal_id} on {pseudonym} published on {subject}")


def _run_publish(settings: Any, partner: str, build: Any) -> str:
    from ketenbus_partner.keyring import KeyringError
    from services.runtime.ingress import IngressRefusedError

    try:
        return asyncio.run(_publish(backbone_url(settings), settings, partner, build))
    except (IngressRefusedError, KeyringError) as exc:
        fail(f"refused: {exc}")
        raise  # unreachable: _fail exits


@app.command()
def withdraw(
    as_partner: AsPartner,
    child: Annotated[str, typer.Option(help="The child's pseudonym")],
    signal: Annotated[str, typer.Option(help="The signal id")],
    reason: Annotated[str, typer.Option(help="withdrawn | risk-ended")] = "withdrawn",
    on: Annotated[str | None, typer.Option(help="Date (default today)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Withdraw your own signal (or: the risk ended)."""
    from ketenbus_contracts.signalling import SignalWithdrawn, SignalWithdrawnData

    settings = settings_for(data_dir)
    data = SignalWithdrawnData.model_validate(
        {"signal_id": signal, "withdrawn_on": on or date.today().isoformat(), "reason": reason}
    )

    async def build(_: Any) -> SignalWithdrawn:
        return SignalWithdrawn.create(source=as_partner, subject=child, data=data)

    subject = _run_publish(settings, as_partner, build)
    typer.echo(f"withdrawal of {signal} published on {subject}")


@app.command()
def contact(
    as_partner: AsPartner,
    child: Annotated[str, typer.Option(help="The child's pseudonym")],
    match: Annotated[str, typer.Option(help="The match id")],
    household: Annotated[str | None, typer.Option(help="Household pseudonym")] = None,
    on: Annotated[str | None, typer.Option(help="Date (default today)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Report that you made contact with the other signallers of a match."""
    from ketenbus_contracts.signalling import ContactMade, ContactMadeData

    settings = settings_for(data_dir)
    data = ContactMadeData.model_validate(
        {
            "match_id": match,
            "household": household,
            "partner": as_partner,
            "contacted_on": on or date.today().isoformat(),
        }
    )

    async def build(_: Any) -> ContactMade:
        return ContactMade.create(source=as_partner, subject=child, data=data)

    subject = _run_publish(settings, as_partner, build)
    typer.echo(f"contact published on {subject}")


def signals_view(app_: Any, child: str) -> dict[str, Any]:
    """What `list` shows: the child's signals (metadata), its match and coordination."""
    signals = app_.signals_of(child)
    view: dict[str, Any] = {
        "child": child,
        "signals": [
            {
                "signal_id": str(s.signal_id),
                "partner": s.partner,
                "role": s.signaller.role,
                "contact": s.signaller.contact,
                "registered_on": s.registered_on.isoformat(),
                "ends_on": (s.ends_on or s.planned_removal_on).isoformat(),
                "status": "active" if s.active else s.end_reason,
                "ended_on": s.ended_on.isoformat() if s.ended_on else None,
                "household": s.household,
            }
            for s in signals.signals.values()
        ],
        "match": _match_view(signals.match),
        "household_matches": [],
    }
    for household in sorted({s.household for s in signals.signals.values() if s.household}):
        home = app_.household_of(household)
        if home.match is not None and child in home.children.values():
            view["household_matches"].append(
                {"household": household, **(_match_view(home.match) or {})}
            )
    return view


def _match_view(match: Any) -> dict[str, Any] | None:
    if match is None:
        return None
    return {
        "match_id": str(match.match_id),
        "partners": match.partners,
        "coordinator": match.coordinator.stored() if match.coordinator else None,
        "municipal_coordinator": match.municipal_coordinator,
        "contacted": sorted(match.contacted),
        "contact_complete": match.all_contacted,
        "reminded": match.reminded,
        "escalated": match.escalated,
    }


def format_signals(view: dict[str, Any]) -> str:
    lines = [f"signals on {view['child']}:"]
    for s in view["signals"]:
        lines.append(
            f"  {s['signal_id']}  {s['partner']} ({s['role']}, {s['contact']})  "
            f"registered {s['registered_on']}, ends {s['ends_on']}: {s['status']}"
        )
    for label, match in [("match", view["match"])] + [
        (f"household match ({m['household']})", m) for m in view["household_matches"]
    ]:
        if match is None:
            continue
        coordinator = (match["coordinator"] or {}).get("partner", "-")
        missing = sorted(set(match["partners"]) - set(match["contacted"]))
        contact = "complete" if match["contact_complete"] else f"missing from {', '.join(missing)}"
        lines.append(f"{label} {match['match_id']}: {', '.join(match['partners'])}")
        municipal = match["municipal_coordinator"]
        lines.append(f"  coordinator: {coordinator}; municipal coordinator: {municipal}")
        lines.append(
            f"  contact: {contact}; reminded: {match['reminded']}; escalated: {match['escalated']}"
        )
    if view["match"] is None and not view["household_matches"]:
        lines.append("no match")
    return "\n".join(lines)


@app.command("list")
def list_signals(
    child: Annotated[str, typer.Option(help="The child's pseudonym")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """List a child's signals (metadata only), its match, coordinator and contact status."""
    from services.signalling.bootstrap import create_application

    settings = settings_for(data_dir)
    with closing(create_application(settings)) as application:
        view = signals_view(application, child)
    if not view["signals"]:
        fail("no signals on this pseudonym", code=1)
    echo_safe(json.dumps(view, indent=2) if as_json else format_signals(view))


@app.command()
def vindplaats(
    kind: Annotated[
        str | None, typer.Option(help="childcare | consultation-bureau | school")
    ] = None,
    partner: Annotated[str | None, typer.Option(help="Partner id")] = None,
    municipality: Annotated[str | None, typer.Option(help="Gemeentecode")] = None,
    code: Annotated[str | None, typer.Option(help="An organisation code (BRIN, LRK, AGB)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Who handles signals at a childcare location, consultation bureau or school."""
    from services.signalling.vindplaatsen import load_vindplaatsen

    found = load_vindplaatsen().find(
        kind=kind, partner=partner, municipality=municipality, code=code
    )
    if as_json:
        typer.echo(json.dumps([v.model_dump() for v in found], indent=2))
        return
    for v in found:
        reach = ", ".join(x for x in (v.contact.phone, v.contact.email) if x)
        typer.echo(f"{v.id} [{v.kind}] {v.name}: {v.contact.function} ({reach})")
    if not found:
        fail("no vindplaats matches", code=1)

"""`ketenbus arrangements …`: the main decisions as a partner's system would publish them, and
the registers (tandem, funding scheme), the TLV monitor and the scripted scenario.

Every decision is built, its content sealed with the partner's keys from kluis, validated at
the ingress and published on `in.<partner>.arrangements.<name>`. Whether it is entitled and its
dates make sense is checked by the arrangements service: a refusal appears on
`ketenbus.deadletter.arrangements` with its reason (`ketenbus status`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ketenbus_contracts.envelope import CloudEvent, ContractModel, EventData
from services.cli.kit import fail, settings_for

app = typer.Typer(
    help="Arrangements: support requests, TLVs, OPPs, youth care, funding disputes.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)")
]
AsPartner = Annotated[str, typer.Option("--as", help="The deciding partner id")]
Role = Annotated[str, typer.Option(help="The professional's role, e.g. ib-er")]
Contact = Annotated[str, typer.Option(help="Whom to call (in clear)")]
On = Annotated[str | None, typer.Option("--on", help="Decision date (YYYY-MM-DD; today)")]
Start = Annotated[str, typer.Option("--start", help="YYYY-MM-DD")]
End = Annotated[str, typer.Option("--end", help="YYYY-MM-DD")]
Split = Annotated[
    list[str] | None, typer.Option("--split", help="payer=percent, e.g. swv=30 (repeat)")
]


def _date(text: str | None) -> date:
    try:
        return date.fromisoformat(text) if text else date.today()
    except ValueError:
        fail(f"not a date: {text!r} (YYYY-MM-DD)")
        raise


def _split(items: list[str] | None) -> list[Any] | None:
    from ketenbus_contracts.arrangements import FundingShare

    if not items:
        return None
    shares = []
    for item in items:
        payer, _, percent = item.partition("=")
        try:
            shares.append(FundingShare.model_validate({"payer": payer, "percent": int(percent)}))
        except ValueError:
            fail(f"not a share: {item!r} (school|swv|municipality=percent)")
    return shares


def _publish(
    data_dir: Path | None,
    partner: str,
    child: str,
    event: type[CloudEvent[Any]],
    data: Callable[[], EventData],
    details: ContractModel | None = None,
    scope: str | None = None,
) -> None:
    """Seal `details` with the partner's keys into the sections of the event's `data` (made
    here, so that invalid input is refused as such), sign the event, publish it at ingress."""
    from ketenbus_partner.keyring import Keyring
    from ketenbus_partner.keys import load_or_create_partner_keys
    from ketenbus_partner.publish import signed_message
    from services.runtime.ingress import IngressRefusedError, publish_inbound
    from services.runtime.nats_auth import partner_connect
    from services.runtime.supervisor import discover_nats_url

    settings = settings_for(data_dir)
    url = discover_nats_url(settings)
    if url is None:
        fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`")
        return
    event_id = uuid.uuid4()

    async def sealed() -> dict[Any, str]:
        if details is None:
            return {}
        nc = await partner_connect(settings, partner, str(url))
        try:
            keyring = Keyring.for_partner(settings.data_dir, partner, nc)
            return await keyring.seal(details, child=child, event_id=event_id, scope=scope)
        finally:
            await nc.close()

    try:
        unsealed = data()
        sections = asyncio.run(sealed())
        published = event.create(
            id=event_id,
            source=partner,
            subject=child,
            purposes=sorted(sections),
            data=unsealed.model_copy(update={"sealed": sections}),
        )
        message = signed_message(published, load_or_create_partner_keys(settings.data_dir, partner))
        # A refused event's original is sealed to kluis's key as the backbone shares it.
        subject = asyncio.run(publish_inbound(url, partner, message.payload, None, settings))[0]
    except IngressRefusedError as exc:
        fail(f"refused: {exc}")
        return
    except ValueError as exc:
        fail(f"invalid: {exc}")
        return
    typer.echo(f"published {published.type} {published.id} on {subject}")
    typer.echo("refusals by the arrangements service: ketenbus.deadletter.arrangements")


def _party(partner: str, role: str, contact: str) -> Any:
    from ketenbus_contracts.arrangements import Party

    return Party(partner=partner, role=role, contact=contact)


@app.command("request-support")
def request_support(
    child: str,
    as_partner: AsPartner,
    swv: Annotated[str, typer.Option(help="The samenwerkingsverband asked")],
    kind: Annotated[str, typer.Option(help="Kind of support (see `scheme`)")],
    question: Annotated[str, typer.Option(help="The question (sealed: support)")] = "",
    role: Role = "ib-er",
    contact: Contact = "IB'er",
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school (IB'er) asks the SWV for support."""
    from ketenbus_contracts import arrangements as c

    request_id = uuid.uuid4()
    _publish(
        data_dir,
        as_partner,
        child,
        c.SupportRequested,
        lambda: c.SupportRequestedData(
            request_id=request_id,
            school=_party(as_partner, role, contact),
            swv=swv,
            requested_on=_date(on),
            kind=kind,
        ),
        c.SupportRequestDetails(question=question) if question else None,
        scope=c.record_scope("request", request_id),
    )
    typer.echo(f"request {request_id}")


@app.command()
def tlv(
    child: str,
    as_partner: AsPartner,
    number: Annotated[str, typer.Option(help="beschikkingsnummer")],
    category: Annotated[str, typer.Option(help="OSO codelijst 31: Nvt, H, M, L")],
    start: Start,
    end: End,
    swv_number: Annotated[str, typer.Option(help="tlvswvnummer")] = "PO2504",
    school: Annotated[str | None, typer.Option(help="The school it is for")] = None,
    grounds: Annotated[str, typer.Option(help="Grounds (sealed: support)")] = "",
    expert: Annotated[
        list[str] | None,
        typer.Option(help="An expert opinion, DISCIPLINE:DATE (repeat; two are required)"),
    ] = None,
    role: Role = "tlv-commissie",
    contact: Contact = "Loket SWV",
    data_dir: DataDir = None,
) -> None:
    """The SWV issues a TLV on two expert opinions (a school may not: the service refuses it)."""
    from ketenbus_contracts import arrangements as c

    def opinions() -> list[Any]:
        made = []
        for given in expert or []:
            discipline, _, on = given.partition(":")
            made.append(c.ExpertOpinion(discipline=discipline, given_on=_date(on or None)))
        return made

    tlv_id = uuid.uuid4()
    _publish(
        data_dir,
        as_partner,
        child,
        c.TlvIssued,
        lambda: c.TlvIssuedData(
            tlv_id=tlv_id,
            beschikkingsnummer=number,
            swv_number=swv_number,
            categorie=category,  # type: ignore[arg-type]
            start_on=_date(start),
            end_on=_date(end),
            swv=_party(as_partner, role, contact),
            school=school,
            expert_opinions=opinions(),
        ),
        c.TlvDetails(grounds=grounds) if grounds else None,
        scope=c.record_scope("tlv", tlv_id),
    )
    typer.echo(f"tlv {tlv_id}")


@app.command()
def opp(
    child: str,
    as_partner: AsPartner,
    review: Annotated[list[str], typer.Option(help="A review date (repeat)")],
    goal: Annotated[list[str] | None, typer.Option(help="A goal (sealed; repeat)")] = None,
    hours: Annotated[float, typer.Option(help="Support hours a week (sealed)")] = 0.0,
    consulted_on: Annotated[
        str | None,
        typer.Option(help="The overleg with the parents, YYYY-MM-DD (default: the OPP date)"),
    ] = None,
    consent: Annotated[
        str, typer.Option(help="The parents on the handelingsdeel: granted, refused, pending")
    ] = "pending",
    role: Role = "ib-er",
    contact: Contact = "IB'er",
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school draws up the OPP after overleg with the parents; the IB'er holds regie."""
    from ketenbus_contracts import arrangements as c

    if consent not in ("granted", "refused", "pending"):
        fail(f"--consent is granted, refused or pending, not {consent!r}")

    opp_id = uuid.uuid4()
    _publish(
        data_dir,
        as_partner,
        child,
        c.OppDrawnUp,
        lambda: c.OppDrawnUpData(
            opp_id=opp_id,
            school=as_partner,
            regie=_party(as_partner, role, contact),
            drawn_up_on=_date(on),
            review_dates=[_date(r) for r in review],
            parents_consulted_on=_date(consulted_on or on),
            handelingsdeel_consent=consent,  # type: ignore[arg-type]
        ),
        c.OppDetails(goals=goal or [], support_hours_per_week=hours) if goal else None,
        scope=c.record_scope("opp", opp_id),
    )
    typer.echo(f"opp {opp_id}")


@app.command("handelingsdeel")
def handelingsdeel(
    child: str,
    opp_id: Annotated[str, typer.Argument(help="The OPP")],
    as_partner: AsPartner,
    refused: Annotated[bool, typer.Option(help="The parents refuse their consent")] = False,
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school records the parents' answer on the OPP's handelingsdeel."""
    from ketenbus_contracts import arrangements as c

    _publish(
        data_dir,
        as_partner,
        child,
        c.HandelingsdeelConsented,
        lambda: c.HandelingsdeelConsentedData(
            opp_id=uuid.UUID(opp_id), school=as_partner, answered_on=_date(on), granted=not refused
        ),
    )


@app.command()
def aanmelding(
    child: str,
    as_partner: AsPartner,
    transition: Annotated[
        str | None,
        typer.Option(help="The child changes school (po-vo, so-vo, …): starts the handover"),
    ] = None,
    tlv: Annotated[str | None, typer.Option(help="A special school: the TLV it rests on")] = None,
    no_extra_support: Annotated[
        bool, typer.Option(help="The parents ask no extra support (no OPP due on placement)")
    ] = False,
    role: Role = "ib-er",
    contact: Contact = "IB'er",
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school received the parents' written aanmelding: it decides within six weeks."""
    from ketenbus_contracts import arrangements as c

    aanmelding_id = uuid.uuid4()
    _publish(
        data_dir,
        as_partner,
        child,
        c.AanmeldingReceived,
        lambda: c.AanmeldingReceivedData(
            aanmelding_id=aanmelding_id,
            school=_party(as_partner, role, contact),
            received_on=_date(on),
            extra_support=not no_extra_support,
            tlv_id=uuid.UUID(tlv) if tlv else None,
            transition=transition,  # type: ignore[arg-type]
        ),
    )
    typer.echo(f"aanmelding {aanmelding_id}")


@app.command()
def extend(
    child: str,
    aanmelding_id: Annotated[str, typer.Argument(help="The aanmelding")],
    as_partner: AsPartner,
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school extends its decision period on an aanmelding, once, by four weeks."""
    from ketenbus_contracts import arrangements as c

    _publish(
        data_dir,
        as_partner,
        child,
        c.DecisionPeriodExtended,
        lambda: c.DecisionPeriodExtendedData(
            aanmelding_id=uuid.UUID(aanmelding_id), school=as_partner, extended_on=_date(on)
        ),
    )


@app.command()
def place(
    child: str,
    aanmelding_id: Annotated[str, typer.Argument(help="The aanmelding")],
    as_partner: AsPartner,
    start: Annotated[str | None, typer.Option("--start", help="Placed from, YYYY-MM-DD")] = None,
    other_school: Annotated[
        str | None, typer.Option(help="Not placed: the school that admits the child instead")
    ] = None,
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """The school decides on an aanmelding: placed from --start, or --other-school admits."""
    from ketenbus_contracts import arrangements as c

    if (start is None) == (other_school is None):
        fail("give --start (placed) or --other-school (not placed), one of them")
    _publish(
        data_dir,
        as_partner,
        child,
        c.PlacementDecided,
        lambda: c.PlacementDecidedData(
            aanmelding_id=uuid.UUID(aanmelding_id),
            school=as_partner,
            decided_on=_date(on),
            placed=other_school is None,
            placed_on=_date(start) if start else None,
            other_school=other_school,
        ),
    )


@app.command("youth-care")
def youth_care(
    child: str,
    as_partner: AsPartner,
    provider: Annotated[str, typer.Option(help="The youth-care provider partner id")],
    number: Annotated[str, typer.Option(help="beschikkingsnummer")],
    start: Start,
    end: End,
    product: Annotated[str, typer.Option(help="Product (sealed: youth_care)")] = "",
    provider_contact: Annotated[str, typer.Option(help="Provider's contact")] = "Aanbieder",
    role: Role = "consulent",
    contact: Contact = "Wijkteam",
    data_dir: DataDir = None,
) -> None:
    """The access team decides on youth care (content sealed under youth_care)."""
    from ketenbus_contracts import arrangements as c

    decision_id = uuid.uuid4()
    team = _party(as_partner, role, contact)
    _publish(
        data_dir,
        as_partner,
        child,
        c.YouthCareDecided,
        lambda: c.YouthCareDecidedData(
            decision_id=decision_id,
            beschikkingsnummer=number,
            access_team=team,
            provider=_party(provider, "aanbieder", provider_contact),
            start_on=_date(start),
            end_on=_date(end),
            regie=team,
        ),
        c.YouthCareDetails(product=product) if product else None,
        scope=c.record_scope("youth-care", decision_id),
    )
    typer.echo(f"youth-care decision {decision_id}")


@app.command()
def agree(
    child: str,
    as_partner: AsPartner,
    kind: Annotated[str, typer.Option(help="Kind of support (see `scheme`)")],
    party: Annotated[list[str], typer.Option(help="partner|role|contact (repeat)")],
    start: Start,
    end: End,
    region: Annotated[str, typer.Option(help="Region of doorzettingsmacht")] = "lingewaard",
    split: Split = None,
    description: Annotated[str, typer.Option(help="What is arranged (sealed)")] = "",
    data_dir: DataDir = None,
) -> None:
    """A combined education-care arrangement; without --split the decision scheme decides."""
    from ketenbus_contracts import arrangements as c

    parties = []
    for item in party:
        partner, _, rest = item.partition("|")
        role, _, contact = rest.partition("|")
        parties.append(_party(partner, role or "partij", contact or partner))
    arrangement_id = uuid.uuid4()
    shares = _split(split)
    _publish(
        data_dir,
        as_partner,
        child,
        c.ArrangementAgreed,
        lambda: c.ArrangementAgreedData(
            arrangement_id=arrangement_id,
            kind=kind,
            region=region,
            parties=parties,
            start_on=_date(start),
            end_on=_date(end),
            funding=shares,
            funding_basis="agreed" if shares else "scheme",
        ),
        c.ArrangementDetails(description=description) if description else None,
        scope=c.record_scope("arrangement", arrangement_id),
    )
    typer.echo(f"arrangement {arrangement_id}")


@app.command()
def dispute(
    child: str,
    arrangement: str,
    as_partner: AsPartner,
    propose: Split = None,
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """A party disputes who pays; support goes on, the service escalates with a deadline."""
    from ketenbus_contracts import arrangements as c

    dispute_id = uuid.uuid4()
    _publish(
        data_dir,
        as_partner,
        child,
        c.FundingDisputed,
        lambda: c.FundingDisputedData(
            dispute_id=dispute_id,
            arrangement_id=uuid.UUID(arrangement),
            raised_by=as_partner,
            raised_on=_date(on),
            proposed=_split(propose),
        ),
    )
    typer.echo(f"dispute {dispute_id}")


@app.command()
def decide(
    child: str,
    dispute_id: str,
    arrangement: str,
    as_partner: AsPartner,
    split: Annotated[list[str], typer.Option("--split", help="payer=percent (repeat)")],
    on: On = None,
    data_dir: DataDir = None,
) -> None:
    """A holder of doorzettingsmacht decides a dispute (register: doorzettingsmacht.yaml)."""
    from ketenbus_contracts import arrangements as c

    shares = _split(split) or []
    _publish(
        data_dir,
        as_partner,
        child,
        c.DisputeDecided,
        lambda: c.DisputeDecidedData(
            dispute_id=uuid.UUID(dispute_id),
            arrangement_id=uuid.UUID(arrangement),
            decided_by=as_partner,
            decided_on=_date(on),
            funding=shares,
        ),
    )


@app.command()
def tandem(partner: str) -> None:
    """A school's fixed contact in the access team, or an access team's schools."""
    from services.arrangements.rules import load_rules

    rules = load_rules()
    school = rules.tandem_of_school(partner)
    schools = rules.schools_of_access_team(partner)
    if school is None and not schools:
        fail(f"{partner} is in no tandem (infra/arrangements/tandem.yaml)", code=1)
    if school is not None:
        typer.echo(f"{partner}: access team {school.access_team}: {school.access_team_contact}")
    for t in schools:
        typer.echo(f"{partner}: school {t.school}: {t.school_contact}")


@app.command()
def scheme() -> None:
    """The grey-area decision scheme: kind of support -> who pays."""
    from services.arrangements.rules import load_rules

    for kind, split in load_rules().funding_scheme.items():
        typer.echo(f"{kind:<30} " + ", ".join(f"{p} {pct}%" for p, pct in split.items()))


@app.command()
def monitor(
    indicators: Annotated[
        bool,
        typer.Option(
            "--indicators",
            help="The TLV rate against the national figure and the joint deployment of "
            "education and care (seeds 001 B1, 004) instead of the TLV counts",
        ),
    ] = False,
    school_year: Annotated[
        str, typer.Option(help="For --indicators: the school year of the TLV rate")
    ] = "2026-2027",
    data_dir: DataDir = None,
) -> None:
    """TLVs per quarter of their start and per category (no personal data), from the store;
    with --indicators the TLV rate and the joint deployment indicator."""
    from services.arrangements.application import UnknownSchoolYearError
    from services.arrangements.bootstrap import create_application
    from services.arrangements.monitor import load_monitor_rules, school_year_bounds

    if indicators:
        try:
            school_year_bounds(school_year)
        except ValueError:
            fail("--school-year must look like 2026-2027")
    with closing(create_application(settings_for(data_dir))) as application:
        if not indicators:
            typer.echo(json.dumps(application.tlv_counts(), indent=2))
            return
        table = load_monitor_rules()
        try:
            rate = application.tlv_rate(table, school_year)
        except UnknownSchoolYearError as exc:
            fail(str(exc))
            return
        joint = application.joint_deployments(table)
    typer.echo(json.dumps({"tlv_rate": rate, "joint_deployment": joint}, indent=2))


@app.command()
def scenario(data_dir: DataDir = None) -> None:
    """Run the arrangement scenario against a running backbone (`ketenbus up`)."""
    from demo.arrangements import format_scenario, run_arrangement_scenario
    from services.runtime.nats_auth import credential_source
    from services.runtime.supervisor import discover_nats_url

    settings = settings_for(data_dir)
    url = discover_nats_url(settings)
    if url is None:
        fail("no NATS server: set KETENBUS_NATS_URL or start `ketenbus up`")
        return
    typer.echo(
        format_scenario(
            asyncio.run(
                run_arrangement_scenario(
                    url, settings.data_dir, credentials=credential_source(settings)
                )
            )
        )
    )

"""Building arrangement decisions as partners' systems do, and the scripted arrangement scenario.

`run_arrangement_scenario` shows one child's arrangement end to end through a real JetStream
server: the IB'er asks the SWV for support, a school's attempt at a TLV is refused, the SWV
issues one, the school draws up the OPP, the access team decides on youth care, a combined
arrangement starts on the decision scheme's split, the SWV disputes the funding (support goes
on), the dispute is escalated to the region's holders of doorzettingsmacht with a deadline, and
the municipal policy officer decides. Content is sealed by each partner before it leaves.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from ketenbus_contracts.arrangements import (
    AanmeldingReceived,
    AanmeldingReceivedData,
    ArrangementAgreed,
    ArrangementAgreedData,
    ArrangementDetails,
    DecisionPeriodExtended,
    DecisionPeriodExtendedData,
    DisputeDecided,
    DisputeDecidedData,
    ExpertOpinion,
    FundingDisputed,
    FundingDisputedData,
    FundingShare,
    HandelingsdeelConsented,
    HandelingsdeelConsentedData,
    OppDetails,
    OppDrawnUp,
    OppDrawnUpData,
    Party,
    PlacementDecided,
    PlacementDecidedData,
    ReducedTeachingTimeRequested,
    ReducedTeachingTimeRequestedData,
    ScheduleStep,
    SupportRequestDetails,
    SupportRequested,
    SupportRequestedData,
    TlvDetails,
    TlvIssued,
    TlvIssuedData,
    YouthCareDecided,
    YouthCareDecidedData,
    YouthCareDetails,
    record_scope,
)
from ketenbus_contracts.envelope import CloudEvent, parse_event
from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.connect import Connections, CredentialSource, own_credentials
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.publish import DataDirKeys
from services.runtime.streams import ARRANGEMENTS, KLUIS_ARRANGEMENTS, StreamSpec

# The demo watches the streams as the backbone's own NATS user (nats_auth.SUPERVISOR_USER); its
# credentials come from the same source as the partners'.
SUPERVISOR_USER = "backbone"

SCHOOL = Party(partner="bs-de-regenboog", role="ib-er", contact="IB'er De Regenboog, 026-1234567")
SWV = Party(partner="swv-lingewaard", role="tlv-commissie", contact="Loket SWV, 026-7654321")
WIJKTEAM = Party(
    partner="wijkteam-lingewaard", role="consulent", contact="Wijkteam Huissen, 026-2223344"
)
PROVIDER = Party(
    partner="jeugdhulp-de-linde", role="ambulant-begeleider", contact="De Linde, 026-5556677"
)
MUNICIPALITY = "gemeente-lingewaard"
REGION = "lingewaard"

Sealed = dict[Purpose, str]


def support_request(
    child: str, on: date, *, sealed: Sealed | None = None, kind: str = "gedrag-op-school",
    event_id: uuid.UUID | None = None, request_id: uuid.UUID | None = None,
) -> SupportRequested:  # fmt: skip
    return SupportRequested.create(
        id=event_id or uuid.uuid4(), source=SCHOOL.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=SupportRequestedData(
            request_id=request_id or uuid.uuid4(), school=SCHOOL, swv=SWV.partner,
            requested_on=on, kind=kind, sealed=sealed or {},
        ),
    )  # fmt: skip


def tlv(
    child: str, start: date, end: date, *, issuer: Party = SWV, number: str = "TLV-2026-0001",
    categorie: Any = "L", sealed: Sealed | None = None, event_id: uuid.UUID | None = None,
    tlv_id: uuid.UUID | None = None, experts: tuple[str, ...] = ("orthopedagoog", "kinderarts"),
) -> TlvIssued:  # fmt: skip
    advised = start - timedelta(days=30)  # the experts advised before the SWV decided
    opinions = [ExpertOpinion(discipline=e, given_on=advised) for e in experts]
    return TlvIssued.create(
        id=event_id or uuid.uuid4(), source=issuer.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=TlvIssuedData(
            tlv_id=tlv_id or uuid.uuid4(), beschikkingsnummer=number, swv_number="PO2504",
            categorie=categorie, start_on=start, end_on=end, swv=issuer,
            school=SCHOOL.partner, sealed=sealed or {}, expert_opinions=opinions,
        ),
    )  # fmt: skip


def opp(
    child: str, on: date, reviews: list[date], *, sealed: Sealed | None = None,
    event_id: uuid.UUID | None = None, opp_id: uuid.UUID | None = None,
    consulted_on: date | None = None, consent: Any = "granted",
) -> OppDrawnUp:  # fmt: skip
    return OppDrawnUp.create(
        id=event_id or uuid.uuid4(), source=SCHOOL.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=OppDrawnUpData(
            opp_id=opp_id or uuid.uuid4(), school=SCHOOL.partner, regie=SCHOOL, drawn_up_on=on,
            review_dates=reviews, sealed=sealed or {}, parents_consulted_on=consulted_on or on,
            handelingsdeel_consent=consent,
        ),
    )  # fmt: skip


def youth_care(
    child: str, start: date, end: date, *, sealed: Sealed | None = None,
    decider: Party = WIJKTEAM, event_id: uuid.UUID | None = None,
    decision_id: uuid.UUID | None = None,
) -> YouthCareDecided:  # fmt: skip
    return YouthCareDecided.create(
        id=event_id or uuid.uuid4(), source=decider.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=YouthCareDecidedData(
            decision_id=decision_id or uuid.uuid4(), beschikkingsnummer="JW-1705-000123",
            access_team=decider, provider=PROVIDER, start_on=start, end_on=end, regie=WIJKTEAM,
            sealed=sealed or {},
        ),
    )  # fmt: skip


def arrangement(
    child: str, start: date, end: date, *, kind: str = "gedrag-op-school",
    funding: list[FundingShare] | None = None, sealed: Sealed | None = None,
    event_id: uuid.UUID | None = None, arrangement_id: uuid.UUID | None = None,
    region: str = REGION,
) -> ArrangementAgreed:  # fmt: skip
    return ArrangementAgreed.create(
        id=event_id or uuid.uuid4(), source=SCHOOL.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=ArrangementAgreedData(
            arrangement_id=arrangement_id or uuid.uuid4(), kind=kind, region=region,
            parties=[SCHOOL, SWV, WIJKTEAM, PROVIDER], start_on=start, end_on=end,
            funding=funding, funding_basis="agreed" if funding else "scheme",
            sealed=sealed or {},
        ),
    )  # fmt: skip


def dispute(
    child: str, arrangement_id: uuid.UUID, on: date, *, by: str = SWV.partner,
    proposed: list[FundingShare] | None = None, dispute_id: uuid.UUID | None = None,
) -> FundingDisputed:  # fmt: skip
    return FundingDisputed.create(
        source=by, subject=child,
        data=FundingDisputedData(
            dispute_id=dispute_id or uuid.uuid4(), arrangement_id=arrangement_id, raised_by=by,
            raised_on=on, proposed=proposed,
        ),
    )  # fmt: skip


def decision(
    child: str, dispute_id: uuid.UUID, arrangement_id: uuid.UUID, on: date,
    funding: list[FundingShare], *, by: str = MUNICIPALITY,
) -> DisputeDecided:  # fmt: skip
    return DisputeDecided.create(
        source=by, subject=child,
        data=DisputeDecidedData(
            dispute_id=dispute_id, arrangement_id=arrangement_id, decided_by=by,
            decided_on=on, funding=funding,
        ),
    )  # fmt: skip


def reduced_time(
    child: str, opp_id: uuid.UUID, on: date, hours: float, start: date, end: date,
    steps: list[tuple[date, float]], *, sealed: Sealed | None = None,
    event_id: uuid.UUID | None = None,
) -> ReducedTeachingTimeRequested:  # fmt: skip
    return ReducedTeachingTimeRequested.create(
        id=event_id or uuid.uuid4(), source=SCHOOL.partner, subject=child,
        purposes=sorted(sealed or {}),
        data=ReducedTeachingTimeRequestedData(
            request_id=uuid.uuid4(), school=SCHOOL.partner, opp_id=opp_id, requested_on=on,
            hours_per_week=hours, start_on=start, end_on=end,
            back_to_full_time=[ScheduleStep(from_on=d, hours_per_week=h) for d, h in steps],
            sealed=sealed or {},
        ),
    )  # fmt: skip


def aanmelding(
    child: str, on: date, *, school: Party = SCHOOL, extra_support: bool = True,
    tlv_id: uuid.UUID | None = None, aanmelding_id: uuid.UUID | None = None,
    transition: Any = None,
) -> AanmeldingReceived:  # fmt: skip
    return AanmeldingReceived.create(
        source=school.partner, subject=child,
        data=AanmeldingReceivedData(
            aanmelding_id=aanmelding_id or uuid.uuid4(), school=school, received_on=on,
            extra_support=extra_support, tlv_id=tlv_id, transition=transition,
        ),
    )  # fmt: skip


def extension(child: str, aanmelding_id: uuid.UUID, on: date) -> DecisionPeriodExtended:
    return DecisionPeriodExtended.create(
        source=SCHOOL.partner, subject=child,
        data=DecisionPeriodExtendedData(
            aanmelding_id=aanmelding_id, school=SCHOOL.partner, extended_on=on
        ),
    )  # fmt: skip


def placement(
    child: str, aanmelding_id: uuid.UUID, on: date, *, placed_on: date | None = None,
    other_school: str | None = None, school: Party = SCHOOL,
) -> PlacementDecided:  # fmt: skip
    return PlacementDecided.create(
        source=school.partner, subject=child,
        data=PlacementDecidedData(
            aanmelding_id=aanmelding_id, school=school.partner, decided_on=on,
            placed=other_school is None, placed_on=placed_on, other_school=other_school,
        ),
    )  # fmt: skip


def handelingsdeel(
    child: str, opp_id: uuid.UUID, on: date, *, granted: bool = True
) -> HandelingsdeelConsented:
    return HandelingsdeelConsented.create(
        source=SCHOOL.partner, subject=child,
        data=HandelingsdeelConsentedData(
            opp_id=opp_id, school=SCHOOL.partner, answered_on=on, granted=granted
        ),
    )  # fmt: skip


def split(**shares: int) -> list[FundingShare]:
    return [FundingShare(payer=payer, percent=pct) for payer, pct in shares.items()]  # type: ignore[arg-type]


# The scenario --------------------------------------------------------------------------


async def poll(check: Any, what: str, timeout: float = 90.0) -> Any:
    """Await `check()` until it gives something; no responders counts as not yet (the service
    is still starting). The demo's one way to wait for the backbone."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
        except nats.errors.NoRespondersError:
            result = None
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} did not happen in time")
        await asyncio.sleep(0.2)


async def last_event(
    nc: NatsClient, name: str, stream: StreamSpec = ARRANGEMENTS
) -> CloudEvent[Any] | None:
    """The last event published on `ketenbus.<stream's domain>.<name>.v1`, if any."""
    try:
        msg = await nc.jetstream().get_last_msg(
            stream.name, f"ketenbus.{stream.name.lower()}.{name}.v1"
        )
    except NotFoundError:
        return None
    return parse_event(msg.data or b"")


async def wait_for(
    nc: NatsClient, name: str, match: Any, stream: StreamSpec = ARRANGEMENTS
) -> CloudEvent[Any]:
    """The last `name` event on `stream`, once it is there and `match`es."""

    async def found() -> CloudEvent[Any] | None:
        event = await last_event(nc, name, stream)
        return event if event is not None and match(event) else None

    result: CloudEvent[Any] = await poll(found, f"{name} on {stream.name}")
    return result


async def _kluis_caught_up(nc: NatsClient) -> None:
    async def idle() -> bool:
        try:
            info = await nc.jetstream().consumer_info(
                KLUIS_ARRANGEMENTS.stream.name, KLUIS_ARRANGEMENTS.durable
            )
        except NotFoundError:
            return False
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await poll(idle, "kluis catching up with ARRANGEMENTS")


async def run_arrangement_scenario(
    url: str,
    data_dir: Path,
    child: str | None = None,
    today: date | None = None,
    conns: Connections | None = None,
    credentials: CredentialSource = own_credentials,
) -> dict[str, Any]:
    """Run the scenario (needs the arrangements and kluis services); what each party saw.

    Each partner acts over its own connection (`conns`, else opened here with the credentials
    `credentials` gives, default each one's own); the scenario watches the stream as the
    backbone."""
    if conns is None:
        async with Connections(url, credentials) as own:
            return await run_arrangement_scenario(url, data_dir, child, today, own)
    today = today or date.today()
    child = child or "".join(
        "abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in uuid.uuid4().bytes * 2
    )
    nc = await conns.user(SUPERVISOR_USER)
    signer = DataDirKeys(data_dir)  # every partner signs what it sends
    school, swv, wijkteam = [
        Keyring.for_partner(data_dir, p.partner, await conns.partner(p.partner))
        for p in (SCHOOL, SWV, WIJKTEAM)
    ]

    async def send(event: CloudEvent[Any]) -> str:
        """Signed by its source and published over the source's own connection."""
        source = await conns.partner(event.source)
        return await signer.publish(source.jetstream(), event)

    async def sealed_by(keyring: Keyring, details: Any, event_id: uuid.UUID, scope: str) -> Sealed:
        # Each record has its own key: the scope is the record's relation basis id.
        return await keyring.seal(details, child=child, event_id=event_id, scope=scope)

    ask_id, request_id = uuid.uuid4(), uuid.uuid4()
    ask = SupportRequestDetails(
        question="Handelingsverlegen bij boosheid en fysieke agressie in groep 5.",
        tried_so_far="Basisondersteuning, gedragsplan, time-out plek.",
    )
    await send(support_request(
        child, today - timedelta(days=30), event_id=ask_id, request_id=request_id,
        sealed=await sealed_by(school, ask, ask_id, record_scope("request", request_id)),
    ))  # fmt: skip
    # A school may not issue a TLV: refused with a reason on ketenbus.deadletter.arrangements.
    await send(tlv(child, today, today + timedelta(days=365), issuer=SCHOOL))
    tlv_event_id, tlv_id = uuid.uuid4(), uuid.uuid4()
    grounds = TlvDetails(grounds="Ondersteuningsbehoefte overstijgt het regulier onderwijs.")
    await send(tlv(
        child, today, today + timedelta(days=365), categorie="M", event_id=tlv_event_id,
        tlv_id=tlv_id, number=f"TLV-{today.year}-0042",
        sealed=await sealed_by(swv, grounds, tlv_event_id, record_scope("tlv", tlv_id)),
    ))  # fmt: skip
    opp_event_id, opp_id = uuid.uuid4(), uuid.uuid4()
    plan = OppDetails(
        goals=["Herkent boosheid en gebruikt de afgesproken stop-stap."],
        support_hours_per_week=4,
        perspective="Regulier vo, basisberoepsgerichte leerweg",
    )
    await send(opp(
        child, today - timedelta(days=7),
        [today + timedelta(days=42), today + timedelta(days=126)],
        sealed=await sealed_by(school, plan, opp_event_id, record_scope("opp", opp_id)),
        event_id=opp_event_id,
        opp_id=opp_id,
    ))  # fmt: skip
    care_event_id, decision_id = uuid.uuid4(), uuid.uuid4()
    care = YouthCareDetails(product="45A53 ambulante jeugdhulp", care="Agressieregulatie")
    await send(youth_care(
        child, today, today + timedelta(days=180), event_id=care_event_id,
        decision_id=decision_id,
        sealed=await sealed_by(
            wijkteam, care, care_event_id, record_scope("youth-care", decision_id)
        ),
    ))  # fmt: skip
    arrangement_event_id, arrangement_id = uuid.uuid4(), uuid.uuid4()
    oza = ArrangementDetails(description="Ambulant begeleider twee ochtenden in de klas.")
    await send(arrangement(
        child, today, today + timedelta(days=180), event_id=arrangement_event_id,
        arrangement_id=arrangement_id,
        sealed=await sealed_by(
            school, oza, arrangement_event_id, record_scope("arrangement", arrangement_id)
        ),
    ))  # fmt: skip
    dispute_id = uuid.uuid4()
    await send(dispute(
        child, arrangement_id, today, proposed=split(municipality=100), dispute_id=dispute_id,
    ))  # fmt: skip
    escalated = await wait_for(nc, "dispute-escalated", lambda e: e.data.dispute_id == dispute_id)
    await send(decision(
        child, dispute_id, arrangement_id, today, split(swv=30, municipality=70),
    ))  # fmt: skip
    decided = await wait_for(nc, "dispute-decided", lambda e: e.data.dispute_id == dispute_id)
    youth = await wait_for(
        nc,
        "youth-care-decided",
        lambda e: e.data.decision_id is not None and e.subject == child,
    )
    await _kluis_caught_up(nc)
    seen_by_school = await school.open_available(youth)
    seen_by_wijkteam = await wijkteam.open_available(youth)
    return {
        "child": child,
        "tlv": str(tlv_id),
        "arrangement": str(arrangement_id),
        "escalated": {
            "holders": [h.partner for h in escalated.data.holders],
            "deadline": escalated.data.deadline.isoformat(),
        },
        "decided": {
            "by": decided.data.decided_by,
            "funding": {s.payer: s.percent for s in decided.data.funding},
        },
        "youth_care_for_school": {
            "whom_to_call": youth.data.access_team.contact,
            "period": [youth.data.start_on.isoformat(), youth.data.end_on.isoformat()],
            "opened": {p.value: s for p, s in seen_by_school.sections.items()},
            "refused": {p.value: r.code for p, r in seen_by_school.refused.items()},
        },
        "youth_care_for_wijkteam": {
            "opened": {p.value: s for p, s in seen_by_wijkteam.sections.items()},
            "refused": {p.value: r.code for p, r in seen_by_wijkteam.refused.items()},
        },
    }


def format_scenario(result: dict[str, Any]) -> str:
    """The scenario's outcome as text for `ketenbus arrangements scenario`."""
    school = result["youth_care_for_school"]
    lines = [
        f"Arrangement {result['arrangement']} for child {result['child']}",
        f"  TLV issued by the SWV: {result['tlv']} (a school's TLV was refused)",
        f"  funding disputed, escalated to {', '.join(result['escalated']['holders'])}"
        f" with deadline {result['escalated']['deadline']}",
        f"  decided by {result['decided']['by']}: "
        + ", ".join(f"{k} {v}%" for k, v in result["decided"]["funding"].items()),
        f"  the school sees youth care {school['period'][0]} .. {school['period'][1]},"
        f" whom to call: {school['whom_to_call']};"
        f" content: {', '.join(f'{k} {v}' for k, v in school['refused'].items()) or 'opened'}",
        f"  the wijkteam opens: {', '.join(result['youth_care_for_wijkteam']['opened'])}",
    ]
    return "\n".join(lines)

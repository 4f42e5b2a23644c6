"""The scripted demo: the whole story of one child, through a real JetStream server and real
event stores, every event signed by its partner and everything about the child sealed.

1. The school imports its pupils from the EDEXML sample: enrolments (identity sealed).
2. The school, childcare and youth health care (JGZ) signal; the backbone finds a match. Each
   concern stays with its signaller; childcare's lone signal (another pupil) is seen by no one
   else; the match tells the school, the JGZ and the municipal coordinator who else signalled
   and how to reach them, never what about.
3. The parties build the plan: the wijkteam joins and gets regie, sets a goal and agrees an
   action ("the JGZ does a home visit and reports back to the wijkteam by date"), which the JGZ
   reports done.
4. A warm handover po→vo: the school's OSO dossier (the sample, its identity adapted to the
   matched pupil in memory) is requested by the vo school after enrolment, released, delivered.
5. The arrangement (`demo.arrangements`): support, TLV, OPP, youth care, funding
   dispute decided by escalation.
6. The school's absence CSV brings the pupil to the 16-hour threshold: a verzuim report.
7. The plan that ties it together, read by three partners, each seeing what its keys open:
   the school its own concern and that the JGZ signalled too and how to reach it, never the
   JGZ's notes.
"""

from __future__ import annotations

import csv
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from nats.aio.client import Client as NatsClient

from adapters.edexml.importer import (
    ImportPlan,
    load_previous,
    plan_import,
    pseudonyms_needed,
    save_state,
    summary,
)
from adapters.edexml.reader import SAMPLE, Pupil, read_header, read_pupils
from adapters.edexml.schema import validate
from adapters.oso.dossier import SAMPLES as OSO_SAMPLES
from adapters.oso.dossier import read_dossier
from adapters.oso.transfer import Imported, TransferError, export_oso, import_oso
from adapters.school_imports import publish_absences, publish_edexml
from demo.arrangements import SUPERVISOR_USER, poll, run_arrangement_scenario, wait_for
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import (
    DossierReleased,
    DossierReleasedData,
    DossierRequested,
    DossierRequestedData,
    Enrolment,
    Organisation,
)
from ketenbus_contracts.plan import (
    PUPIL_FROM_AGE,
    ActionAgreed,
    ActionAgreedData,
    ActionDetails,
    ActionDone,
    ActionDoneData,
    ActionReport,
    GoalDetails,
    GoalSet,
    GoalSetData,
    ParentLinked,
    ParentLinkedData,
    Party,
    PartyJoined,
    PartyJoinedData,
    RegieAssigned,
    RegieAssignedData,
)
from ketenbus_contracts.pseudonym import Pseudonymiser, is_valid_bsn
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from ketenbus_contracts.signing import sign_event
from ketenbus_partner.connect import Connections, CredentialSource, own_credentials
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import open_plan, query_plan
from ketenbus_partner.pseudonyms import PseudonymClient, ResolvedPseudonyms
from ketenbus_partner.publish import publish_signed
from services.policy.handover import load_disclosure_rules, load_rules
from services.policy.regions import RegionRules, load_regions, school_region
from services.policy.signal_codes import load_signal_codes
from services.runtime.streams import (
    HANDOVER,
    KLUIS_ARRANGEMENTS,
    KLUIS_HANDOVER,
    KLUIS_PLAN,
    KLUIS_SIGNALLING,
    KLUIS_TRUANCY,
    TRUANCY,
)

# Each signals from its vindplaats (infra/signalling/vindplaatsen.yaml): a match names its
# contact person to the others.
SCHOOL = Signaller(
    partner="bs-de-regenboog",
    role="ib-er",
    contact="IB'er groep 4, 026-1234567",
    vindplaats="bs-de-regenboog",
)
JGZ = Signaller(
    partner="jgz-gelderland-zuid",
    role="jeugdarts",
    contact="JGZ-team Huissen",
    vindplaats="cb-huissen",
)
CHILDCARE = Signaller(
    partner="kdv-het-speelhuis",
    role="pedagogisch-medewerker",
    contact="Locatie",
    vindplaats="kdv-het-speelhuis-huissen",
)
WIJKTEAM = Party(
    partner="wijkteam-lingewaard", role="regisseur", contact="Wijkteam Huissen, 026-2223344"
)
RECEIVER = Organisation(partner="vo-het-lyceum", contact="Zorgcoördinator, 026-3334455")
SWV = "swv-po-lingewaard"
READERS = ("bs-de-regenboog", "jgz-gelderland-zuid", "wijkteam-lingewaard")
OSO_SAMPLE = OSO_SAMPLES / "Voorbeelddossier_OV_POVO_full.xml"
KLUIS_CONSUMERS = (KLUIS_SIGNALLING, KLUIS_PLAN, KLUIS_HANDOVER, KLUIS_ARRANGEMENTS, KLUIS_TRUANCY)


@dataclass(frozen=True)
class DemoPupil:
    pseudonym: str
    pupil: Pupil


def pupils_with_pseudonyms(
    pseudonyms: Pseudonymiser, path: Path = SAMPLE
) -> tuple[list[DemoPupil], int]:
    """Pupils from the EDEXML file with their pseudonyms (as the pseudonym service gave them to
    the school); and how many were skipped (bad BSN)."""
    found, skipped = [], 0
    for pupil in read_pupils(path):
        if pupil.bsn is not None:
            if not is_valid_bsn(pupil.bsn):
                skipped += 1
                continue
            pseudonym = pseudonyms.child(pupil.bsn)
        else:
            pseudonym = pseudonyms.pupil(pupil.brin, pupil.key)
        found.append(DemoPupil(pseudonym, pupil))
    return found, skipped


def details(pupil: Pupil, concern: list[str], notes: str) -> SignalDetails:
    name = " ".join(p for p in (pupil.given_names, pupil.prefix, pupil.surname) if p)
    return SignalDetails(
        concern=concern, notes=notes, bsn=pupil.bsn, name=name, birth_date=pupil.birth_date
    )


async def sealed_signal(
    keyring: Keyring, signaller: Signaller, child: DemoPupil, about: SignalDetails, on: date
) -> SignalRegistered:
    """A signal as a partner's system builds it: details sealed, then signed, before it leaves."""
    event_id = uuid.uuid4()
    sealed = await keyring.seal(about, child=child.pseudonym, event_id=event_id)
    event = SignalRegistered.create(
        id=event_id,
        source=signaller.partner,
        subject=child.pseudonym,
        purposes=sorted(sealed),
        data=SignalRegisteredData(
            signal_id=uuid.uuid4(),
            signaller=signaller,
            registered_on=on,
            age_band="4-11",  # the demo's pupils are at primary school: the parents are told
            planned_removal_on=on + timedelta(days=730),
            sealed=sealed,
        ),
    )
    return sign_event(event, keyring.keys)


async def send(conns: Connections, event: CloudEvent[Any], keys: PartnerKeys) -> None:
    """Publish signed by the source's `keys`, over the source partner's own connection (an
    event signed already, like a sealed signal, signs to the same bytes)."""
    await publish_signed((await conns.partner(event.source)).jetstream(), event, keys)


async def keyring_of(conns: Connections, data_dir: Path, partner: str, **kwargs: Any) -> Keyring:
    """The partner's keyring, asking kluis over the partner's own connection."""
    return Keyring.for_partner(data_dir, partner, await conns.partner(partner), **kwargs)


async def wait_for_plan(
    nc: NatsClient, child: str, keyring: Keyring, ready: Any, what: str
) -> dict[str, Any]:
    """The child's plan as `keyring`'s partner may receive it, once `ready(plan)` holds."""

    async def check() -> dict[str, Any] | None:
        plan = await query_plan(nc, child, keyring.keys)
        return plan if plan and ready(plan) else None

    return dict(await poll(check, what))


async def wait_for_relations(nc: NatsClient) -> None:
    """kluis learns relations from the same events; wait until it has seen them all."""

    async def idle() -> bool:
        for consumer in KLUIS_CONSUMERS:
            info = await nc.jetstream().consumer_info(consumer.stream.name, consumer.durable)
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    await poll(idle, "kluis catching up")


# 1. enrolments ---------------------------------------------------------------------------


async def enrol_pupils(
    conns: Connections, data_dir: Path, pupils_file: Path, rules: RegionRules
) -> tuple[ImportPlan, ResolvedPseudonyms]:
    """The school's EDEXML import: its pupils' pseudonyms asked of the pseudonym service in one
    request, its pupils enrolled (identity sealed through kluis)."""
    version, tree = validate(pupils_file)
    brin = read_header(tree.getroot()).brin
    previous = load_previous(data_dir, SCHOOL.partner, brin)
    asked = pseudonyms_needed(tree.getroot())
    nc = await conns.partner(SCHOOL.partner)
    pseudonyms = await PseudonymClient.for_partner(data_dir, SCHOOL.partner, nc).resolve(asked)
    plan = plan_import(pupils_file, pseudonyms, previous, validated=(version, tree))
    await publish_edexml(
        conns.url,
        data_dir,
        SCHOOL.partner,
        rules,
        plan,
        credentials=conns.source(SCHOOL.partner),
    )
    save_state(data_dir, SCHOOL.partner, plan)
    return plan, pseudonyms


# 2. signals and a match ----------------------------------------------------------------


async def signal_and_match(
    conns: Connections, data_dir: Path, pupils: list[DemoPupil], today: date
) -> dict[str, Any]:
    """School and JGZ signal about the first pupil, childcare about the second: a match."""
    first, second = pupils[0], pupils[1]
    school, jgz, childcare = [
        await keyring_of(conns, data_dir, s.partner) for s in (SCHOOL, JGZ, CHILDCARE)
    ]
    about_first = details(first.pupil, ["taalontwikkeling"], "Spreekt weinig in de klas.")
    await send(
        conns,
        await sealed_signal(school, SCHOOL, first, about_first, today - timedelta(days=9)),
        school.keys,
    )
    # A poison message between valid ones: dead-lettered, and nothing valid is lost.
    school_nc = await conns.partner(SCHOOL.partner)
    await school_nc.jetstream().publish(SignalRegistered.inbound_subject(SCHOOL.partner), b"{oops")
    about_second = details(second.pupil, ["sociaal-emotioneel"], "Trekt zich terug.")
    await send(
        conns,
        await sealed_signal(childcare, CHILDCARE, second, about_second, today - timedelta(days=3)),
        childcare.keys,
    )
    about_jgz = details(first.pupil, ["thuissituatie"], "Zorgen over slapen en eten.")
    await send(
        conns, await sealed_signal(jgz, JGZ, first, about_jgz, today - timedelta(days=2)), jgz.keys
    )
    return await wait_for_plan(
        school_nc, first.pseudonym, school, lambda p: p.get("match"), "a match in the plan"
    )


# 3. the parties build the plan -----------------------------------------------------------


async def build_plan(conns: Connections, data_dir: Path, child: str, today: date) -> dict[str, Any]:
    """The wijkteam joins and holds regie, sets a goal, agrees an action the JGZ reports done."""
    school, jgz, wijkteam = [
        await keyring_of(conns, data_dir, p)
        for p in (SCHOOL.partner, JGZ.partner, WIJKTEAM.partner)
    ]
    joined_on = today - timedelta(days=2)
    await send(
        conns,
        PartyJoined.create(
            source=SCHOOL.partner,
            subject=child,
            data=PartyJoinedData(party=WIJKTEAM, joined_on=joined_on),
        ),
        school.keys,
    )
    await wait_for_plan(
        await conns.partner(WIJKTEAM.partner),
        child,
        wijkteam,
        lambda p: WIJKTEAM.partner in {party["partner"] for party in p["parties"]},
        "the wijkteam on the plan",
    )
    await send(
        conns,
        RegieAssigned.create(
            source=SCHOOL.partner,
            subject=child,
            data=RegieAssignedData(
                domain="integraal", regisseur=WIJKTEAM.partner, assigned_on=joined_on
            ),
        ),
        school.keys,
    )
    # The regie holder admits the signallers to the plan (their signals alone open nothing of
    # it: kluis's relation rules want a party admitted by another): from now on they open the
    # plan's goals and actions, never each other's concern.
    for signaller in (SCHOOL, JGZ):
        await send(
            conns,
            PartyJoined.create(
                source=WIJKTEAM.partner,
                subject=child,
                data=PartyJoinedData(
                    party=Party(
                        partner=signaller.partner, role=signaller.role, contact=signaller.contact
                    ),
                    joined_on=joined_on,
                ),
            ),
            wijkteam.keys,
        )
    goal_event, goal_id = uuid.uuid4(), uuid.uuid4()
    goal = GoalDetails(text="Gaat weer met plezier naar school en durft te praten in de klas.")
    await send(
        conns,
        GoalSet.create(
            id=goal_event,
            source=WIJKTEAM.partner,
            subject=child,
            purposes=["plan"],
            data=GoalSetData(
                goal_id=goal_id,
                domain="onderwijs",
                set_on=joined_on,
                target_on=today + timedelta(days=90),
                sealed=await wijkteam.seal(goal, child=child, event_id=goal_event),
            ),
        ),
        wijkteam.keys,
    )
    action_event, action_id = uuid.uuid4(), uuid.uuid4()
    visit = ActionDetails(what="Huisbezoek: slapen en eten bespreken met ouders.")
    await send(
        conns,
        ActionAgreed.create(
            id=action_event,
            source=WIJKTEAM.partner,
            subject=child,
            purposes=["plan"],
            data=ActionAgreedData(
                action_id=action_id,
                actor=JGZ.partner,
                reports_to=WIJKTEAM.partner,
                due_on=today + timedelta(days=7),
                agreed_on=joined_on,
                goal_id=goal_id,
                sealed=await wijkteam.seal(visit, child=child, event_id=action_event),
            ),
        ),
        wijkteam.keys,
    )
    await wait_for_plan(
        await conns.partner(JGZ.partner),
        child,
        jgz,
        lambda p: any(a["action_id"] == str(action_id) for a in p["actions"]),
        "the action on the plan",
    )
    done_event = uuid.uuid4()
    report = ActionReport(
        report="Huisbezoek gedaan; vaste bedtijden afgesproken.", follow_up="Over 6 weken bellen."
    )
    await send(
        conns,
        ActionDone.create(
            id=done_event,
            source=JGZ.partner,
            subject=child,
            purposes=["plan"],
            data=ActionDoneData(
                action_id=action_id,
                done_on=today,
                sealed=await jgz.seal(report, child=child, event_id=done_event),
            ),
        ),
        jgz.keys,
    )
    return await wait_for_plan(
        await conns.partner(WIJKTEAM.partner),
        child,
        wijkteam,
        lambda p: any(
            a["action_id"] == str(action_id) and a["status"] == "done" for a in p["actions"]
        ),
        "the action reported done",
    )


# 4. the warm handover ------------------------------------------------------------------


def dossier_of(pupil: Pupil, sample: Path = OSO_SAMPLE, *, parents_viewed: bool = True) -> bytes:
    """The OSO sample dossier with its pupil's keys (BSN or school and pupil key) replaced by
    the matched pupil's, in memory: the handover is about the same child. Without
    `parents_viewed` the file says the parents have not viewed it yet (the sample says they
    have), so the import records no view and the school records it later."""
    ns = load_disclosure_rules().namespace
    root = etree.fromstring(sample.read_bytes())

    def element(path: str) -> Any:
        found = root.find("/".join(f"{{{ns}}}{step}" for step in path.split("/")))
        if found is None:
            raise ValueError(f"the OSO sample has no {path}")
        return found

    leerling = element("huidigeschool/leerling")
    if pupil.bsn is not None and is_valid_bsn(pupil.bsn):
        element("huidigeschool/leerling/bsn").text = pupil.bsn
    else:
        leerling.remove(element("huidigeschool/leerling/bsn"))
    element("huidigeschool/leerling/leerlingid").text = pupil.key
    element("huidigeschool/brincode").text = pupil.brin
    if not parents_viewed:
        element("inzage/inzage").text = "false"
        for name in ("inzagedatum", "akkoord", "redennietakkoord", "toestemming"):
            found = root.find(f"{{{ns}}}inzage/{{{ns}}}{name}")
            if found is not None:
                element("inzage").remove(found)
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return xml


async def dossier_requested(
    conns: Connections,
    data_dir: Path,
    child: DemoPupil,
    today: date,
    *,
    parents_viewed: bool = True,
) -> Imported:
    """po→vo: the school publishes the dossier (its OSO file), the vo school requests it after
    enrolment. `parents_viewed`: whether the OSO file records the parents' view (`dossier_of`)."""
    school = await keyring_of(conns, data_dir, SCHOOL.partner, refusal_ttl=0)
    receiver = load_or_create_partner_keys(data_dir, RECEIVER.partner)
    nc = await conns.partner(SCHOOL.partner)
    done: Imported = await import_oso(
        nc,
        school,
        dossier_of(child.pupil, parents_viewed=parents_viewed),
        pseudonyms=PseudonymClient.for_partner(data_dir, SCHOOL.partner, nc),
        disclosure=load_disclosure_rules(),
        rules=load_rules(),
        contact="IB'er groep 8, 026-1234567",
        planned_on=today + timedelta(days=14),
        receiver=RECEIVER.partner,
        swv=SWV,
        what="OSO sample",
    )
    if done.child != child.pseudonym:
        raise RuntimeError("the dossier is about another child than the matched pupil")
    requested = DossierRequested.create(
        source=RECEIVER.partner,
        subject=done.child,
        data=DossierRequestedData(
            handover_id=done.handover_id,
            receiver=RECEIVER,
            enrolment=Enrolment(partner=RECEIVER.partner, enrolled_on=today),
            requested_on=today,
        ),
    )
    await send(conns, requested, receiver)
    return done


async def hand_over(
    conns: Connections, data_dir: Path, child: DemoPupil, today: date
) -> dict[str, Any]:
    """po→vo: the dossier prepared and requested (`dossier_requested`), the school releases
    it, the handover service delivers it."""
    done = await dossier_requested(conns, data_dir, child, today)
    school = load_or_create_partner_keys(data_dir, SCHOOL.partner)
    released = DossierReleased.create(
        source=SCHOOL.partner,
        subject=done.child,
        data=DossierReleasedData(
            handover_id=done.handover_id, released_on=today, parents_copy_on=today
        ),
    )
    await send(conns, released, school)
    delivered = await wait_for(
        await conns.user(SUPERVISOR_USER),
        "dossier-delivered",
        lambda e: e.data.handover_id == done.handover_id,
        stream=HANDOVER,
    )
    opened = await poll(
        lambda: open_delivery(conns, data_dir, done.handover_id),
        "the vo school opening the dossier",
    )
    return {
        "handover": str(done.handover_id),
        "transition": done.transition,
        "to": RECEIVER.partner,
        "sections": len(delivered.data.sections),
        "withheld": len(delivered.data.withheld),
        "attachments": done.attachments,
        "opened": len(read_dossier(opened, load_disclosure_rules(), what="delivery").sections),
    }


async def open_delivery(conns: Connections, data_dir: Path, handover_id: uuid.UUID) -> bytes | None:
    """The delivered dossier as the receiver opens it (valid OSO, in memory), once kluis has
    the relation the delivery gives the receiver; None until then."""
    nc = await conns.partner(RECEIVER.partner)
    receiver = Keyring.for_partner(data_dir, RECEIVER.partner, nc, refusal_ttl=0)
    try:
        return await export_oso(
            nc, receiver, handover_id, disclosure=load_disclosure_rules(), rules=load_rules()
        )
    except TransferError:
        return None


# 6. absences -----------------------------------------------------------------------------


def school_days_before(rules: RegionRules, today: date, count: int) -> list[date]:
    """The last `count` school days before `today` (weekdays outside the holidays)."""
    days: list[date] = []
    day = today
    while len(days) < count:
        day -= timedelta(days=1)
        holiday = any(h.start <= day <= h.end for h in rules.calendar.holidays)
        if day.weekday() < 5 and not holiday:
            days.append(day)
    return sorted(days)


async def publish_absence_rows(
    conns: Connections,
    data_dir: Path,
    rules: RegionRules,
    enrolled: ImportPlan,
    rows: list[tuple[str, date, float, bool, str]],
) -> int:
    """The school's absence CSV of (pupil key, day, hours, authorised, reason code), published
    as the school's absence import does; how many absences it published."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "absences.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["pupil_key", "date", "hours", "lessons", "authorised", "reason_code"])
            for key, day, hours, authorised, reason in rows:
                writer.writerow(
                    [key, day.isoformat(), hours, "", "ja" if authorised else "nee", reason]
                )
        result = await publish_absences(
            conns.url,
            data_dir,
            SCHOOL.partner,
            rules,
            path,
            enrolled.keys,
            enrolled.header.brin,
            credentials=conns.source(SCHOOL.partner),
        )
    published: int = result.published
    return published


async def report_truancy(
    conns: Connections,
    data_dir: Path,
    rules: RegionRules,
    enrolled: ImportPlan,
    child: DemoPupil,
    today: date,
) -> dict[str, Any]:
    """The school's absence CSV: unauthorised hours up to the threshold, so a verzuim report."""
    days = school_days_before(rules, today, 4)
    hours = rules.report.unauthorised_hours / len(days)
    rows = [(child.pupil.key, day, hours, False, "spijbelen") for day in days]
    published = await publish_absence_rows(conns, data_dir, rules, enrolled, rows)
    report = await wait_for(
        await conns.user(SUPERVISOR_USER),
        "verzuim-report-due",
        lambda e: e.subject == child.pseudonym,
        stream=TRUANCY,
    )
    return {
        "absences": published,
        "kind": report.data.kind,
        "hours": report.data.hours_unauthorised,
        "leerplicht": report.data.leerplicht,
        "period": [report.data.begin_on.isoformat(), report.data.end_on.isoformat()],
    }


# the story -------------------------------------------------------------------------------


@dataclass
class Story:
    """What the demo did, and the matched pupil's plan as each reader sees it."""

    child: str
    imported: ImportPlan
    born: date | None = None  # the matched pupil's birth date (the school's, from its import)
    views: list[dict[str, Any]] = field(default_factory=list)
    handover: dict[str, Any] = field(default_factory=dict)
    arrangement: dict[str, Any] = field(default_factory=dict)
    truancy: dict[str, Any] = field(default_factory=dict)


def _projected(plan: dict[str, Any]) -> bool:
    """The story's handover, arrangement and verzuim report have reached the plan."""
    attendance = plan.get("attendance") or {}
    return bool(plan.get("handovers") and plan.get("arrangements") and attendance.get("reports"))


async def run_scenario(
    url: str,
    data_dir: Path,
    today: date | None = None,
    pupils_file: Path = SAMPLE,
    credentials: CredentialSource = own_credentials,
) -> Story:
    """Run the whole story (needs every service); the plan as each reader sees it at the end.

    Each partner acts over its own NATS connection as its own user, with the credentials
    `credentials` gives it (default each one's own, from the environment); the demo watches
    the streams as the backbone."""
    today = today or date.today()
    rules = school_region(load_regions(), SCHOOL.partner)
    if rules is None:
        raise RuntimeError(f"{SCHOOL.partner} is in no region's infra/truancy/*.yaml")
    # The school's system asks the pseudonym service; no partner here holds the secret.
    async with Connections(url, credentials) as conns:
        enrolled, pseudonyms = await enrol_pupils(conns, data_dir, pupils_file, rules)
        pupils, _ = pupils_with_pseudonyms(pseudonyms, pupils_file)
        first = pupils[0]
        story = Story(child=first.pseudonym, imported=enrolled, born=first.pupil.birth_date)
        await signal_and_match(conns, data_dir, pupils, today)
        await build_plan(conns, data_dir, first.pseudonym, today)
        story.handover = await hand_over(conns, data_dir, first, today)
        story.arrangement = await run_arrangement_scenario(
            url, data_dir, child=first.pseudonym, today=today, conns=conns
        )
        story.truancy = await report_truancy(conns, data_dir, rules, enrolled, first, today)
        await wait_for_relations(await conns.user(SUPERVISOR_USER))
        for partner in READERS:
            nc = await conns.partner(partner)
            reader = Keyring.for_partner(data_dir, partner, nc)
            plan = await wait_for_plan(nc, first.pseudonym, reader, _projected, "the whole plan")
            story.views.append(await open_plan(plan, reader))
        return story


def format_story(story: Story) -> str:
    """What happened, in a few lines, before the plan is shown."""
    handover, truancy = story.handover, story.truancy
    lines = [
        "The school's EDEXML import (identities sealed):",
        *(f"  {line}" for line in summary(story.imported)),
        f"Matched pupil: {story.child}",
        f"Warm handover {handover['transition']} to {handover['to']}: delivered with "
        f"{handover['sections']} sealed categories ({handover['withheld']} withheld), "
        f"{handover['attachments']} attachments by reference; the vo school opens "
        f"{handover['opened']} categories as a valid OSO dossier",
        f"Absences: {truancy['absences']} day(s), {truancy['hours']:g} hours unauthorised "
        f"{truancy['period'][0]} .. {truancy['period'][1]}: verzuim report ({truancy['kind']}) "
        f"to {truancy['leerplicht']}",
    ]
    return "\n".join(lines)


DEMO_PARENT = "ouder-demo-0001"
DEMO_PUPIL = "leerling-demo-0001"


def pupil_band(born: date | None, today: date) -> str | None:
    """The pupil's age band today when it is 16 or older (a pupil's own account is linked from
    16 only); None when younger or unknown."""
    band = load_signal_codes().age_band(born, today) if born else None
    return band if band and int(band.split("-")[0]) >= PUPIL_FROM_AGE else None


async def link_parent(
    url: str,
    data_dir: Path,
    child: str,
    today: date,
    credentials: CredentialSource = own_credentials,
    born: date | None = None,
) -> bool:
    """The school records that the demo's parent account belongs with the child, with the
    parent's consent (`ketenbus demo --web`: a parent logs in and sees what is shared); and,
    where the pupil is 16 or older (`born`, from the school's import), the pupil's own account
    with the pupil's age band. Whether the pupil's account was linked."""
    links: list[tuple[str, str | None]] = [(DEMO_PARENT, None)]
    band = pupil_band(born, today)
    if band is not None:
        links.append((DEMO_PUPIL, band))
    async with Connections(url, credentials) as conns:
        for account, pupil_age_band in links:
            link = ParentLinked.create(
                source=SCHOOL.partner,
                subject=child,
                data=ParentLinkedData(
                    link_id=uuid.uuid4(),
                    parent=account,
                    recorded_by=SCHOOL.partner,
                    linked_on=today,
                    consent_on=today,
                    pupil_age_band=pupil_age_band,
                ),
            )
            await send(conns, link, load_or_create_partner_keys(data_dir, SCHOOL.partner))
    return band is not None

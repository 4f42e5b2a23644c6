"""The scripted demo: two partners signal about the same pupil, the backbone finds the match,
and the integral plan shows it, through a real JetStream server and real event stores.

Pupils come from the EDEXML sample, so real-looking identities are in play: the partners seal
them (and what worries them) with keys from kluis before anything leaves; only pseudonyms and
sealed sections travel. The plan is then read by three partners, each seeing what its keys open.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from adapters.edexml.reader import SAMPLE, Pupil, read_pupils
from ketenbus_contracts.pseudonym import child_pseudonym, is_valid_bsn, school_pupil_pseudonym
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from ketenbus_contracts.signing import sign_event
from services.integral_plan.handlers import PLAN_QUERY_SUBJECT
from services.integral_plan.reader import open_plan
from services.runtime.keyring import Keyring
from services.runtime.settings import server_list
from services.runtime.streams import KLUIS_SIGNALLING

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="IB'er groep 4, 026-1234567")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="JGZ-team Huissen")
CHILDCARE = Signaller(partner="kdv-het-speelhuis", role="pedagogisch-medewerker", contact="Locatie")
READERS = ("bs-de-regenboog", "jgz-gelderland-zuid", "wijkteam-lingewaard")


@dataclass(frozen=True)
class DemoPupil:
    pseudonym: str
    pupil: Pupil


def pupils_with_pseudonyms(secret: bytes, path: Path = SAMPLE) -> tuple[list[DemoPupil], int]:
    """Pupils from the EDEXML file with their pseudonyms; and how many were skipped (bad BSN)."""
    found, skipped = [], 0
    for pupil in read_pupils(path):
        if pupil.bsn is not None:
            if not is_valid_bsn(pupil.bsn):
                skipped += 1
                continue
            pseudonym = child_pseudonym(secret, pupil.bsn)
        else:
            pseudonym = school_pupil_pseudonym(secret, pupil.brin, pupil.key)
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
            planned_removal_on=on + timedelta(days=730),
            sealed=sealed,
        ),
    )
    return sign_event(event, keyring.keys)


async def publish(nc: NatsClient, event: SignalRegistered) -> None:
    await nc.jetstream().publish(
        event.inbound_subject(event.source),
        event.to_bytes(),
        headers={"Nats-Msg-Id": str(event.id)},
    )


async def query_plan(nc: NatsClient, child: str, timeout: float = 5.0) -> dict[str, Any] | None:
    reply = await nc.request(PLAN_QUERY_SUBJECT, json.dumps({"child": child}).encode(), timeout)
    answer = json.loads(reply.data)
    return answer.get("plan") if answer.get("found") else None


async def _poll(check: Any, what: str, timeout: float = 90.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
        except nats.errors.NoRespondersError:
            result = None  # the service is still starting
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} did not happen in time")
        await asyncio.sleep(0.2)


async def wait_for_match(nc: NatsClient, child: str) -> dict[str, Any]:
    async def matched() -> dict[str, Any] | None:
        plan = await query_plan(nc, child)
        return plan if plan and plan.get("match") else None

    return dict(await _poll(matched, "a match in the plan"))


async def wait_for_relations(nc: NatsClient) -> None:
    """kluis learns relations from the same events; wait until it has seen them all."""

    async def idle() -> bool:
        info = await nc.jetstream().consumer_info(
            KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable
        )
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await _poll(idle, "kluis catching up")


async def run_scenario(
    url: str,
    data_dir: Path,
    secret: bytes,
    today: date | None = None,
    pupils_file: Path = SAMPLE,
) -> list[dict[str, Any]]:
    """Publish the demo's signals; return the matched pupil's plan as each reader sees it."""
    today = today or date.today()
    pupils, _ = pupils_with_pseudonyms(secret, pupils_file)
    first, second = pupils[0], pupils[1]
    nc = await nats.connect(server_list(url))
    try:
        school, jgz, childcare = (
            Keyring.for_partner(data_dir, s.partner, nc) for s in (SCHOOL, JGZ, CHILDCARE)
        )
        about_first = details(first.pupil, ["taalontwikkeling"], "Spreekt weinig in de klas.")
        await publish(
            nc, await sealed_signal(school, SCHOOL, first, about_first, today - timedelta(days=9))
        )
        # A poison message between valid ones: dead-lettered, and nothing valid is lost.
        await nc.jetstream().publish(SignalRegistered.inbound_subject(SCHOOL.partner), b"{oops")
        about_second = details(second.pupil, ["sociaal-emotioneel"], "Trekt zich terug.")
        await publish(
            nc,
            await sealed_signal(
                childcare, CHILDCARE, second, about_second, today - timedelta(days=3)
            ),
        )
        about_jgz = details(first.pupil, ["thuissituatie"], "Zorgen over slapen en eten.")
        await publish(
            nc, await sealed_signal(jgz, JGZ, first, about_jgz, today - timedelta(days=2))
        )
        plan = await wait_for_match(nc, first.pseudonym)
        await wait_for_relations(nc)
        return [
            await open_plan(plan, Keyring.for_partner(data_dir, reader, nc)) for reader in READERS
        ]
    finally:
        await nc.close()


def format_plan(plan: dict[str, Any]) -> str:
    reader = plan.get("reader")
    title = f"Integral plan of child {plan['child']}"
    lines = [title + (f", as {reader} sees it" if reader else ""), "", "Parties:"]
    lines += [f"  - {p['partner']} ({p['role']}): {p['contact']}" for p in plan["parties"]]
    lines += ["", "Signals:"]
    for s in plan["signals"]:
        lines.append(f"  - {s['registered_on']}  {s['partner']:<24} {s['status']}")
        for purpose, section in sorted(s.get("opened", {}).items()):
            shown = ", ".join(f"{k}: {v}" for k, v in section.items())
            lines.append(f"      {purpose:<11} {shown}")
        for purpose, code in sorted(s.get("refused", {}).items()):
            lines.append(f"      {purpose:<11} (sealed; kluis: {code})")
        for purpose in sorted(s.get("sealed", {})):
            lines.append(f"      {purpose:<11} (sealed)")
    match = plan.get("match")
    lines += ["", "Match:"]
    if match:
        lines.append(f"  found {match['found_at'][:19]} between {', '.join(match['partners'])}")
    else:
        lines.append("  none")
    lines += ["", "Timeline:"]
    lines += [f"  {t['at'][:19]:<19}  {t['what']}" for t in plan["timeline"]]
    return "\n".join(lines)

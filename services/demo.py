"""The scripted demo: two partners signal about the same pupil, the backbone finds the match,
and the integral plan shows it, through a real JetStream server and real event stores.

Pupils come from the EDEXML sample, so real-looking identities are in play; only their
pseudonyms travel.
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
from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData
from services.integral_plan.handlers import PLAN_QUERY_SUBJECT
from services.runtime.settings import server_list

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="IB'er groep 4, 026-1234567")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="JGZ-team Huissen")
CHILDCARE = Signaller(partner="kdv-het-speelhuis", role="pedagogisch-medewerker", contact="Locatie")


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


def signal(child: str, signaller: Signaller, on: date) -> SignalRegistered:
    return SignalRegistered.create(
        source=signaller.partner,
        subject=child,
        data=SignalRegisteredData(
            signal_id=uuid.uuid4(),
            signaller=signaller,
            registered_on=on,
            planned_removal_on=on + timedelta(days=730),
        ),
    )


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


async def wait_for_match(nc: NatsClient, child: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            plan = await query_plan(nc, child)
        except nats.errors.NoRespondersError:
            plan = None  # the plan service is still starting
        if plan and plan.get("match"):
            return plan
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("no match appeared in the plan in time")
        await asyncio.sleep(0.2)


async def run_scenario(url: str, secret: bytes, today: date | None = None) -> dict[str, Any]:
    """Publish the demo's signals and return the plan of the matched pupil."""
    today = today or date.today()
    pupils, _ = pupils_with_pseudonyms(secret)
    first, second = pupils[0], pupils[1]
    nc = await nats.connect(server_list(url))
    try:
        await publish(nc, signal(first.pseudonym, SCHOOL, today - timedelta(days=9)))
        # A poison message between valid ones: dead-lettered, and nothing valid is lost.
        await nc.jetstream().publish(
            "in.bs-de-regenboog.signalling.signal-registered", b"{not json"
        )
        await publish(nc, signal(second.pseudonym, CHILDCARE, today - timedelta(days=3)))
        await publish(nc, signal(first.pseudonym, JGZ, today - timedelta(days=2)))
        return await wait_for_match(nc, first.pseudonym)
    finally:
        await nc.close()


def format_plan(plan: dict[str, Any]) -> str:
    lines = [f"Integral plan of child {plan['child']}", "", "Parties:"]
    lines += [f"  - {p['partner']} ({p['role']}): {p['contact']}" for p in plan["parties"]]
    lines += ["", "Signals:"]
    lines += [
        f"  - {s['registered_on']}  {s['partner']:<24} {s['status']}" for s in plan["signals"]
    ]
    match = plan.get("match")
    lines += ["", "Match:"]
    if match:
        lines.append(f"  found {match['found_at'][:19]} between {', '.join(match['partners'])}")
    else:
        lines.append("  none")
    lines += ["", "Timeline:"]
    lines += [f"  {t['at'][:19]:<19}  {t['what']}" for t in plan["timeline"]]
    return "\n".join(lines)

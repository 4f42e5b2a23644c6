"""Attendance signals for signalling's matching: leerplicht decides, the tool registers.

A Verwijsindex signal is a professional's judgement (Jeugdwet art. 7.1.3.1: a signaller
registers when it has a reasonable suspicion of a risk), not a consequence of every
verzuimmelding. So a report or a thuiszitter is a candidate on leerplicht's list, and a signal
is registered only for the candidates leerplicht names.

The truancy service cannot register a signal itself: a signal is a partner's act (signaller,
contact, sealed concern), and a backbone service signing in leerplicht's name would be
impersonation. So leerplicht's side runs this tool (`ketenbus truancy forward-signals
--as leerplicht-… [--signal REF] [--no-signal REF]`): it reads
`ketenbus.truancy.verzuim-report-due.v1` and `thuiszitter-registered.v1` (category 1: no school
reports those) from its own feed (the reports it received and the thuiszitters of its region,
nobody else's). A candidate named with `--signal` becomes an inbound `SignalRegistered` on
`in.<leerplicht>.signalling.signal-registered`, concern `attendance`, sealed with leerplicht's
own keyring (under `signalling`) and signed with its keys; one named with `--no-signal` is
decided without a signal; the others are listed and stay to decide (the message is handed back
to the consumer, redelivered on a later run). Ids are derived from the truancy event, so
registering twice within the duplicate window registers nothing twice. The consumer
(`signals-<partner>` on FEED, filtered on the partner's own `feed.<partner>.truancy.…`,
services/runtime/streams.py) is declared and owned by the backbone; leerplicht's NATS user may
only fetch from it, ack and ask its info.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.js.errors import NotFoundError

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from ketenbus_contracts.truancy import ThuiszitterRegistered, VerzuimReportDue
from ketenbus_partner.connect import Credentials, connect_partner
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.publish import publish_signed
from services.policy.regions import RegionRules
from services.runtime.streams import leerplicht_signals_consumer

NAMESPACE = uuid.UUID("a7e1c2d0-3b4f-4e5a-8c6d-7369676e616c")
CONCERN = "attendance"
SUBJECTS = (
    VerzuimReportDue.outbound_subject(),
    ThuiszitterRegistered.outbound_subject(),
)


class ForwardError(RuntimeError):
    """The forwarder cannot read its signals (the message says why)."""


@dataclass(frozen=True)
class Candidate:
    """A report or thuiszitter leerplicht may register a signal for: `ref` is the report's id
    (a thuiszitter's: its event id), what it is, from when, about which child (pseudonym)."""

    ref: str
    what: str
    on: date
    child: str
    event_id: uuid.UUID


def candidate_of(event: Any, partner: str, rules: RegionRules) -> Candidate | None:
    """The candidate a truancy event of leerplicht's region is (None: not one of its own)."""
    if isinstance(event, VerzuimReportDue):
        if event.data.leerplicht != partner:
            return None
        ref, on = str(event.data.report_id), event.data.end_on
        what = f"verzuimmelding {event.data.kind}"
    elif isinstance(event, ThuiszitterRegistered):
        # Category 2 comes with a verzuimmelding (a candidate above); category 1 has no school
        # to report it, so the registration itself is the candidate.
        if event.data.region != rules.region or rules.leerplicht != partner:
            return None
        if event.data.category != 1:
            return None
        ref, on = str(event.id), event.data.since
        what = f"thuiszitter categorie {event.data.category}"
    else:
        return None
    return Candidate(ref=ref, what=what, on=on, child=event.subject, event_id=event.id)


async def signal_for(
    candidate: Candidate, partner: str, rules: RegionRules, keyring: Keyring, age_band: str
) -> SignalRegistered:
    """The signal leerplicht registers for a candidate it decided to signal, with the child's
    age band (who is informed: leerplicht knows the pupil by its verzuimmelding)."""
    event_id = uuid.uuid5(NAMESPACE, f"event/{candidate.event_id}")
    details = SignalDetails(concern=[CONCERN], notes=candidate.what)
    sealed = await keyring.seal(details, child=candidate.child, event_id=event_id)
    signaller = Signaller(partner=partner, role="leerplichtambtenaar", contact=rules.signal.contact)
    return SignalRegistered.create(
        id=event_id,
        source=partner,
        subject=candidate.child,
        purposes=sorted(sealed),
        data=SignalRegisteredData(
            signal_id=uuid.uuid5(NAMESPACE, f"signal/{candidate.event_id}"),
            signaller=signaller,
            registered_on=candidate.on,
            age_band=age_band,
            planned_removal_on=candidate.on + timedelta(days=rules.signal.keep_days),
            sealed=sealed,
        ),
    )


@dataclass
class Decisions:
    """What a run did: signals registered, candidates decided without one, and the candidates
    still to decide (listed for leerplicht)."""

    registered: int = 0
    declined: int = 0
    open: list[Candidate] = field(default_factory=list)


async def forward_signals(
    url: str,
    data_dir: Path,
    partner: str,
    rules: RegionRules,
    *,
    signal: Collection[str] = (),
    no_signal: Collection[str] = (),
    age_band: str | None = None,
    idle: float = 2.0,
    hold: float = 3.0,
    credentials: Credentials | None = None,
) -> Decisions:
    """Go through what `partner`'s feed holds of reports and thuiszitters until idle: register
    a signal for the candidates named in `signal`, none for those in `no_signal`, and list the
    others (handed back to the consumer, redelivered after `hold` seconds: longer than `idle`,
    so this run ends before they come back, and the next run lists them again).

    Connects as `partner` with `credentials` (default its own: the partner kit's
    `read_credentials` from the environment)."""
    nc = await connect_partner(url, partner, credentials=credentials)
    decisions = Decisions()
    try:
        js = nc.jetstream()
        # Declared and owned by the backbone (`ketenbus up`): the partner may only fetch and ack.
        reader = leerplicht_signals_consumer(partner)
        try:
            await js.consumer_info(reader.stream.name, reader.durable)
        except NotFoundError:
            raise ForwardError(
                f"no signals consumer for {partner}: is it a leerplicht partner of the registry?"
            ) from None
        subscription = await js.pull_subscribe_bind(reader.durable, stream=reader.stream.name)
        keyring = Keyring.for_partner(data_dir, partner, nc)
        listed: set[str] = set()
        while True:
            try:
                messages = await subscription.fetch(50, timeout=idle)
            except (TimeoutError, nats.errors.TimeoutError):
                return decisions
            for message in messages:
                candidate = candidate_of(parse_event(message.data), partner, rules)
                if candidate is None:
                    await message.ack()
                elif candidate.ref in signal:
                    if age_band is None:
                        raise ForwardError("a signal declares the child's age band (--age-band)")
                    signed = await signal_for(candidate, partner, rules, keyring, age_band)
                    await publish_signed(js, signed, keyring.keys)
                    decisions.registered += 1
                    await message.ack()
                elif candidate.ref in no_signal:
                    decisions.declined += 1
                    await message.ack()
                else:
                    if candidate.ref not in listed:
                        listed.add(candidate.ref)
                        decisions.open.append(candidate)
                    await message.nak(delay=hold)
    finally:
        await nc.close()

"""Attendance signals for signalling's matching, published by leerplicht as a partner.

The truancy service cannot register a signal itself: a signal is a partner's act (signaller,
contact, sealed concern), and a backbone service signing in leerplicht's name would be
impersonation. So leerplicht's side runs this forwarder (`ketenbus truancy forward-signals
--as leerplicht-…`): it reads `ketenbus.truancy.verzuim-report-due.v1` and
`thuiszitter-registered.v1` (category 1: no school reports those) from its own feed (the
reports it received and the thuiszitters of its region, nobody else's), and for
each publishes an inbound `SignalRegistered` on
`in.<leerplicht>.signalling.signal-registered`, concern `attendance`, sealed with
leerplicht's own keyring (under `signalling`) and signed with its keys. Ids are derived from
the truancy event, so running it twice within the duplicate window registers nothing twice;
the forwarder's durable consumer keeps its position between runs. That consumer
(`signals-<partner>` on FEED, filtered on the partner's own `feed.<partner>.truancy.…`,
services/runtime/streams.py) is declared and owned by the backbone; leerplicht's NATS user may
only fetch from it, ack and ask its info.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
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
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.publish import publish_signed
from services.policy.regions import RegionRules
from services.runtime.nats_auth import partner_connect, settings_for
from services.runtime.settings import Settings
from services.runtime.streams import leerplicht_signals_consumer

NAMESPACE = uuid.UUID("a7e1c2d0-3b4f-4e5a-8c6d-7369676e616c")
CONCERN = "attendance"
SUBJECTS = (
    VerzuimReportDue.outbound_subject(),
    ThuiszitterRegistered.outbound_subject(),
)


class ForwardError(RuntimeError):
    """The forwarder cannot read its signals (the message says why)."""


async def signal_for(
    event: Any, partner: str, rules: RegionRules, keyring: Keyring
) -> SignalRegistered | None:
    """The signal leerplicht registers for a truancy event of its region (None: not ours)."""
    if isinstance(event, VerzuimReportDue):
        if event.data.leerplicht != partner:
            return None
        on, notes = event.data.end_on, f"verzuimmelding {event.data.kind}"
    elif isinstance(event, ThuiszitterRegistered):
        # Category 2 comes with a verzuimmelding (signalled above); category 1 has no school
        # to report it, so the registration itself is the signal.
        if event.data.region != rules.region or rules.leerplicht != partner:
            return None
        if event.data.category != 1:
            return None
        on, notes = event.data.since, f"thuiszitter categorie {event.data.category}"
    else:
        return None
    event_id = uuid.uuid5(NAMESPACE, f"event/{event.id}")
    details = SignalDetails(concern=[CONCERN], notes=notes)
    sealed = await keyring.seal(details, child=event.subject, event_id=event_id)
    signaller = Signaller(partner=partner, role="leerplichtambtenaar", contact=rules.signal.contact)
    return SignalRegistered.create(
        id=event_id,
        source=partner,
        subject=event.subject,
        purposes=sorted(sealed),
        data=SignalRegisteredData(
            signal_id=uuid.uuid5(NAMESPACE, f"signal/{event.id}"),
            signaller=signaller,
            registered_on=on,
            planned_removal_on=on + timedelta(days=rules.signal.keep_days),
            sealed=sealed,
        ),
    )


async def forward_signals(
    url: str,
    data_dir: Path,
    partner: str,
    rules: RegionRules,
    *,
    idle: float = 2.0,
    settings: Settings | None = None,
) -> int:
    """Forward what `partner`'s feed holds of reports and thuiszitters until idle; how many
    signals.

    Connects as `partner` (settings: `nats_auth.settings_for`)."""
    nc = await partner_connect(settings_for(url, settings, data_dir), partner, url)
    forwarded = 0
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
        while True:
            try:
                messages = await subscription.fetch(50, timeout=idle)
            except (TimeoutError, nats.errors.TimeoutError):
                return forwarded
            for message in messages:
                signal = await signal_for(parse_event(message.data), partner, rules, keyring)
                if signal is not None:
                    await publish_signed(js, signal, keyring.keys)
                    forwarded += 1
                await message.ack()
    finally:
        await nc.close()

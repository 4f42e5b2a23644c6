"""OSO in and out over the backbone: publish a dossier as a handover, export a delivered one.

`import_oso` validates the file (`adapters.oso.dossier`), checks that it is the sending
school's own (its BRIN, `adapters.intake`), starts the handover as the sending
partner, waits until kluis gives it the child's handover key (the start gives it the relation),
seals every category section and every attachment with that key, puts the sealed attachments in
the JetStream object store (they may exceed the NATS payload limit), and publishes the prepared
dossier, the parents' view and, where the rules require it, their consent: every event signed
with the sending partner's keys.

`export_oso` reads the `dossier-delivered` from the partner's own feed, opens the sections
and attachments with the receiver's keys, and writes an OSO dossier that validates against the
XSD, with the withheld categories marked in `categorie_uitlevering`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from adapters.intake import check_school
from adapters.oso.attachments import open_attachment, seal_attachment
from adapters.oso.dossier import OsoDossier, assemble, read_dossier
from ketenbus_contracts.handover import (
    ConsentRecorded,
    ConsentRecordedData,
    DossierDelivered,
    DossierPrepared,
    DossierPreparedData,
    DossierSection,
    HandoverStarted,
    HandoverStartedData,
    Organisation,
    ParentsViewDetails,
    ParentsViewed,
    ParentsViewedData,
    RunningSupport,
)
from ketenbus_contracts.pseudonym import is_valid_bsn
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import DataKey, kid_of, seal
from ketenbus_partner.attachments import (
    AttachmentRefusedError,
    attachment_name,
    get_attachment,
    put_attachment,
)
from ketenbus_partner.keyring import KeyRefusedError, Keyring, KeyringError, KluisUnavailableError
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import publish_signed
from services.policy.handover import DisclosureRules, HandoverRules
from services.runtime.streams import FEED, feed_subject


class TransferError(RuntimeError):
    """The dossier could not be imported or exported (the message says why)."""


@dataclass(frozen=True)
class Imported:
    handover_id: uuid.UUID
    child: str
    transition: str
    sections: int
    attachments: int
    events: int


async def _wait_for_key(
    keyring: Keyring, child: str, handover_id: uuid.UUID, timeout: float
) -> DataKey:
    """This handover's sealing key (its own scope), once kluis has the relation the start gave
    us."""
    deadline = time.monotonic() + timeout
    # Back off: kluis's delivery watchdog only sees a stalled feed while nothing else keeps it
    # busy, and a tight polling loop of key requests would keep it busy.
    pause = 0.2
    while True:
        try:
            return await keyring.sealing_key(child, Purpose.HANDOVER, scope=str(handover_id))
        except KeyRefusedError as refused:
            if refused.code != "no-relation" or time.monotonic() > deadline:
                raise TransferError(
                    f"kluis gives no handover key for this child ({refused.code})"
                ) from None
            keyring.forget(child)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)
        except KluisUnavailableError:
            # A busy kluis: ask again until the deadline.
            if time.monotonic() > deadline:
                raise TransferError("kluis did not answer") from None


def pupil_is_16_at(birth: date | None, on: date, age: int) -> bool:
    if birth is None:
        return False
    return (on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))) >= age


async def import_oso(
    nc: NatsClient,
    keyring: Keyring,
    raw: bytes | OsoDossier,
    *,
    pseudonyms: PseudonymClient,
    disclosure: DisclosureRules,
    rules: HandoverRules,
    contact: str,
    planned_on: date | None = None,
    receiver: str | None = None,
    swv: str | None = None,
    running: list[RunningSupport] | None = None,
    key_timeout: float = 60.0,
    what: str = "file",
) -> Imported:
    """Validate, seal and publish an OSO dossier as a handover of `keyring.partner`.

    `raw`: the file, or what `read_dossier` read from it (the CLI reads it before connecting:
    a large dossier is parsed and validated once).
    """
    dossier = raw if isinstance(raw, OsoDossier) else read_dossier(raw, disclosure, what=what)
    check_school(dossier.brin, keyring.partner, what=what)  # before anything is published
    if dossier.bsn and is_valid_bsn(dossier.bsn):
        child = await pseudonyms.child(dossier.bsn)
    elif dossier.brin and dossier.pupil_key:
        child = await pseudonyms.pupil(dossier.brin, dossier.pupil_key)
    else:
        raise TransferError(f"{what}: the pupil has neither a valid BSN nor a school key")
    partner = keyring.partner
    planned = planned_on or datetime.now(UTC).date() + timedelta(days=28)
    js = nc.jetstream()
    handover_id = uuid.uuid4()
    started = HandoverStarted.create(
        source=partner,
        subject=child,
        data=HandoverStartedData(
            handover_id=handover_id,
            transition=dossier.transition,  # type: ignore[arg-type]
            sender=Organisation(partner=partner, contact=contact),
            receiver=receiver,
            swv=swv,
            planned_on=planned,
            pupil_decides=pupil_is_16_at(dossier.birth_date, planned, rules.pupil_consent_age),
        ),
    )
    await publish_signed(js, started, keyring.keys)
    data_key = await _wait_for_key(keyring, child, handover_id, key_timeout)

    carried = [
        RunningSupport(ref=f"oso-{name}-{n}", kind="arrangement", carried=True)
        for n, (name, ends) in enumerate(dossier.running, start=1)
        if ends is None or ends >= planned
    ]
    prepared_id = uuid.uuid4()
    count = 0
    sections: list[DossierSection] = []
    for category, section in sorted(dossier.sections.items()):
        for attachment in section.attachments:
            blob = seal_attachment(
                base64.b64decode(attachment.content_b64),
                key=data_key.key,
                kid=data_key.kid,
                event_id=prepared_id,
            )
            try:
                await put_attachment(
                    nc,
                    keyring.keys,
                    handover_id,
                    attachment_name(prepared_id, attachment.ref),
                    blob,
                )
            except AttachmentRefusedError as refused:
                raise TransferError(
                    f"attachment {attachment.ref} was refused ({refused})"
                ) from None
            count += 1
        sections.append(
            DossierSection(
                category=category,
                rule=disclosure.effective(
                    category, dossier.transition, dossier.declared.get(category)
                ),
                sealed=seal(
                    section.content(), key=data_key.key, kid=data_key.kid, event_id=prepared_id
                ),
            )
        )
    prepared = DossierPrepared.create(
        id=prepared_id,
        source=partner,
        subject=child,
        data=DossierPreparedData(
            handover_id=handover_id, sections=sections, running=carried + (running or [])
        ),
        purposes=[Purpose.HANDOVER],
    )
    await publish_signed(js, prepared, keyring.keys)
    published = 2
    if dossier.viewed and dossier.viewed_on is not None:
        viewed_id = uuid.uuid4()
        sealed = (
            await keyring.seal(
                ParentsViewDetails(reason_not_agreed=dossier.reason_not_agreed),
                child=child,
                event_id=viewed_id,
                scope=str(handover_id),
            )
            if not dossier.agreed
            else {}
        )
        await publish_signed(
            js,
            ParentsViewed.create(
                id=viewed_id,
                source=partner,
                subject=child,
                data=ParentsViewedData(
                    handover_id=handover_id,
                    viewed_on=dossier.viewed_on,
                    agreed=dossier.agreed,
                    opted_out=dossier.opted_out,
                    sealed=sealed,
                ),
                purposes=sorted(sealed),
            ),
            keyring.keys,
        )
        published += 1
        if rules.requires_consent(dossier.transition) and dossier.consent is not None:
            await publish_signed(
                js,
                ConsentRecorded.create(
                    source=partner,
                    subject=child,
                    data=ConsentRecordedData(
                        handover_id=handover_id,
                        given_by="pupil" if started.data.pupil_decides else "parents",
                        granted=dossier.consent,
                        recorded_on=dossier.viewed_on,
                    ),
                ),
                keyring.keys,
            )
            published += 1
    return Imported(handover_id, child, dossier.transition, len(sections), count, published)


def delivery_filter(partner: str) -> str:
    """The copies of `dossier-delivered` on `partner`'s own feed."""
    return feed_subject(partner, DossierDelivered.domain, DossierDelivered.name)


async def find_delivery(
    js: JetStreamContext, handover_id: uuid.UUID, partner: str
) -> DossierDelivered | None:
    """The `dossier-delivered` of a handover on `partner`'s own feed (None when not there).

    The feed gives a delivery to the handover's sender and receiver (and the other partners
    related to the child, without the dossier's sections). Read through a short-lived consumer
    named after the partner on FEED, filtered on the delivery copies of its own feed: the
    server checks the filter named in the create subject (infra/nats/permissions.yaml
    `filtered_reads`), so a school sees no other school's deliveries.
    """
    config = ConsumerConfig(
        name=partner,
        filter_subject=delivery_filter(partner),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        inactive_threshold=30,
    )
    await js.add_consumer(FEED.name, config)
    sub = await js.pull_subscribe_bind(partner, stream=FEED.name)
    try:
        while True:
            try:
                messages = await sub.fetch(200, timeout=1)
            except TimeoutError:
                return None
            for msg in messages:
                await msg.ack()
                event = DossierDelivered.model_validate_json(msg.data)
                if event.data.handover_id == handover_id:
                    return event
            if messages and messages[-1].metadata.num_pending == 0:
                return None
    finally:
        await sub.unsubscribe()
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(FEED.name, partner)


async def export_oso(
    nc: NatsClient,
    keyring: Keyring,
    handover_id: uuid.UUID,
    *,
    disclosure: DisclosureRules,
    rules: HandoverRules,
) -> bytes:
    """The delivered dossier as OSO XML, opened with `keyring`'s keys."""
    js = nc.jetstream()
    delivered = await find_delivery(js, handover_id, keyring.partner)
    if delivered is None:
        raise TransferError(f"handover {handover_id} is unknown or not delivered (yet)")
    if delivered.data.receiver != keyring.partner and delivered.data.sender != keyring.partner:
        raise TransferError(f"{keyring.partner} is neither sender nor receiver of this handover")
    try:
        return await _open_delivery(nc, keyring, delivered, disclosure, rules)
    except KeyringError as exc:
        raise TransferError(f"the sections do not open: {exc}") from None


async def _open_delivery(
    nc: NatsClient,
    keyring: Keyring,
    delivered: DossierDelivered,
    disclosure: DisclosureRules,
    rules: HandoverRules,
) -> bytes:
    sections: dict[str, dict[str, Any]] = {}
    attachments: dict[str, str] = {}
    for section in delivered.data.sections:
        content = await keyring.open_token(section.sealed, event_id=section.sealed_in)
        sections[section.category] = content
        for ref in content.get("refs", []):
            try:
                token = await get_attachment(
                    nc,
                    keyring.keys,
                    delivered.data.handover_id,
                    attachment_name(section.sealed_in, ref),
                )
            except AttachmentRefusedError as refused:
                raise TransferError(f"attachment {ref} is not available ({refused})") from None
            data_key = await keyring.key(kid_of(token.decode()))
            content_bytes = open_attachment(token, key=data_key.key, event_id=section.sealed_in)
            attachments[ref] = base64.b64encode(content_bytes).decode()
    withheld = {s.category: s.rule for s in delivered.data.withheld}
    return assemble(sections, attachments, withheld, disclosure)

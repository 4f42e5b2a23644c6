"""Publishing as a partner: every inbound event leaves signed by its source.

A partner's system (and what acts for partners here: CLIs, adapters, benchmarks, tests)
publishes an inbound event in one shape: signed with the source's Ed25519 key
(`ketenbus_contracts.signing.sign_event`, a detached JWS in `ketenbussig`), on
`in.<source>.<domain>.<event>`, with `Nats-Msg-Id` = the event id so JetStream drops a
re-publish. Ingress and the services refuse an unsigned event (`KETENBUS_SIGNATURES=required`).

Demo partners and the backbone's own services keep their key pairs in the data dir
(`keys: data-dir` in infra/partners.yaml, made on first use): `DataDirKeys` finds them, and
`sign_on_behalf` signs an unsigned envelope file for such a partner (`ketenbus publish --as`).
A partner whose keys are `inline` holds its private key itself: nothing here can sign for it.

A partner reads what concerns it from its own feed (`read_feed`): copies of the events about
the children it has a relation with, and a receipt for every event it published.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from ketenbus_contracts.envelope import CloudEvent, check_depth
from ketenbus_contracts.feed import verify_feed_entry
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signing import SIGNATURE_FIELD, SignatureError, sign_envelope, sign_event
from services.runtime.keyring import load_or_create_partner_keys
from services.runtime.partners import PARTNERS_PATH, load_partners
from services.runtime.streams import feed_consumer


def inbound_headers(event: CloudEvent[Any]) -> dict[str, str]:
    """The headers of an inbound publish: `Nats-Msg-Id` = the event id (JetStream dedup)."""
    return {"Nats-Msg-Id": str(event.id)}


@dataclass(frozen=True)
class InboundMessage:
    """A signed inbound event as it goes on the wire."""

    subject: str
    payload: bytes
    headers: dict[str, str]


def signed_message(event: CloudEvent[Any], keys: PartnerKeys) -> InboundMessage:
    """`event` signed with its source's `keys`, addressed to `in.<source>.…`."""
    signed = sign_event(event, keys)
    return InboundMessage(
        signed.inbound_subject(signed.source), signed.to_bytes(), inbound_headers(signed)
    )


async def publish_signed(js: JetStreamContext, event: CloudEvent[Any], keys: PartnerKeys) -> str:
    """Sign `event` with its source's `keys` and publish it on its inbound subject."""
    message = signed_message(event, keys)
    await js.publish(message.subject, message.payload, headers=message.headers)
    return message.subject


class DataDirKeys:
    """Partner id → its key pairs from the data dir (made on first use), read once each."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._keys: dict[str, PartnerKeys] = {}

    def __call__(self, partner: str) -> PartnerKeys:
        keys = self._keys.get(partner)
        if keys is None:
            keys = self._keys[partner] = load_or_create_partner_keys(self.data_dir, partner)
        return keys

    def message(self, event: CloudEvent[Any]) -> InboundMessage:
        """`event` signed by its source (see `signed_message`)."""
        return signed_message(event, self(event.source))

    async def publish(self, js: JetStreamContext, event: CloudEvent[Any]) -> str:
        """Publish `event` signed by its source (see `publish_signed`)."""
        return await publish_signed(js, event, self(event.source))


def keeps_keys_in_data_dir(partner: str, path: Path = PARTNERS_PATH) -> bool:
    """True for a registered partner whose key pairs live in the data dir (demo partners)."""
    entry = next((e for e in load_partners(path).partners if e.id == partner), None)
    return entry is not None and entry.keys == "data-dir"


def sign_on_behalf(raw: bytes, partner: str, data_dir: Path, path: Path = PARTNERS_PATH) -> bytes:
    """`raw` signed for `partner` when it is unsigned and the partner's keys are in the data dir.

    Anything else (signed already, not a JSON object, another source, a partner holding its own
    keys, too deep to parse) is returned unchanged, for ingress to judge.
    """
    try:
        check_depth(raw)
        envelope = json.loads(raw)
    except ValueError:  # EventTooDeepError included
        return raw
    if (
        not isinstance(envelope, dict)
        or SIGNATURE_FIELD in envelope
        or envelope.get("source") != partner
        or not keeps_keys_in_data_dir(partner, path)
    ):
        return raw
    keys = load_or_create_partner_keys(data_dir, partner)
    try:
        envelope[SIGNATURE_FIELD] = sign_envelope(envelope, keys.signing, partner)
    except ValueError:  # no canonical form (a lone surrogate, NaN): ingress refuses it
        return raw
    return json.dumps(envelope, ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------------
# reading one's own feed


@dataclass(frozen=True)
class FeedItem:
    """One entry of a partner's feed: a copy of an event about one of its children (only the
    sections it may hold) or a receipt of what it published."""

    subject: str
    stream_seq: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]

    @property
    def is_receipt(self) -> bool:
        return self.subject.endswith(".receipt")


async def read_feed(
    nc: NatsClient,
    partner: str,
    *,
    follow: bool = False,
    batch: int = 100,
    wait: float = 1.0,
) -> AsyncIterator[FeedItem]:
    """The partner's feed entries, in order, through the consumer `feed-<partner>` the
    backbone owns (only fetch and ack: what a partner's NATS user may do).

    Each entry is acknowledged when the caller asks for the next one, so an entry the caller
    did not finish with comes again. Without `follow` it ends when nothing came for `wait`
    seconds.
    """
    consumer = feed_consumer(partner)
    sub = await nc.jetstream().pull_subscribe_bind(
        durable=consumer.durable, stream=consumer.stream.name
    )
    try:
        while True:
            try:
                messages = await sub.fetch(batch, timeout=wait)
            except TimeoutError:  # nats-py's is one too: nothing came
                if follow:
                    continue
                return
            for msg in messages:
                yield FeedItem(
                    subject=msg.subject,
                    stream_seq=msg.metadata.sequence.stream,
                    body=json.loads(msg.data),
                    raw=msg.data,
                    headers=dict(msg.headers or {}),
                )
                await msg.ack()
    finally:
        await sub.unsubscribe()


def feed_line(item: FeedItem, feed_keys: PartnerKeys | None = None) -> str:
    """One line for a feed entry, without personal data: no pseudonym, no section content.

    With the feed's public keys an event copy's signature is checked (`signed=ok`, or
    `signed=FORGED`); without them it says `signed=unchecked`.
    """
    body = item.body
    if item.is_receipt:
        if body.get("status") == "accepted":
            what = f"accepted event={body.get('event_id')} inbound-seq={body.get('stream_seq')}"
        else:
            what = f"refused reason={body.get('reason')} event={body.get('event_id') or '-'}"
        return f"{item.stream_seq} receipt {what} by={body.get('service')}"
    kind = ".".join(item.subject.split(".")[2:])
    sections = ",".join(sorted((body.get("data") or {}).get("sealed") or {})) or "-"
    if feed_keys is None:
        signed = "unchecked"
    else:
        try:
            verify_feed_entry(item.raw, item.headers, feed_keys)
            signed = "ok"
        except SignatureError:
            signed = "FORGED"
    return f"{item.stream_seq} {kind} event={body.get('id')} sections={sections} signed={signed}"

"""Reading one's own feed: copies of the events about the partner's children (only the
sections it may hold) and a receipt for every event it published.

The feed is the stream `FEED`, subjects `feed.<partner>.<domain>.<event>` for event copies and
`feed.<partner>.receipt` for receipts, read through the durable consumer `feed-<partner>` that
the backbone creates and owns: a partner's NATS user may only fetch from it and ack.
Each copy is signed by the feed service (`Ketenbus-Feed-Signature`,
`ketenbus_contracts.feed.verify_feed_entry`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient

from ketenbus_contracts.feed import verify_feed_entry
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signing import SignatureError

FEED_STREAM = "FEED"


def feed_durable(partner: str) -> str:
    """The name of the partner's feed consumer on `FEED_STREAM`."""
    return f"feed-{partner}"


def feed_filter(partner: str) -> str:
    """What the partner's feed consumer delivers: everything under `feed.<partner>.`."""
    return f"feed.{partner}.>"


@dataclass(frozen=True)
class FeedItem:
    """One entry of a partner's feed: a copy of an event about one of its children (only the
    sections it may hold) or a receipt of what it published."""

    subject: str
    stream_seq: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    # Acknowledge it now (read_feed does when the next entry is asked for): for a reader that
    # stops at this entry.
    ack: Callable[[], Awaitable[None]] | None = field(default=None, compare=False, repr=False)

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
) -> AsyncGenerator[FeedItem, None]:
    """The partner's feed entries, in order, through the consumer `feed-<partner>` the
    backbone owns (only fetch and ack: what a partner's NATS user may do).

    Each entry is acknowledged when the caller asks for the next one (or by `item.ack()`), so
    an entry the caller did not finish with comes again. Without `follow` it ends when nothing
    came for `wait` seconds.
    """
    sub = await nc.jetstream().pull_subscribe_bind(
        durable=feed_durable(partner), stream=FEED_STREAM
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
                    ack=msg.ack,
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

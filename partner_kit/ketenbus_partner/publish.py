"""Publishing as a partner: every inbound event leaves signed by its source.

A partner's system (and what acts for partners in the backbone's repository: its CLI, adapters,
benchmarks, tests) publishes an inbound event in one shape: signed with the source's Ed25519
key (`ketenbus_contracts.signing.sign_event`, a detached JWS in `ketenbussig` over the RFC 8785
form of the envelope without that field), on `in.<source>.<domain>.<event>`, with
`Nats-Msg-Id` = the event id so JetStream drops a re-publish. The backbone refuses an unsigned
event.

`DataDirKeys` finds the key pairs of partners that keep them in a data directory (the demo
partners, `ketenbus_partner.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.js.client import JetStreamContext

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signing import sign_event
from ketenbus_partner.keys import load_or_create_partner_keys


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

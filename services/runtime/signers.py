"""The public keys of the backbone's own signers, shared by every host (issue 20).

kluis, the feed and the pseudonym service each hold a key pair of their own (kluis's X25519 key
receives what is sealed to kluis, the dead letters' originals among it; the feed signs the
partners' copies; the pseudonym service's receives the identifiers). The private halves stay on
the signer's volume; the public halves used to be read from `partner-keys/<id>.json` of each
host's own data directory, so on separate hosts the services sealed to, and verified with,
whatever that host had (or nothing).

Now each signer puts its public JWK Set in the JetStream key-value bucket `ketenbus-signers`
(`streams.SIGNERS_BUCKET`, made by the supervisor, replicated as the streams are) when it
starts, under its own id, with a create: the first key stands. A signer whose own key differs
from the one in the bucket refuses to start (`SignerKeyMismatchError`: a host with a fresh data
directory would otherwise make a new key pair and the others would seal to the old one). Only
that signer's NATS user may write its key; every service reads them all (no partner, no other
service writes one). A running service reads the bucket when it starts and again when a key it
needs is missing; `PartnerRegistry.public_keys` answers a signer's id from what it read before
the data directory.

The audit service's key is not among them: it signs each host's own hash chains, which stay on
that host (infra/README.md).
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from ketenbus_contracts.feed import FEED_SIGNER
from ketenbus_contracts.pseudonym import PSEUDONYM_SERVICE
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_partner.keys import KLUIS_PARTNER_ID
from services.runtime.settings import Settings
from services.runtime.streams import SIGNERS_BUCKET, ensure_key_value

# The signers whose public keys every host shares (their service names are their ids).
SIGNERS: tuple[str, ...] = (KLUIS_PARTNER_ID, FEED_SIGNER, PSEUDONYM_SERVICE)


class SignerKeyMismatchError(RuntimeError):
    """The signer's own key pair is not the one the backbone knows it by."""


class SignerKeys:
    """The signers' public keys as the bucket has them (`keys`, by id)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.keys: dict[str, PartnerKeys] = {}

    @classmethod
    async def open(cls, nc: NatsClient, settings: Settings) -> SignerKeys:
        """The bucket (made when missing where the user may: the supervisor makes it), read."""
        kv = await ensure_key_value(nc.jetstream(), SIGNERS_BUCKET, settings.nats_replicas, 0.0)
        signers = cls(kv)
        await signers.refresh()
        return signers

    async def refresh(self) -> dict[str, PartnerKeys]:
        """Read every signer's key the bucket has."""
        for signer in SIGNERS:
            try:
                entry = await self.kv.get(signer)
            except KeyNotFoundError:
                continue
            self.keys[signer] = PartnerKeys.from_jwks(signer, json.loads(entry.value or b"{}"))
        return self.keys

    async def get(self, signer: str) -> PartnerKeys | None:
        """The signer's public keys, read again when not known yet."""
        if signer not in self.keys:
            await self.refresh()
        return self.keys.get(signer)

    async def publish(self, own: PartnerKeys) -> None:
        """Put this signer's public keys in the bucket, unless they are there; raises
        SignerKeyMismatchError when the bucket has other keys for it."""
        public = own.to_jwks(private=False)
        try:
            await self.kv.create(own.partner, json.dumps(public, sort_keys=True).encode())
        except KeyWrongLastSequenceError:
            entry = await self.kv.get(own.partner)
            if json.loads(entry.value or b"{}") != public:
                raise SignerKeyMismatchError(
                    f"the public key of {own.partner} in the bucket {SIGNERS_BUCKET.name} is "
                    f"not this host's ({own.partner}'s key pair in its data directory): copy the "
                    "signer's key pair here, or, rotating its key on purpose, delete its entry "
                    "first"
                ) from None
        self.keys[own.partner] = PartnerKeys.from_jwks(own.partner, public)

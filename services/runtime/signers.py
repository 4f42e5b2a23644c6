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
service writes one). A running service reads the bucket when it starts, again when a signer it
needs is missing and again once what it read is older than a minute (`SIGNER_KEYS_TTL`);
`PartnerRegistry.public_keys` answers a signer's id from what it read before the data
directory.

Rotation (`ketenbus keys rotate SIGNER` on the signer's host, as its own NATS user): a new key
pair of the next generation (kids `kluis#sig-2`, `kluis#enc-2`) becomes the current one and the
old pair is kept in the same JWK Set, so what was signed with, or sealed to, the old key still
verifies and opens. The new pair's private file is written first (`next_keys_path`), then the
bucket is updated on the revision read (not a create: a concurrent change fails it), then the
signer's own key file names the new pair current (`rotate_signer_key`). The running signer
reads its private files again when they change (`OwnKeys`, at most once a second); readers
take the new key within a minute, or at once when they meet its kid. `ketenbus keys retire
SIGNER` drops the old pairs, once every reader had that minute.

A signer on several hosts prepares the pair first (`keys rotate --prepare`: made in
`secrets/partners/<id>.next.jwk`, published nowhere) and that file is copied to its other
hosts, whose running signer opens what is sealed to the prepared key from then on; `keys rotate`
on any one host then makes it current, and the others take that rotation into their own data
directory when they next start (`adopt_prepared`). Retire after they did: until then they sign
with the old key. A signer starting with a key set that finishes its own unfinished rotation or
retirement (the bucket still has the set before it) completes it; any other difference is a
`SignerKeyMismatchError`.

The audit service's key is not among them: it signs each host's own hash chains, which stay on
that host (infra/README.md).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from ketenbus_contracts.feed import FEED_SIGNER
from ketenbus_contracts.pseudonym import PSEUDONYM_SERVICE
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_partner.keys import (
    KLUIS_PARTNER_ID,
    SIGNER_KEYS_TTL,
    load_or_create_partner_keys,
    next_keys_path,
    private_keys_path,
    store_partner_keys,
    write_jwks,
)
from services.runtime.settings import Settings
from services.runtime.streams import SIGNERS_BUCKET, ensure_key_value

# The signers whose public keys every host shares (their service names are their ids).
SIGNERS: tuple[str, ...] = (KLUIS_PARTNER_ID, FEED_SIGNER, PSEUDONYM_SERVICE)


class SignerKeyMismatchError(RuntimeError):
    """The signer's own key pair is not the one the backbone knows it by."""


class UnknownSignerError(LookupError):
    """Not one of the backbone's signers (kluis, feed, pseudonym)."""


class SignerNotPublishedError(LookupError):
    """The signer has no key in the bucket yet (it publishes it when it first starts)."""


def _public(keys: PartnerKeys) -> list[dict[str, Any]]:
    return list(keys.to_jwks(private=False)["keys"])


def continues(ours: PartnerKeys, theirs: PartnerKeys) -> bool:
    """Whether `ours` is what this signer's own rotation or retirement of `theirs` made: a
    rotation keeps their keys among its older ones; a retirement keeps their current pair and
    drops older ones. A stale copy (an older generation, or retired keys back) is not."""
    mine, their = _public(ours), _public(theirs)
    if all(key in mine[2:] for key in their):
        return True  # rotated: every key they have is among our older ones
    return mine[:2] == their[:2] and all(key in their[2:] for key in mine[2:])


def load_next(data_dir: Path, signer: str) -> PartnerKeys | None:
    """The signer's prepared next key pair (`ketenbus keys rotate --prepare`), if any."""
    path = next_keys_path(data_dir, signer)
    if not path.exists():
        return None
    return PartnerKeys.from_jwks(signer, json.loads(path.read_text()))


def promoted(own: PartnerKeys, nxt: PartnerKeys) -> PartnerKeys:
    """`own` rotated to the prepared pair `nxt` (the old pairs kept)."""
    return PartnerKeys(
        own.partner, nxt.signing, nxt.encryption, (own.signing, own.encryption, *own.older)
    )


class OwnKeys:
    """A signer's own key pairs from its data directory, read again when a file changes (a
    rotation on this host, a prepared next pair copied here), checked at most once a
    `period`."""

    def __init__(
        self,
        data_dir: Path,
        signer: str,
        *,
        period: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = private_keys_path(data_dir, signer)
        self.next_path = next_keys_path(data_dir, signer)
        self._data_dir, self._signer = data_dir, signer
        self.period, self._clock = period, clock
        self._keys = load_or_create_partner_keys(data_dir, signer)
        self._prepared = load_next(data_dir, signer)
        self._stamp = self._stat()
        self._next = clock() + period

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for path in (self.path, self.next_path):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                stamps.append((0, 0, 0))
            else:
                stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(stamps)

    def current(self, *, now: bool = False) -> PartnerKeys:
        """The key pairs, read again if a file changed (`now`: look at once)."""
        if now or self._clock() >= self._next:
            self._next = self._clock() + self.period
            stamp = self._stat()
            if stamp != self._stamp:
                self._keys = load_or_create_partner_keys(self._data_dir, self._signer)
                self._prepared = load_next(self._data_dir, self._signer)
                self._stamp = stamp
        return self._keys

    def decryption_keys(self) -> tuple[OKPKey, ...]:
        """Every X25519 key what is sealed to this signer may be sealed to, looked at now: the
        current, the older kept, and a prepared next one (another host may have made it
        current already)."""
        keys = self.current(now=True).decryption_keys()
        prepared = self._prepared
        return keys if prepared is None else (*keys, *prepared.decryption_keys())


def adopt_prepared(data_dir: Path, signer: str, shared: PartnerKeys | None) -> bool:
    """On a host of the signer that was given the prepared next pair: when the bucket's entry
    (`shared`) is this host's keys rotated to it (another host ran `keys rotate`), take that
    rotation into this host's data directory too. True when it did."""
    nxt = load_next(data_dir, signer)
    if nxt is None or shared is None:
        return False
    own = load_or_create_partner_keys(data_dir, signer)
    rotated = promoted(own, nxt)
    if _public(shared) != _public(rotated):
        return False
    store_partner_keys(data_dir, rotated)
    next_keys_path(data_dir, signer).unlink(missing_ok=True)
    return True


class SignerKeys:
    """The signers' public keys as the bucket has them (`keys`, by id), read again when older
    than `ttl` seconds."""

    def __init__(
        self,
        kv: KeyValue,
        ttl: float = SIGNER_KEYS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.keys: dict[str, PartnerKeys] = {}
        self.ttl, self._clock = ttl, clock
        self._read_at = clock()

    @classmethod
    async def open(cls, nc: NatsClient, settings: Settings) -> SignerKeys:
        """The bucket (made when missing where the user may: the supervisor makes it), read."""
        kv = await ensure_key_value(nc.jetstream(), SIGNERS_BUCKET, settings.nats_replicas, 0.0)
        signers = cls(kv)
        await signers.refresh()
        return signers

    async def refresh(self) -> dict[str, PartnerKeys]:
        """Read every signer's key the bucket has."""
        self._read_at = self._clock()
        for signer in SIGNERS:
            try:
                entry = await self.kv.get(signer)
            except KeyNotFoundError:
                continue
            self.keys[signer] = PartnerKeys.from_jwks(signer, json.loads(entry.value or b"{}"))
        return self.keys

    async def get(self, signer: str) -> PartnerKeys | None:
        """The signer's public keys, read again when not known yet or read over `ttl` ago."""
        if signer not in self.keys or self._clock() - self._read_at >= self.ttl:
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
            theirs = PartnerKeys.from_jwks(own.partner, json.loads(entry.value or b"{}"))
            if json.loads(entry.value or b"{}") == public:
                pass
            elif continues(own, theirs):  # this signer's rotation or retirement, unfinished
                await self.kv.update(
                    own.partner, json.dumps(public, sort_keys=True).encode(), last=entry.revision
                )
            else:
                raise SignerKeyMismatchError(
                    f"the public key of {own.partner} in the bucket {SIGNERS_BUCKET.name} is "
                    f"not this host's ({own.partner}'s key pair in its data directory): copy the "
                    "signer's key pair here, or, rotating its key on purpose, delete its entry "
                    "first"
                ) from None
        self.keys[own.partner] = PartnerKeys.from_jwks(own.partner, public)


async def open_own_entry(nc: NatsClient, signer: str) -> tuple[KeyValue, PartnerKeys, int]:
    """The bucket, the signer's key set in it and its revision, as the signer's own user."""
    if signer not in SIGNERS:
        raise UnknownSignerError(f"{signer} is not one of the backbone's signers {SIGNERS}")
    kv = await nc.jetstream().key_value(SIGNERS_BUCKET.name)
    try:
        entry = await kv.get(signer)
    except KeyNotFoundError:
        raise SignerNotPublishedError(
            f"{signer} has no key in {SIGNERS_BUCKET.name} yet: start it once first"
        ) from None
    if entry.revision is None:
        raise SignerNotPublishedError(f"{signer}'s entry has no revision")
    return kv, PartnerKeys.from_jwks(signer, json.loads(entry.value or b"{}")), entry.revision


async def _replace(kv: KeyValue, keys: PartnerKeys, revision: int) -> None:
    body = json.dumps(keys.to_jwks(private=False), sort_keys=True).encode()
    try:
        await kv.update(keys.partner, body, last=revision)
    except KeyWrongLastSequenceError:
        raise SignerKeyMismatchError(
            f"the key of {keys.partner} changed in {SIGNERS_BUCKET.name} meanwhile: nothing was "
            "changed, try again"
        ) from None


async def change_own_keys(
    nc: NatsClient, data_dir: Path, signer: str, change: Callable[[PartnerKeys], PartnerKeys]
) -> PartnerKeys:
    """Replace the signer's key set with `change` of it, in its data directory and then in the
    bucket (an update on the revision read); the file is put back when the update fails. Run on
    the signer's host as the signer's own NATS user."""
    kv, shared, revision = await open_own_entry(nc, signer)
    own = load_or_create_partner_keys(data_dir, signer)
    if own.to_jwks(private=False) != shared.to_jwks(private=False):
        raise SignerKeyMismatchError(
            f"the key of {signer} in {SIGNERS_BUCKET.name} is not this host's: run this where "
            f"{signer} runs (its data directory)"
        )
    changed = change(own)
    store_partner_keys(data_dir, changed)  # first: a key in the bucket is one the signer holds
    try:
        await _replace(kv, changed, revision)
    except SignerKeyMismatchError:
        store_partner_keys(data_dir, own)
        raise
    except Exception:
        # The update may have been made and its answer lost: the bucket decides.
        _, now, _ = await open_own_entry(nc, signer)
        if now.to_jwks(private=False) != changed.to_jwks(private=False):
            store_partner_keys(data_dir, own)
        raise
    return changed


def prepare_signer_key(data_dir: Path, signer: str) -> PartnerKeys:
    """The signer's next key pair, made (once) in `secrets/partners/<id>.next.jwk` and not
    published: copied to the signer's other hosts, it lets each open what is sealed to it as
    soon as `rotate_signer_key` makes it current on any host."""
    if signer not in SIGNERS:
        raise UnknownSignerError(f"{signer} is not one of the backbone's signers {SIGNERS}")
    prepared = load_next(data_dir, signer)
    if prepared is None:
        own = load_or_create_partner_keys(data_dir, signer)
        prepared = PartnerKeys.generate(signer, own.generation + 1)
        write_jwks(next_keys_path(data_dir, signer), prepared.to_jwks(private=True), 0o600)
    return prepared


async def rotate_signer_key(nc: NatsClient, data_dir: Path, signer: str) -> PartnerKeys:
    """A new current key pair for `signer` (the prepared one, if any), the old ones kept
    until retired.

    The next pair is in the data directory first (`prepare_signer_key`: the running signer
    opens what is sealed to it, and no key is published that the signer does not hold), then
    the bucket names it current (an update on the revision read), then the signer's own key
    file does (from then on it signs with it): no one meets a kid the bucket does not have. A
    rotation cut short after the update is finished by running it again, or by the signer's
    next start (`adopt_prepared`)."""
    kv, shared, revision = await open_own_entry(nc, signer)
    own = load_or_create_partner_keys(data_dir, signer)
    nxt = load_next(data_dir, signer)
    rotated = None if nxt is None else promoted(own, nxt)
    if rotated is None or _public(shared) != _public(rotated):
        if _public(shared) != _public(own):
            raise SignerKeyMismatchError(
                f"the key of {signer} in {SIGNERS_BUCKET.name} is not this host's: run this "
                f"where {signer} runs (its data directory)"
            )
        rotated = promoted(own, prepare_signer_key(data_dir, signer))
        await _replace(kv, rotated, revision)
    adopt_prepared(data_dir, signer, rotated)
    return rotated


async def retire_signer_keys(nc: NatsClient, data_dir: Path, signer: str) -> PartnerKeys:
    """Drop `signer`'s older key pairs: only its current one verifies and opens from now."""
    return await change_own_keys(nc, data_dir, signer, PartnerKeys.retired)

"""A partner's key pairs kept in a directory, and the public keys of the backbone's services.

A partner holds two key pairs (`ketenbus_contracts.sealing.PartnerKeys`): Ed25519 to sign its
events and requests, X25519 to receive data keys from kluis. Its public JWK Set is what it
registers (the `keys` of its entry in the backbone's partner registry); the private one never
leaves it.

In a data directory (the demo partners' and the backbone's own services', `keys: data-dir` in
the registry) they are made on first use by `load_or_create_partner_keys`: the private JWK Set
in `secrets/partners/<id>.jwk` (mode 0600), the public one in `partner-keys/<id>.json`, where
kluis finds it.

The backbone's own signers (kluis, whose X25519 key a first signaller seals to; the feed, which
signs a partner's copies; the pseudonym service, whose key receives the identifiers) share
their public JWK Sets over NATS, in the key-value bucket `ketenbus-signers` (`SIGNERS_BUCKET`),
which every partner's NATS user may read and none may write. `fetch_signer_keys` reads one
with a direct get of its last value (nothing else of JetStream), and `SignerKeySource` is what
the kit's clients use: the bucket first (again after a minute, or at once when a key is
missing: a rotated key comes in without a restart), the data directory's
`partner-keys/<id>.json` second (a host where the signer runs, or a backbone without the
bucket). A partner's tools thus need no copy of kluis's key on their host.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from ketenbus_contracts.sealing import PartnerKeys, SealingError

log = structlog.get_logger(__name__)

KLUIS_PARTNER_ID = "kluis"
# The backbone's key-value bucket of its signers' public JWK Sets, by signer id.
SIGNERS_BUCKET = "ketenbus-signers"
# How long a signer's keys read from the bucket are used before they are read again.
SIGNER_KEYS_TTL = 60.0


def private_keys_path(data_dir: Path, partner: str) -> Path:
    return data_dir / "secrets" / "partners" / f"{partner}.jwk"


def next_keys_path(data_dir: Path, partner: str) -> Path:
    """A signer's next key pair, prepared for a rotation (0600; services.runtime.signers)."""
    return data_dir / "secrets" / "partners" / f"{partner}.next.jwk"


def public_keys_path(data_dir: Path, partner: str) -> Path:
    return data_dir / "partner-keys" / f"{partner}.json"


def load_or_create_partner_keys(data_dir: Path, partner: str) -> PartnerKeys:
    """The partner's key pairs from the data dir, made (0600) and registered on first use."""
    private_path = private_keys_path(data_dir, partner)
    if not private_path.exists():
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = PartnerKeys.generate(partner)
        try:
            fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made them at the same moment: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(keys.to_jwks(private=True), handle)
    keys = PartnerKeys.from_jwks(partner, json.loads(private_path.read_text()))
    public_path = public_keys_path(data_dir, partner)
    public = keys.to_jwks(private=False)
    if not public_path.exists() or json.loads(public_path.read_text()) != public:
        public_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = public_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(public, indent=2))
        tmp.replace(public_path)
    return keys


def write_jwks(path: Path, jwks: dict[str, object], mode: int) -> None:
    """A JWK Set file replaced whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(jwks, handle)
    tmp.replace(path)


def store_partner_keys(data_dir: Path, keys: PartnerKeys) -> None:
    """Replace the partner's key pairs in the data dir (private 0600, and public), each file
    whole or not at all: a signer's rotation (services.runtime.signers)."""
    write_jwks(private_keys_path(data_dir, keys.partner), keys.to_jwks(private=True), 0o600)
    write_jwks(public_keys_path(data_dir, keys.partner), keys.to_jwks(private=False), 0o644)


def load_public_keys(data_dir: Path, partner: str) -> PartnerKeys | None:
    """The public keys `partner` published in the data dir (None before it did)."""
    path = public_keys_path(data_dir, partner)
    if not path.exists():
        return None
    return PartnerKeys.from_jwks(partner, json.loads(path.read_text()))


def key_ids(keys: PartnerKeys) -> set[str]:
    """The kids of every key in the set, the older ones of a rotation too."""
    return {str(k.kid) for k in (keys.signing, keys.encryption, *keys.older)}


def signer_key_subject(signer: str) -> str:
    """The direct get of the signer's last value in the bucket (JetStream API)."""
    return f"$JS.API.DIRECT.GET.KV_{SIGNERS_BUCKET}.$KV.{SIGNERS_BUCKET}.{signer}"


async def fetch_signer_keys(
    nc: NatsClient, signer: str, *, timeout: float = 2.0
) -> PartnerKeys | None:
    """The signer's public keys as the backbone shares them; None when the bucket has none
    (or there is no bucket, or this connection may not read it)."""
    try:
        msg = await nc.request(signer_key_subject(signer), b"", timeout=timeout)
    except (NatsError, TimeoutError):
        return None
    headers = msg.headers or {}
    if headers.get("Status") or headers.get("KV-Operation") in ("DEL", "PURGE"):
        return None  # 404: no such key (or bucket); a deleted key is no key
    try:
        return PartnerKeys.from_jwks(signer, json.loads(msg.data))
    except (ValueError, SealingError, AttributeError):
        return None


class SignerKeySource:
    """One signer's public keys for a partner's client: the bucket first, the data dir second.

    What the bucket gave is used for `ttl` seconds, then read again; `get(refresh=True)` reads
    it at once (a client that meets a key it does not know: the signer rotated it).
    """

    def __init__(
        self,
        nc: NatsClient | None,
        signer: str,
        data_dir: Path | None = None,
        *,
        ttl: float = SIGNER_KEYS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.signer = signer
        self._nc = nc
        self._data_dir = data_dir
        self.ttl = ttl
        self._clock = clock
        self._shared: tuple[PartnerKeys, float] | None = None
        self._told = False

    async def having(self, kid: str | None) -> PartnerKeys | None:
        """The signer's keys, read again at once when none of them is `kid` (rotated)."""
        keys = await self.get()
        if keys is not None and kid is not None and kid not in key_ids(keys):
            keys = await self.get(refresh=True)
        return keys

    async def get(self, *, refresh: bool = False) -> PartnerKeys | None:
        if self._shared is not None and not refresh and self._shared[1] > self._clock():
            return self._shared[0]
        shared = None if self._nc is None else await fetch_signer_keys(self._nc, self.signer)
        if shared is not None:
            self._shared = (shared, self._clock() + self.ttl)
            return shared
        if self._shared is not None:
            return self._shared[0]  # the bucket did not answer this time: what it said before
        if not self._told:  # once: a client waiting for a key asks many times
            self._told = True
            fallback = "data-dir" if self._data_dir is not None else "none"
            log.info("signer_keys_not_shared", signer=self.signer, fallback=fallback)
        return None if self._data_dir is None else load_public_keys(self._data_dir, self.signer)

    async def encryption(self) -> OKPKey | None:
        """The signer's X25519 key to seal to (its current one)."""
        keys = await self.get()
        return None if keys is None else keys.encryption

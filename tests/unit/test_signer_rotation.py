"""A signer's key rotation without NATS: the key sets a rotation and a retirement make, what a
signer starting on the bucket's entry accepts (finishing its own rotation or retirement, never
a stale copy), its own keys taken in when the file changes, readers reading again; a prepared
next pair opening on each host given it, which takes the rotation made elsewhere in."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from structlog.testing import capture_logs

from ketenbus_contracts.feed import sign_feed_entry, verify_feed_entry
from ketenbus_contracts.sealing import KluisProtocolError, PartnerKeys, decrypt_from, encrypt_to
from ketenbus_contracts.signing import ForgedSignatureError
from ketenbus_partner.keys import (
    SignerKeySource,
    load_or_create_partner_keys,
    next_keys_path,
    private_keys_path,
    store_partner_keys,
)
from services.runtime.signers import (
    OwnKeys,
    SignerKeyMismatchError,
    SignerKeys,
    adopt_prepared,
    prepare_signer_key,
    promoted,
    rotate_signer_key,
)


class FakeBucket:
    """The calls SignerKeys makes on a key-value bucket, in memory."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, int]] = {}
        self.gets = 0

    def _put(self, key: str, value: bytes) -> int:
        revision = 1 + max((r for _, r in self.entries.values()), default=0)
        self.entries[key] = (value, revision)
        return revision

    async def create(self, key: str, value: bytes) -> int:
        if key in self.entries:
            raise KeyWrongLastSequenceError()
        return self._put(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if self.entries[key][1] != last:
            raise KeyWrongLastSequenceError()
        return self._put(key, value)

    async def get(self, key: str) -> Any:
        self.gets += 1
        if key not in self.entries:
            raise KeyNotFoundError()
        value, revision = self.entries[key]
        return SimpleNamespace(value=value, revision=revision)

    def keys_of(self, key: str) -> dict[str, Any]:
        return dict(json.loads(self.entries[key][0]))


def started(bucket: FakeBucket, own: PartnerKeys) -> str:
    """What a signer starting with `own` makes of the bucket's entry: 'ok' or the error."""
    try:
        asyncio.run(SignerKeys(bucket).publish(own))  # type: ignore[arg-type]
    except SignerKeyMismatchError:
        return "mismatch"
    return "ok"


def test_a_rotation_keeps_the_old_pair_and_a_retirement_drops_it() -> None:
    old = PartnerKeys.generate("kluis")
    rotated = old.rotated()
    sealed_to_old = encrypt_to({"n": 1}, old.public().encryption)

    assert ("kluis#sig-2", "kluis#enc-2", 2) == (
        rotated.signing.kid,
        rotated.encryption.kid,
        rotated.generation,
    )
    assert {"n": 1} == decrypt_from(sealed_to_old, rotated.decryption_keys())
    assert rotated.to_jwks(private=True) == PartnerKeys.from_jwks(
        "kluis", rotated.to_jwks(private=True)
    ).to_jwks(private=True)
    assert ["kluis#sig-3", "kluis#sig-2", "kluis#sig"] == list(
        rotated.rotated().verification_keys()
    )
    with pytest.raises(KluisProtocolError, match="not encrypted to kluis"):
        decrypt_from(sealed_to_old, rotated.retired().decryption_keys())


def test_a_feed_copy_signed_before_the_rotation_verifies_until_the_old_key_is_retired() -> None:
    old = PartnerKeys.generate("feed")
    rotated = old.rotated()
    before = {"Ketenbus-Feed-Signature": sign_feed_entry(b"copy", old)}
    after = {"Ketenbus-Feed-Signature": sign_feed_entry(b"copy", rotated)}

    verify_feed_entry(b"copy", before, rotated.public())
    verify_feed_entry(b"copy", after, rotated.public())
    with pytest.raises(ForgedSignatureError, match="another key"):
        verify_feed_entry(b"copy", after, old.public())  # a reader that did not read again
    with pytest.raises(ForgedSignatureError, match="another key"):
        verify_feed_entry(b"copy", before, rotated.retired().public())


def test_a_signer_starting_on_its_own_unfinished_rotation_or_retirement_completes_it() -> None:
    old = PartnerKeys.generate("kluis")
    rotated, bucket = old.rotated(), FakeBucket()
    assert "ok" == started(bucket, old)

    assert "ok" == started(bucket, rotated)  # its file was written, the bucket not yet
    assert rotated.to_jwks(private=False) == bucket.keys_of("kluis")
    assert "ok" == started(bucket, rotated.retired())
    assert rotated.retired().to_jwks(private=False) == bucket.keys_of("kluis")


def test_a_signer_starting_with_a_stale_copy_of_its_keys_is_refused() -> None:
    old = PartnerKeys.generate("kluis")
    rotated, bucket = old.rotated(), FakeBucket()
    asyncio.run(SignerKeys(bucket).publish(rotated.retired()))  # type: ignore[arg-type]

    assert "mismatch" == started(bucket, old)  # a host that missed the rotation
    assert "mismatch" == started(bucket, rotated)  # a copy from before the retirement
    assert "mismatch" == started(bucket, PartnerKeys.generate("kluis"))
    assert rotated.retired().to_jwks(private=False) == bucket.keys_of("kluis")


def test_a_running_signer_takes_its_rotated_keys_in_when_its_file_changes(tmp_path: Path) -> None:
    now = [0.0]
    own = OwnKeys(tmp_path, "feed", period=1.0, clock=lambda: now[0])
    first = own.current()
    store_partner_keys(tmp_path, first.rotated())

    soon = own.current()  # within the period: not looked at yet
    now[0] = 1.0
    later = own.current()

    assert ("feed#sig", "feed#sig-2") == (soon.signing.kid, later.signing.kid)
    assert ["feed#enc-2", "feed#enc"] == [k.kid for k in own.current(now=True).decryption_keys()]


def test_a_reader_reads_the_signers_keys_again_after_a_minute() -> None:
    now, bucket = [0.0], FakeBucket()
    asyncio.run(SignerKeys(bucket).publish(PartnerKeys.generate("kluis")))  # type: ignore[arg-type]
    reader = SignerKeys(bucket, ttl=60.0, clock=lambda: now[0])  # type: ignore[arg-type]

    async def read() -> str | None:
        keys = await reader.get("kluis")
        return None if keys is None else str(keys.encryption.kid)

    first = asyncio.run(read())
    bucket._put(
        "kluis", json.dumps(PartnerKeys.generate("kluis", 2).to_jwks(private=False)).encode()
    )
    within = asyncio.run(read())
    now[0] = 60.0
    after = asyncio.run(read())

    assert ("kluis#enc", "kluis#enc", "kluis#enc-2") == (first, within, after)


def test_a_prepared_key_opens_on_each_host_given_it_and_each_takes_the_rotation_in(
    tmp_path: Path,
) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    old = load_or_create_partner_keys(here, "kluis")
    private_keys_path(there, "kluis").parent.mkdir(parents=True)
    shutil.copy(private_keys_path(here, "kluis"), private_keys_path(there, "kluis"))
    running_there = OwnKeys(there, "kluis")
    prepared = prepare_signer_key(here, "kluis")
    shutil.copy(next_keys_path(here, "kluis"), next_keys_path(there, "kluis"))
    sealed = encrypt_to({"n": 2}, prepared.public().encryption)

    opened_there = decrypt_from(sealed, running_there.decryption_keys())
    again = prepare_signer_key(here, "kluis")
    rotated_here = promoted(old, prepared)  # what `keys rotate` here puts in the bucket
    other = PartnerKeys.generate("kluis", 2)
    refused = adopt_prepared(there, "kluis", promoted(old, other).public())
    adopted = adopt_prepared(there, "kluis", rotated_here.public())

    assert {"n": 2} == opened_there
    assert prepared.to_jwks(private=True) == again.to_jwks(private=True)
    assert ("kluis#sig-2", False, True) == (prepared.signing.kid, refused, adopted)
    assert rotated_here.to_jwks(private=True) == load_or_create_partner_keys(
        there, "kluis"
    ).to_jwks(private=True)
    assert not next_keys_path(there, "kluis").exists()


class LostAck(FakeBucket):
    """The update is made, its answer lost once."""

    lose = True

    async def update(self, key: str, value: bytes, last: int) -> int:
        revision = await super().update(key, value, last)
        if self.lose:
            self.lose = False
            raise TimeoutError
        return revision


def test_a_rotation_cut_short_after_the_update_signs_with_no_kid_unknown_and_finishes_again(
    tmp_path: Path,
) -> None:
    bucket = LostAck()
    nc = SimpleNamespace(jetstream=lambda: SimpleNamespace(key_value=lambda name: _ready(bucket)))
    old = load_or_create_partner_keys(tmp_path, "feed")
    asyncio.run(SignerKeys(bucket).publish(old.public()))  # type: ignore[arg-type]

    with pytest.raises(TimeoutError):
        asyncio.run(rotate_signer_key(nc, tmp_path, "feed"))  # type: ignore[arg-type]
    signing_meanwhile = load_or_create_partner_keys(tmp_path, "feed").signing.kid
    shared_meanwhile = [k["kid"] for k in bucket.keys_of("feed")["keys"]]
    rotated = asyncio.run(rotate_signer_key(nc, tmp_path, "feed"))  # type: ignore[arg-type]

    assert "feed#sig" == signing_meanwhile  # still the old key: one the bucket has
    assert ["feed#sig-2", "feed#enc-2", "feed#sig", "feed#enc"] == shared_meanwhile
    assert rotated.to_jwks(private=False) == bucket.keys_of("feed")
    assert rotated.to_jwks(private=True) == load_or_create_partner_keys(tmp_path, "feed").to_jwks(
        private=True
    )
    assert not next_keys_path(tmp_path, "feed").exists()


async def _ready(value: Any) -> Any:
    return value


def test_a_client_without_the_shared_keys_reads_the_data_dirs_and_says_so_once(
    tmp_path: Path,
) -> None:
    kluis = load_or_create_partner_keys(tmp_path, "kluis")
    source = SignerKeySource(None, "kluis", tmp_path)

    with capture_logs() as logs:
        found = [asyncio.run(source.get()) for _ in range(3)]

    assert [kluis.public().to_jwks(private=False)] * 3 == [
        k.to_jwks(private=False) for k in found if k is not None
    ]
    assert [{"signer": "kluis", "fallback": "data-dir"}] == [
        {k: e[k] for k in ("signer", "fallback")}
        for e in logs
        if e["event"] == "signer_keys_not_shared"
    ]

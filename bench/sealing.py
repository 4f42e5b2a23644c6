"""Sealing cost: seals and opens per second of a small section, on one core.

Run: `.venv/bin/python -m bench.sealing [N]` (part of `make bench`). Measures `seal` and
`open_section` from `ketenbus_contracts.sealing` (JWE dir/A256GCM with kid, eid and key
check value), the raw AES-GCM floor for the same bytes, and a key delivery (JWE
ECDH-ES+A256KW to X25519) as kluis does per released key. Then, on an embedded nats-server
in the same run: publishing signal events unsealed versus sealed (seal + publish), and
consuming them unsealed versus opened, as ratios: what sealing costs per event end to end.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    DataKey,
    PartnerKeys,
    deliver_key,
    make_kid,
    open_section,
    receive_key,
    seal,
)

SECTION = {
    "concern": "Zorgen over de ontwikkeling en de thuissituatie; afstemming met JGZ gewenst.",
    "notes": "Gesprek met ouders gepland; IB'er volgt op.",
}


def rate(label: str, n: int, work: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(n):
        work(i)
    elapsed = time.perf_counter() - start
    per_second = n / elapsed
    print(f"{label:<34} {per_second:>10,.0f}/s  {elapsed / n * 1e6:>8.1f} µs each")
    return per_second


def main(n: int = 20_000) -> None:
    key = os.urandom(32)
    kid = make_kid("a" * 32, Purpose.SIGNALLING, "bs-de-regenboog", 1)
    event_id = uuid.uuid4()
    token = seal(SECTION, key=key, kid=kid, event_id=event_id)
    print(f"section: {len(json.dumps(SECTION))} bytes clear, {len(token)} bytes sealed")
    rate("seal (joserfc)", n, lambda _: seal(SECTION, key=key, kid=kid, event_id=event_id))
    rate("open_section (joserfc)", n, lambda _: open_section(token, key=key, event_id=event_id))
    aead, nonce, plain = AESGCM(key), os.urandom(12), json.dumps(SECTION).encode()
    rate("raw AES-GCM encrypt (floor)", n, lambda _: aead.encrypt(nonce, plain, b"aad"))
    partner = PartnerKeys.generate("bs-de-regenboog")
    public = partner.public().encryption
    data_key = DataKey(kid, key)
    delivered = deliver_key(data_key, public)
    m = max(n // 10, 100)
    rate("deliver_key (ECDH-ES X25519)", m, lambda _: deliver_key(data_key, public))
    rate("receive_key (ECDH-ES X25519)", m, lambda _: receive_key(delivered, partner.encryption))


def publish_comparison(n: int = 5_000) -> None:
    """Unsealed vs sealed publish and consume of the same events, on one embedded server."""
    import asyncio
    import tempfile
    from datetime import date
    from pathlib import Path

    import nats

    from ketenbus_contracts.sealing import kid_of, seal_fields
    from ketenbus_contracts.signalling import (
        SignalDetails,
        Signaller,
        SignalRegistered,
        SignalRegisteredData,
    )
    from services.runtime.nats_server import EmbeddedNats

    signaller = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
    details = SignalDetails(concern=["taalontwikkeling"], notes=SECTION["notes"], name="N. N.")
    keys = {
        purpose: DataKey(make_kid("b" * 32, purpose, "bs-de-regenboog", 1), os.urandom(32))
        for purpose in (Purpose.SIGNALLING, Purpose.IDENTITY)
    }

    def event(sealed: bool) -> SignalRegistered:
        event_id = uuid.uuid4()
        data = SignalRegisteredData(
            signal_id=uuid.uuid4(),
            signaller=signaller,
            registered_on=date(2026, 11, 1),
            age_band="4-11",
            planned_removal_on=date(2028, 11, 1),
            sealed=seal_fields(details, event_id=event_id, key_for=keys.__getitem__)
            if sealed
            else {},
        )
        return SignalRegistered.create(
            id=event_id, source=signaller.partner, subject="b" * 32, data=data
        )

    async def run(url: str) -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(name="BENCH", subjects=["bench.>"])
        by_kid = {key.kid: key.key for key in keys.values()}
        results = {}
        for label, sealed in (("unsealed", False), ("sealed", True)):
            subject = f"bench.{label}"
            start = time.perf_counter()
            acks = [await js.publish_async(subject, event(sealed).to_bytes()) for _ in range(n)]
            await asyncio.gather(*acks)
            published = time.perf_counter() - start
            sub = await js.pull_subscribe(subject, durable=f"c-{label}", stream="BENCH")
            start, seen = time.perf_counter(), 0
            while seen < n:
                for msg in await sub.fetch(500, timeout=5):
                    received = SignalRegistered.model_validate_json(msg.data)
                    for token in received.data.sealed.values():
                        key = by_kid[kid_of(token)]
                        open_section(token, key=key, event_id=received.id)
                    seen += 1
                    await msg.ack()
            consumed = time.perf_counter() - start
            results[label] = (n / published, n / consumed)
        await nc.close()
        (pub_u, con_u), (pub_s, con_s) = results["unsealed"], results["sealed"]
        print(f"\npublish, {n} signal events (build + publish_async + acks):")
        print(
            f"  unsealed {pub_u:>9,.0f}/s   sealed (2 sections) {pub_s:>9,.0f}/s   "
            f"ratio sealed/unsealed {pub_s / pub_u:.2f}"
        )
        print("consume (fetch + validate + open every section + ack):")
        print(
            f"  unsealed {con_u:>9,.0f}/s   opened              {con_s:>9,.0f}/s   "
            f"ratio opened/unsealed {con_s / con_u:.2f}"
        )

    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp)) as server:
        asyncio.run(run(server.url))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
    publish_comparison()

"""Sealing cost: seals and opens per second of a small section, on one core.

Run: `.venv/bin/python -m bench.sealing [N]`. Measures `seal` and `open_section` from
`ketenbus_contracts.sealing` (JWE dir/A256GCM with kid, eid and key check value), the
raw AES-GCM floor for the same bytes, and a key delivery (JWE ECDH-ES+A256KW to X25519) as kluis
does per released key.
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
    kid = make_kid("a" * 32, Purpose.SIGNALLING, 1)
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)

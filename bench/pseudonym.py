"""bench: what a pseudonym costs a partner, beside a raw nats-py request/reply of the same size.

Run: `.venv/bin/python -m bench.pseudonym [--requests N] [--batch N]` (part of `make bench`).
Starts an embedded nats-server and the pseudonym service (SQLite) in a temporary data dir and
measures, one request at a time:

- raw request/reply: a nats-py responder in the bench process answering a payload of the size a
  pseudonym answer has, asked with a request of the size a signed, sealed request has (the floor:
  NATS round trip and copying the bytes);
- one pseudonym (`PseudonymClient.child`): sign (Ed25519), seal the BSN (ECDH-ES+A256KW), the
  service verifies, opens, checks the rate limit, HMACs, records the call (an event in its store)
  and answers;
- a batch of `--batch` BSNs in one request (what an EDEXML import sends), and the whole EDEXML
  file of 2,000 pupils (a pupil-key and a BSN pseudonym each: 4,000 identifiers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from bench.edexml import school_of, valid_bsn

ONE_PARTNER = "bs-de-regenboog"  # a school: the largest burst (infra/pseudonym/policy.yaml)
# One batch each, so no round is refused by a partner's limit (infra/pseudonym/policy.yaml).
BATCH_PARTNERS = (
    "jgz-gelderland-zuid",
    "kdv-het-speelhuis",
    "wijkteam-lingewaard",
    "leerplicht-lingewaard",
    "swv-lingewaard",
)
IMPORT_PARTNER = "vo-het-lyceum"


async def timed(label: str, n: int, work: Callable[[int], Awaitable[object]]) -> float:
    """Run `work` n times, one after the other; print and return the median in ms."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        await work(i)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    p99 = sorted(times)[max(int(len(times) * 0.99) - 1, 0)]
    print(f"{label:<52} median {median:8.2f} ms  p99 {p99:8.2f} ms  (n={n})")
    return median


async def raw_baseline(nc: NatsClient, request_bytes: int, reply_bytes: int, n: int) -> float:
    """A raw nats-py request/reply with payloads of the given sizes."""
    reply = b"x" * reply_bytes
    subject = f"bench.raw.{request_bytes}"

    async def answer(msg: object) -> None:
        await msg.respond(reply)  # type: ignore[attr-defined]

    sub = await nc.subscribe(subject, queue="bench", cb=answer)
    body = b"x" * request_bytes
    try:
        return await timed(
            f"raw request/reply {request_bytes} B -> {reply_bytes} B",
            n,
            lambda _: nc.request(subject, body, timeout=30),
        )
    finally:
        await sub.unsubscribe()


async def measure(url: str, data_dir: Path, requests: int, batch: int, tmp: Path) -> None:
    from adapters.edexml.importer import pseudonyms_needed
    from adapters.edexml.schema import validate
    from ketenbus_contracts.pseudonym import (
        PSEUDONYM_REQUEST_TYP,
        ChildBsn,
        PseudonymRequest,
        identifiers_of,
    )
    from ketenbus_contracts.sealing import encrypt_to, sign_request
    from ketenbus_partner.pseudonyms import PseudonymClient

    nc = await nats.connect(url)
    try:
        one = PseudonymClient.for_partner(data_dir, ONE_PARTNER, nc, timeout=30)
        await one.child(valid_bsn(0))  # the service is up and its key published
        service_key = await one.service_key()

        def request_size(identifiers: list[ChildBsn]) -> int:
            sealed = encrypt_to(identifiers_of(identifiers), service_key)
            body = PseudonymRequest(partner=ONE_PARTNER, count=len(identifiers), identifiers=sealed)
            return len(sign_request(body, one.keys.signing, typ=PSEUDONYM_REQUEST_TYP))

        single = request_size([ChildBsn(bsn=valid_bsn(1))])
        many = [ChildBsn(bsn=valid_bsn(n)) for n in range(batch)]
        raw_one = await raw_baseline(nc, single, 120, requests)
        ours_one = await timed(
            "pseudonym: one BSN", requests, lambda i: one.child(valid_bsn(i + 1))
        )
        rounds = len(BATCH_PARTNERS)
        raw_batch = await raw_baseline(nc, request_size(many), 60 * batch, rounds)
        batchers = [
            PseudonymClient.for_partner(data_dir, partner, nc, timeout=60)
            for partner in BATCH_PARTNERS
        ]
        ours_batch = await timed(
            f"pseudonym: batch of {batch} BSNs (one request)",
            rounds,
            lambda r: batchers[r].ask(
                [ChildBsn(bsn=valid_bsn(r * batch + n)) for n in range(batch)]
            ),
        )
        _, tree = validate(school_of(2000, tmp / "school.xml"))
        needed = pseudonyms_needed(tree.getroot())
        importer = PseudonymClient.for_partner(data_dir, IMPORT_PARTNER, nc, timeout=60)
        # the lyceum asks under its own BRIN: the file's pupil keys are re-homed to it
        asked = [i.model_copy(update={"brin": "99YY"}) if i.kind == "pupil" else i for i in needed]
        ours_import = await timed(
            f"pseudonym: EDEXML of 2000 pupils ({len(asked)} identifiers)",
            1,
            lambda _: importer.resolve(asked),
        )
        print(
            f"one pseudonym {ours_one:.2f} ms = {ours_one / raw_one:.1f}x a raw request/reply "
            f"of its size ({raw_one:.2f} ms); a batch of {batch}: {ours_batch:.0f} ms = "
            f"{1000 * ours_batch / batch:.0f} µs per BSN, {ours_batch / raw_batch:.1f}x raw "
            f"({raw_batch:.1f} ms); a 2,000-pupil EDEXML file's pseudonyms: {ours_import:.0f} ms"
        )
    finally:
        await nc.close()


def main() -> None:
    from services.runtime.nats_server import EmbeddedNats
    from services.runtime.settings import Settings
    from services.runtime.supervisor import Backbone

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-pseudonym-"))
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        settings = Settings(data_dir=tmp / "data", store="sqlite", nats_url=url)
        with Backbone(settings, ["pseudonym"]):
            asyncio.run(measure(url, settings.data_dir, args.requests, args.batch, tmp))
    finally:
        server.stop()


if __name__ == "__main__":
    main()

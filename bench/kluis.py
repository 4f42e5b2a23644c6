"""bench: what a key release costs with the relation rules, beside the old check and raw NATS.

Run: `.venv/bin/python -m bench.kluis [--requests N]` (part of `make bench`). Two figures:

- **the decision alone**, in process: the old rule (the role may hold the purpose and the
  partner has *any* active relation with the child: `ChildRelations.has_active`) beside the new
  one (`decide` with the relation rules: the relation's basis must open this scope), for a child
  with 3 and with 60 relations;
- **a key release over NATS**: an embedded nats-server, kluis's `answer` (verify the Ed25519
  request, decide, unwrap the data key, seal it to the requester's X25519 key, write the
  processing record to SQLite) behind a nats-py responder in this process, asked by a partner's
  `Keyring` with its cache off; beside a raw nats-py request/reply of the same sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

CHILD = "k" * 32
SCHOOL = "vo-het-lyceum"


def per_call(label: str, n: int, work: Callable[[], object]) -> float:
    """Microseconds per call of `work`, over n calls."""
    start = time.perf_counter()
    for _ in range(n):
        work()
    each = (time.perf_counter() - start) / n * 1e6
    print(f"{label:<58} {each:8.2f} µs")
    return each


async def timed(label: str, n: int, work: Callable[[int], Awaitable[object]]) -> float:
    """Run `work` n times, one after the other; print and return the median in ms."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        await work(i)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    p99 = sorted(times)[max(int(len(times) * 0.99) - 1, 0)]
    print(f"{label:<58} median {median:7.2f} ms  p99 {p99:7.2f} ms  (n={n})")
    return median


def decisions(n: int) -> None:
    for size in (3, 60):
        compare_decisions(n, size)


def compare_decisions(n: int, size: int) -> None:
    """The old rule beside the relation rules, for a child with `size` relations."""
    from ketenbus_contracts.purposes import Purpose
    from services.kluis.domain import ChildRelations, Operation, decide
    from services.policy.loading import load_register, load_relations

    register, rules = load_register(), load_relations()
    now = datetime.now(UTC)
    relations = ChildRelations(CHILD)
    relations.add(SCHOOL, "signal", "own-signal", now)
    for i in range(size - 1):
        relations.add(f"partner-{i}", "signal", f"signal-{i}", now)
    facts = relations.relations.values()
    activity = register.activity(Purpose.SIGNALLING)

    def old() -> bool:
        return "school" in activity.holder_roles and relations.has_active(SCHOOL)

    def new() -> bool:
        return decide(
            register,
            rules,
            operation=Operation.RELEASE,
            partner=SCHOOL,
            role="school",
            purpose=Purpose.SIGNALLING,
            scope=SCHOOL,
            relations=facts,
            erased=False,
            now=now,
        ).released

    before = per_call(f"decision, old rule (any relation), {size} relations", n, old)
    after = per_call(f"decision, relation rules (basis opens scope), {size} relations", n, new)
    print(f"  the rules cost {after - before:.2f} µs more per decision ({after / before:.1f}x)")


async def raw_baseline(nc: NatsClient, request_bytes: int, reply_bytes: int, n: int) -> float:
    reply = b"x" * reply_bytes
    subject = "bench.raw.kluis"

    async def answer(msg: object) -> None:
        await msg.respond(reply)  # type: ignore[attr-defined]

    sub = await nc.subscribe(subject, cb=answer)
    body = b"x" * request_bytes
    try:
        return await timed(
            f"raw request/reply {request_bytes} B -> {reply_bytes} B",
            n,
            lambda _: nc.request(subject, body, timeout=30),
        )
    finally:
        await sub.unsubscribe()


async def releases(url: str, data_dir: Path, n: int) -> None:
    from ketenbus_contracts.purposes import Purpose
    from ketenbus_contracts.sealing import (
        KLUIS_KEY_SUBJECT,
        KeyRequest,
        PartnerKeys,
        sign_request,
    )
    from ketenbus_partner.keyring import Keyring
    from services.kluis.application import KluisApplication
    from services.kluis.keystore import Keystore, StaticMasterKey
    from services.policy.loading import load_register, load_relations
    from services.runtime.partners import PartnerEntry, PartnerRegistry

    partner = PartnerKeys.generate(SCHOOL)
    entry = PartnerEntry(
        id=SCHOOL,
        name=SCHOOL,
        role="school",
        keys="inline",
        public_jwks=partner.to_jwks(private=False),
    )
    app = KluisApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        register=load_register(),
        rules=load_relations(),
        directory=PartnerRegistry([entry], data_dir=data_dir),
        keystore=Keystore.sqlite(data_dir / "kluis-keys.sqlite", StaticMasterKey(os.urandom(32))),
        own_keys=PartnerKeys.generate("kluis"),
    )
    app.add_relation(CHILD, SCHOOL, basis="signal", basis_id=str(uuid.uuid4()))
    nc = await nats.connect(url)

    async def answer(msg: object) -> None:
        reply = app.answer(msg.data)  # type: ignore[attr-defined]
        await msg.respond(reply.model_dump_json().encode())  # type: ignore[attr-defined]

    sub = await nc.subscribe(KLUIS_KEY_SUBJECT, cb=answer)
    try:
        keyring = Keyring(partner, nc, ttl=0.0, refusal_ttl=0.0, timeout=30)
        await keyring.sealing_key(CHILD, Purpose.SIGNALLING)  # the key exists
        request = KeyRequest(partner=SCHOOL, child=CHILD, purpose=Purpose.SIGNALLING, scope=SCHOOL)
        request_bytes = len(sign_request(request, partner.signing))
        reply_bytes = len(app.answer(sign_request(request, partner.signing)).model_dump_json())
        raw = await raw_baseline(nc, request_bytes, reply_bytes, n)
        ours = await timed(
            "key release (Keyring -> kluis answer, cache off)",
            n,
            lambda _: keyring.sealing_key(CHILD, Purpose.SIGNALLING),
        )
        print(
            f"one key release {ours:.2f} ms = {ours / raw:.1f}x a raw request/reply of its "
            f"size ({raw:.2f} ms)"
        )
    finally:
        await sub.unsubscribe()
        await nc.close()
        app.close()


def main() -> None:
    from services.runtime.nats_server import EmbeddedNats

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    decisions(args.decisions)
    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-kluis-"))
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        asyncio.run(releases(url, tmp, args.requests))
    finally:
        server.stop()


if __name__ == "__main__":
    main()

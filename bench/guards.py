"""What the inbound guards cost per event: `admit` against the decoder alone, in process.

Run: `.venv/bin/python -m bench.guards [--events N] [--rounds R] [--json]` (default 2,000 events,
6 rounds). The same signed `SignalRegistered` payloads the slice bench publishes (one with a
4 kB sealed section beside the plain one), through the signalling service's decoder (signature
verified against the school's key, then the contract, then the sealed sections' headers):

- **decode** = the decoder alone, as services ran it before the guards;
- **admit** = `services.runtime.inbound.admit` around the same decoder (size, UTF-8 and depth
  checked before parsing, every exception turned into a refusal): what services run now;
- **pre-parse checks** = the size, UTF-8 and depth checks alone;
- **sections** = `check_sealed` alone on the decoded events (part of decode: each section's
  header read and checked, never opened);
- **refusing** = the time to refuse one bad message: the issue's poison (400 kB, `too-large`),
  the same nesting within the size limit (`too-deep`), 256 kB of shallow brackets (passes the
  depth check, refused by the contract) and invalid UTF-8.

Per event = process CPU time of a round ÷ events; the median of the rounds, decode and admit
taking turns in each round in alternating order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from ketenbus_contracts.envelope import check_depth
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import PartnerKeys, check_sealed, make_kid, seal
from ketenbus_contracts.signalling import Signaller, SignalRegistered, SignalRegisteredData
from ketenbus_contracts.signing import sign_event
from services.runtime.inbound import Limits, admit
from services.runtime.settings import Settings
from services.runtime.signatures import verifying
from services.signalling.handlers import decode_inbound

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
DATA_KEY = bytes(32)  # nobody opens the sections: admission reads their headers only


def payloads(count: int, keys: PartnerKeys, sealed_bytes: int) -> list[bytes]:
    """`count` signed signals about distinct children, with a sealed section of about that
    size (sealed for real, bound to its event and child: admission checks its header)."""
    out = []
    for n in range(count):
        kid = "".join(ALPHABET[(n >> (5 * i)) % 32] for i in range(32))
        event_id = uuid.uuid4()
        sealed = {}
        if sealed_bytes:
            # base64url of the ciphertext: 4/3 of the notes
            notes = {"notes": "e" * (sealed_bytes * 3 // 4 - 200)}
            key_id = make_kid(kid, Purpose.SIGNALLING, SCHOOL.partner, 1)
            sealed[Purpose.SIGNALLING] = seal(notes, key=DATA_KEY, kid=key_id, event_id=event_id)
        event = SignalRegistered.create(
            id=event_id,
            source=SCHOOL.partner,
            subject=kid,
            data=SignalRegisteredData(
                signal_id=uuid.uuid4(),
                signaller=SCHOOL,
                registered_on=date(2026, 11, 1),
                age_band="4-11",
                planned_removal_on=date(2028, 11, 1),
                sealed=sealed,
            ),
        )
        out.append(sign_event(event, keys).to_bytes())
    return out


def per_event_us(work: Callable[[bytes], Any], raws: list[bytes], rounds: int) -> float:
    """Median over `rounds` of process CPU time per message, in microseconds."""
    return paired([work], raws, rounds)[0]


def paired(works: list[Callable[[bytes], Any]], raws: list[bytes], rounds: int) -> list[float]:
    """Per work, the median over `rounds` of process CPU time per message (µs); the works take
    turns within each round, in alternating order (A B, B A, …), so a busy machine's drift
    falls on each alike."""
    times: list[list[float]] = [[] for _ in works]
    for round_no in range(rounds):
        order = range(len(works)) if round_no % 2 == 0 else reversed(range(len(works)))
        for index in order:
            start = time.process_time()
            for raw in raws:
                works[index](raw)
            times[index].append((time.process_time() - start) / len(raws))
    return [statistics.median(t) * 1e6 for t in times]


def run(events: int, rounds: int) -> dict[str, Any]:
    keys = PartnerKeys.generate(SCHOOL.partner)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        decode = verifying(decode_inbound, settings, public_keys={SCHOOL.partner: keys.public()})
        limits = Limits.of(settings)

        def pre_parse(raw: bytes) -> None:
            if len(raw) <= limits.max_bytes:
                raw.decode("utf-8")
                check_depth(raw, limits.max_depth)

        rows = []
        for sealed_bytes in (0, 4096):
            raws = payloads(events, keys, sealed_bytes)
            assert all(admit(raw, decode, limits).accepted for raw in raws)
            decoded, admitted = paired(
                [decode, lambda raw: admit(raw, decode, limits)], raws, rounds
            )
            checks = per_event_us(pre_parse, raws, rounds)
            parsed = [decode(raw) for raw in raws]
            sections = paired([check_sealed], parsed, rounds)[0]  # type: ignore[list-item]
            rows.append(
                {
                    "payload_bytes": round(statistics.mean(len(r) for r in raws)),
                    "decode_us": round(decoded, 1),
                    "admit_us": round(admitted, 1),
                    "pre_parse_us": round(checks, 2),
                    "guard_share_pct": round(100 * (admitted - decoded) / decoded, 1),
                    "pre_parse_share_pct": round(100 * checks / decoded, 2),
                    "sections_us": round(sections, 2),
                    "sections_share_pct": round(100 * sections / decoded, 2),
                }
            )
        bad = {
            "poison 400 kB (too-large)": b"[" * 200_000 + b"]" * 200_000,
            "nesting 200 kB (too-deep)": b"[" * 100_000 + b"]" * 100_000,
            "shallow brackets 256 kB (invalid-event)": b"[" + b"[]," * 87_000 + b"[]]",
            "invalid UTF-8 (invalid-utf8)": raws[0].replace(b'"ib"', b'"\xff"'),
        }
        refusing = {}
        for name, raw in bad.items():
            admission = admit(raw, decode, limits)
            assert admission.refusal is not None
            repeat = [raw] * 20
            refusing[name] = {
                "code": admission.refusal.code,
                "us": round(per_event_us(lambda r: admit(r, decode, limits), repeat, rounds), 1),
            }
    return {"events": events, "rounds": rounds, "accepted": rows, "refusing": refusing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.events, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"inbound guards, {result['events']} signed events, median of {args.rounds} rounds")
    print(
        "payload  decode µs  admit µs  guards +%  pre-parse µs  pre-parse %  sections µs  "
        "sections %"
    )
    for row in result["accepted"]:
        print(
            f"{row['payload_bytes']:>6} B {row['decode_us']:>10} {row['admit_us']:>9} "
            f"{row['guard_share_pct']:>10} {row['pre_parse_us']:>13} "
            f"{row['pre_parse_share_pct']:>12} {row['sections_us']:>12} "
            f"{row['sections_share_pct']:>10}"
        )
    print("refusing one bad message:")
    for name, row in result["refusing"].items():
        print(f"  {name:<42} {row['code']:<14} {row['us']:>9} µs")


if __name__ == "__main__":
    main()

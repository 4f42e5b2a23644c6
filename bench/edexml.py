"""bench: the EDEXML import of a 2,000-pupil school, planned and published, timed.

Run: `.venv/bin/python -m bench.edexml [--pupils N] [--plan-only]` (embedded nats-server with
kluis and the pseudonym service, SQLite). The file is made from the official sample
(`adapters/edexml/samples`): its second pupil (the one with a BSN) repeated with a fresh key and
a valid BSN each time. Prints the time to plan (parse, validate once, one pseudonym request for
the file), to publish the enrolments (the identities sealed by kluis in batches, signed,
published with pipelined acks) and their sum, the import; for comparison as many de-enrolments
(signed and published, nothing sealed: no kluis) and the raw floor, nats-py `publish_async` of
as many payloads of an enrolment's size, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from lxml import etree

from adapters.edexml.importer import ImportPlan
from adapters.edexml.reader import SAMPLE
from ketenbus_contracts.pseudonym import SecretPseudonymiser, is_valid_bsn

SCHOOL = "bs-de-regenboog"


def valid_bsn(n: int) -> str:
    """The n-th nine-digit number from 100,000,000 on that passes the eleven-check."""
    base = 100_000_000 + n * 12
    while not is_valid_bsn(f"{base:09d}"):
        base += 1
    return f"{base:09d}"


def school_of(pupils: int, path: Path) -> Path:
    """An EDEXML 2.1 file with `pupils` pupils, all valid, written to `path`."""
    root = etree.parse(str(SAMPLE)).getroot()
    leerlingen = root.find("leerlingen")
    assert leerlingen is not None
    template = next(p for p in leerlingen if p.find("bsn") is not None)
    for pupil in list(leerlingen):
        leerlingen.remove(pupil)
    for n in range(pupils):
        pupil = copy.deepcopy(template)
        pupil.set("key", f"P{n:06d}")
        bsn = pupil.find("bsn")
        assert bsn is not None
        bsn.text = valid_bsn(n)
        leerlingen.append(pupil)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


async def _raw_publishes(url: str, count: int, size: int) -> float:
    """The floor: raw nats-py `publish_async` of `count` payloads of `size` bytes to a stream
    of their own, every ack awaited; seconds."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="BENCH_RAW_EDEXML", subjects=["bench.raw.edexml"])
        payload = b"x" * size
        t0 = time.perf_counter()
        acks = [await js.publish_async("bench.raw.edexml", payload) for _ in range(count)]
        await asyncio.gather(*acks)
        return time.perf_counter() - t0
    finally:
        await nc.close()


def _run(pupils: int, plan_only: bool) -> None:
    from adapters.edexml.importer import plan_import, pseudonyms_needed
    from adapters.edexml.schema import validate
    from adapters.school_imports import publish_edexml
    from services.policy.regions import load_regions, school_region
    from services.runtime.nats_auth import partner_credentials
    from services.runtime.nats_server import EmbeddedNats
    from services.runtime.partner import resolve_as
    from services.runtime.settings import Settings
    from services.runtime.supervisor import Backbone

    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-edexml-"))
    path = school_of(pupils, tmp / "school.xml")
    if plan_only:
        # With the secret in hand: parsing, validating and planning alone.
        t0 = time.perf_counter()
        plan = plan_import(path, SecretPseudonymiser(b"bench-pseudonym-secret-32-bytes!"), {})
        planned = time.perf_counter() - t0
        print(
            f"EDEXML {pupils} pupils ({path.stat().st_size} B): plan {planned:.2f}s"
            f" ({len(plan.enrolments)} enrolments, {len(plan.quarantined)} quarantined)"
        )
        return
    rules = school_region(load_regions(), SCHOOL)
    assert rules is not None
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        settings = Settings(data_dir=tmp / "data", store="sqlite", nats_url=url)
        with Backbone(settings, ["kluis", "pseudonym"]):
            # What `ketenbus import edexml` does: validate once, one pseudonym request for the
            # file, plan, then seal (kluis batches) and publish (pipelined acks).
            t0 = time.perf_counter()
            version, tree = validate(path)
            asked = pseudonyms_needed(tree.getroot())
            pseudonyms = asyncio.run(resolve_as(settings, url, SCHOOL, asked))
            plan = plan_import(path, pseudonyms, {}, validated=(version, tree))
            planned = time.perf_counter() - t0
            t1 = time.perf_counter()
            published = asyncio.run(
                publish_edexml(
                    url,
                    settings.data_dir,
                    SCHOOL,
                    rules,
                    plan,
                    credentials=partner_credentials(settings, SCHOOL),
                )
            )
            enrolled = time.perf_counter() - t1
            # The same pupils leaving: signed and published, nothing sealed (no kluis).
            leaving = replace(
                plan, enrolments=[], de_enrolments=[e.pseudonym for e in plan.enrolments]
            )
            t2 = time.perf_counter()
            asyncio.run(
                publish_edexml(
                    url,
                    settings.data_dir,
                    SCHOOL,
                    rules,
                    leaving,
                    credentials=partner_credentials(settings, SCHOOL),
                )
            )
            left = time.perf_counter() - t2
            size = _enrolment_size(tmp / "data", plan)
            raw = asyncio.run(_raw_publishes(url, published.published, size))
        total = planned + enrolled
        print(
            f"EDEXML {pupils} pupils ({path.stat().st_size} B): plan {planned:.2f}s (validated "
            f"once, {len(asked)} identifiers in one pseudonym request); publish {enrolled:.2f}s "
            f"({published.published} enrolments, {len(published.refused)} refused, "
            f"{1000 * enrolled / max(published.published, 1):.2f} ms each: identities sealed by "
            f"kluis in batches); import {total:.2f}s"
        )
        print(
            f"EDEXML {pupils} pupils: {pupils} de-enrolments (signed, nothing sealed) {left:.2f}s; "
            f"raw nats-py publish_async of {published.published} x {size} B {raw:.3f}s; "
            f"import / raw {total / raw:.1f}"
        )
    finally:
        server.stop()


def _enrolment_size(data_dir: Path, plan: ImportPlan) -> int:
    """The bytes of one signed enrolment as published (identity sealed with a fresh key)."""
    import os
    import uuid

    from ketenbus_contracts.sealing import seal, sections_of
    from ketenbus_contracts.truancy import PupilEnrolled, PupilEnrolledData
    from ketenbus_partner.keys import load_or_create_partner_keys
    from ketenbus_partner.publish import signed_message

    enrolment = plan.enrolments[0]
    event_id = uuid.uuid4()
    sealed = {
        purpose: seal(
            section,
            key=os.urandom(32),
            kid=f"{enrolment.pseudonym}/{purpose.value}/{SCHOOL}/1",
            event_id=event_id,
        )
        for purpose, section in sections_of(enrolment.identity).items()
    }
    data = PupilEnrolledData(
        school=SCHOOL, brin=plan.header.brin, region="bench", enrolled_on=plan.day, sealed=sealed
    )
    event = PupilEnrolled.create(
        id=event_id, source=SCHOOL, subject=enrolment.pseudonym, data=data, purposes=sorted(sealed)
    )
    return len(signed_message(event, load_or_create_partner_keys(data_dir, SCHOOL)).payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--plan-only", action="store_true")
    args = parser.parse_args()
    _run(args.pupils, args.plan_only)


if __name__ == "__main__":
    main()

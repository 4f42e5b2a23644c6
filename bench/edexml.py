"""bench: the EDEXML import of a 2,000-pupil school, planned and published, timed.

Run: `.venv/bin/python -m bench.edexml [--pupils N] [--plan-only]` (embedded nats-server with
kluis, SQLite). The file is made from the official sample (`adapters/edexml/samples`): its
second pupil (the one with a BSN) repeated with a fresh key and a valid BSN each time. Prints
the time to plan (parse, validate once, pseudonymise), to publish the enrolments (each pupil's
identity sealed through kluis, signed, published) and, for comparison, to publish as many
de-enrolments (signed and published, nothing sealed: no kluis).
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

from adapters.edexml.reader import SAMPLE
from ketenbus_contracts.pseudonym import SecretPseudonymiser, is_valid_bsn


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


def _run(pupils: int, plan_only: bool) -> None:
    from adapters.edexml.importer import plan_import
    from services.runtime.nats_server import EmbeddedNats
    from services.runtime.settings import Settings
    from services.runtime.supervisor import Backbone
    from services.truancy.imports import publish_edexml
    from services.truancy.rules import load_regions, school_region

    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-edexml-"))
    path = school_of(pupils, tmp / "school.xml")
    # Planned with the secret in hand: what asking the pseudonym service for the file's 4,000
    # identifiers adds is measured by bench.pseudonym.
    pseudonyms = SecretPseudonymiser(b"bench-pseudonym-secret-32-bytes!")
    t0 = time.perf_counter()
    plan = plan_import(path, pseudonyms, {})
    planned = time.perf_counter() - t0
    print(
        f"EDEXML {pupils} pupils ({path.stat().st_size} B): plan {planned:.2f}s "
        f"({len(plan.enrolments)} enrolments, {len(plan.quarantined)} quarantined)"
    )
    if plan_only:
        return
    rules = school_region(load_regions(), "bs-de-regenboog")
    assert rules is not None
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        settings = Settings(data_dir=tmp / "data", store="sqlite", nats_url=url)
        with Backbone(settings, ["kluis"]):
            t1 = time.perf_counter()
            published = asyncio.run(
                publish_edexml(
                    url, settings.data_dir, "bs-de-regenboog", rules, plan, settings=settings
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
                    url, settings.data_dir, "bs-de-regenboog", rules, leaving, settings=settings
                )
            )
            left = time.perf_counter() - t2
        print(
            f"EDEXML {pupils} pupils: publish {enrolled:.2f}s ({published} enrolments, "
            f"{1000 * enrolled / max(published, 1):.1f} ms each: identity sealed by kluis), "
            f"plan + publish {planned + enrolled:.2f}s; {pupils} de-enrolments (signed, nothing "
            f"sealed) {left:.2f}s"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--plan-only", action="store_true")
    args = parser.parse_args()
    _run(args.pupils, args.plan_only)


if __name__ == "__main__":
    main()

"""bench: one OSO dossier through the backbone (import → request → delivery → export), timed.

Run: `.venv/bin/python -m bench.handover` (embedded nats-server, SQLite; handover, kluis,
pseudonym and the feed the receiver reads the delivery from).
Prints per sample: import time (validation, the wait for the handover key, sealing, object
store), request → delivered, export, and the largest event on INBOUND and HANDOVER. It acts as
the two schools do, with the partner kit and the OSO adapter; nothing of the tests.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from adapters.intake import school_brin
from adapters.oso.dossier import SAMPLES
from adapters.oso.transfer import Imported, TransferError, export_oso, import_oso
from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.handover import (
    DossierDelivered,
    DossierReleased,
    DossierReleasedData,
    DossierRequested,
    DossierRequestedData,
    Enrolment,
    Organisation,
)
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import publish_signed
from services.policy.handover import load_disclosure_rules, load_rules
from services.runtime.nats_server import EmbeddedNats
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone

SAMPLE_FILES = (
    SAMPLES / "Voorbeelddossier_OV_POVO_full.xml",
    SAMPLES / "Voorbeelddossier_OV_POVO_opt_out.xml",
)
SENDER, RECEIVER = "bs-de-regenboog", "vo-het-lyceum"
DISCLOSURE, RULES = load_disclosure_rules(), load_rules()
T = TypeVar("T")


async def until(attempt: Callable[[], Awaitable[T | None]], what: str, timeout: float = 120.0) -> T:
    """Await `attempt()` until it gives something (None: not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await attempt()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen in time")
        await asyncio.sleep(0.05)


async def sample(nc: NatsClient, data_dir: Path, name: str, raw: bytes) -> str:
    today = datetime.now(UTC).date()
    own_brin = f"<brincode>{school_brin(SENDER)}</brincode>".encode()
    dossier = raw.replace(b"<brincode>00YY</brincode>", own_brin, 1)
    sender = Keyring.for_partner(data_dir, SENDER, nc, refusal_ttl=0)
    t0 = time.perf_counter()
    done: Imported = await import_oso(
        nc, sender, dossier,
        pseudonyms=PseudonymClient.for_partner(data_dir, SENDER, nc),
        disclosure=DISCLOSURE, rules=RULES, contact="ib-er groep 8",
        planned_on=today + timedelta(days=30), swv="swv-po-lingewaard",
    )  # fmt: skip
    t1 = time.perf_counter()
    js = nc.jetstream()
    requested = DossierRequested.create(
        source=RECEIVER,
        subject=done.child,
        data=DossierRequestedData(
            handover_id=done.handover_id,
            receiver=Organisation(partner=RECEIVER, contact="zorgcoordinator"),
            enrolment=Enrolment(partner=RECEIVER, enrolled_on=today),
            requested_on=today,
        ),
    )
    released = DossierReleased.create(
        source=SENDER,
        subject=done.child,
        data=DossierReleasedData(
            handover_id=done.handover_id, released_on=today, parents_copy_on=today
        ),
    )
    await publish_signed(js, requested, load_or_create_partner_keys(data_dir, RECEIVER))
    await publish_signed(js, released, load_or_create_partner_keys(data_dir, SENDER))
    await until(lambda: delivered(nc, done.handover_id), "the delivery")
    t2 = time.perf_counter()
    receiver = Keyring.for_partner(data_dir, RECEIVER, nc, refusal_ttl=0)

    async def export() -> bytes | None:
        # Once kluis has the relation the delivery gives the receiver.
        try:
            xml: bytes = await export_oso(
                nc, receiver, done.handover_id, disclosure=DISCLOSURE, rules=RULES
            )
        except TransferError:
            return None
        return xml

    xml = await until(export, "the receiver's export")
    t3 = time.perf_counter()
    inbound, handover = await largest(nc, "INBOUND"), await largest(nc, "HANDOVER")
    return (
        f"{name}: file {len(raw)} B; import {t1 - t0:.2f}s, "
        f"request→delivered {t2 - t1:.2f}s, export {t3 - t2:.2f}s; largest event "
        f"INBOUND {inbound} B, HANDOVER {handover} B; exported {len(xml)} B"
    )


async def delivered(nc: NatsClient, handover_id: uuid.UUID) -> DossierDelivered | None:
    try:
        msg = await nc.jetstream().get_last_msg("HANDOVER", DossierDelivered.outbound_subject())
    except NotFoundError:
        return None
    event = parse_event(msg.data or b"")
    if isinstance(event, DossierDelivered) and event.data.handover_id == handover_id:
        return event
    return None


async def largest(nc: NatsClient, stream: str) -> int:
    """The size of the largest message on `stream`."""
    js = nc.jetstream()
    state = (await js.stream_info(stream)).state
    sizes = [
        len((await js.get_msg(stream, seq)).data or b"") for seq in range(1, state.last_seq + 1)
    ]
    return max(sizes, default=0)


async def run(url: str, data_dir: Path) -> None:
    nc = await nats.connect(url)
    try:
        for path in SAMPLE_FILES:
            print(await sample(nc, data_dir, path.name, path.read_bytes()))
    finally:
        await nc.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-handover-"))
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        settings = Settings(data_dir=tmp / "data", store="sqlite", nats_url=url)
        with Backbone(settings, ["handover", "kluis", "pseudonym", "feed"]):
            asyncio.run(run(url, settings.data_dir))
    finally:
        server.stop()


if __name__ == "__main__":
    main()

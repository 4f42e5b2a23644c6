"""The reference partner: what `ketenbus conformance` asks of a partner's system, done with the
kit, step by step as docs/partners.md tells it.

    python -m ketenbus_partner.reference [--keys PRIVATE_JWKS] [--data-dir DIR]

reads the task file named by `KETENBUS_CONFORMANCE` (JSON: `nats_url`, `partner`, the public
keys of kluis and the pseudonym service, and the signal to register), connects as the partner,
gets the child's pseudonym, seals the concern and the identity (as a first signaller: kluis
refuses the key, so kluis seals), signs, publishes, and reads its feed until the receipt of its
event came, then asks the child's plan (a signed plan query on `ketenbus.query.plan`), opens
its sections with keys from kluis and writes the plan as opened to the task's `plan.opened`. Its
private keys come from a JWK Set file (`--keys`) or a data directory
(`--data-dir`, `KETENBUS_DATA_DIR`: made on first use, `ketenbus_partner.keys`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import (
    SignalDetails,
    Signaller,
    SignalRegistered,
    SignalRegisteredData,
)
from ketenbus_partner.connect import connect_partner
from ketenbus_partner.feed import read_feed
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import open_plan, query_plan
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import publish_signed

TASK_VARIABLE = "KETENBUS_CONFORMANCE"
RECEIPT_WAIT = 30.0


def load_task(path: str | None = None) -> dict[str, Any]:
    """The task file `ketenbus conformance` wrote (its path in `KETENBUS_CONFORMANCE`)."""
    named = path or os.environ.get(TASK_VARIABLE)
    if not named:
        raise SystemExit(f"{TASK_VARIABLE} names no task file")
    task: dict[str, Any] = json.loads(Path(named).read_text(encoding="utf-8"))
    return task


def service_key(task: dict[str, Any], service: str) -> OKPKey:
    """A backbone service's public X25519 key as the task hands it."""
    return OKPKey.import_key(task["keys"][service])


async def build_signal(task: dict[str, Any], keys: PartnerKeys, nc: NatsClient) -> SignalRegistered:
    """The task's signal-registered, its sections sealed, not yet signed: the pseudonym from the
    pseudonym service, the sections sealed through kluis."""
    signal = task["signal"]
    pseudonyms = PseudonymClient(keys, nc, service_key=service_key(task, "pseudonym"))
    child = await pseudonyms.child(signal["bsn"])
    keyring = Keyring(keys, nc, kluis_key=service_key(task, "kluis"))
    event_id = uuid.uuid4()
    details = SignalDetails(concern=signal["concern"], notes=signal["notes"], bsn=signal["bsn"])
    sealed = await keyring.seal(details, child=child, event_id=event_id)
    return SignalRegistered.create(
        id=event_id,
        source=keys.partner,
        subject=child,
        purposes=sorted(sealed),
        data=SignalRegisteredData(
            sealed=sealed,
            signal_id=uuid.uuid4(),
            signaller=Signaller(
                partner=keys.partner, role=signal["role"], contact=signal["contact"]
            ),
            registered_on=date.fromisoformat(signal["registered_on"]),
            age_band=signal.get("age_band"),
            planned_removal_on=date.fromisoformat(signal["planned_removal_on"]),
        ),
    )


async def await_receipt(nc: NatsClient, partner: str, event_id: uuid.UUID) -> dict[str, Any]:
    """Read the feed (acknowledging each entry) until the receipt of `event_id` came."""
    async with (
        asyncio.timeout(RECEIPT_WAIT),
        contextlib.aclosing(read_feed(nc, partner, follow=True, wait=0.5)) as feed,
    ):
        async for item in feed:
            if item.is_receipt and item.body.get("event_id") == str(event_id):
                if item.ack is not None:
                    await item.ack()  # read: the feed will not give it again
                return item.body
    raise TimeoutError  # read_feed with follow ends only by the timeout


async def open_the_plan(
    task: dict[str, Any], keys: PartnerKeys, nc: NatsClient, child: str
) -> None:
    """Ask the child's plan, open its sections with keys from kluis, and write the plan as
    opened (JSON) where the task says (`plan.opened`)."""
    plan = await query_plan(nc, child, keys)
    keyring = Keyring(keys, nc, kluis_key=service_key(task, "kluis"))
    opened = await open_plan(plan, keyring) if plan is not None else {"found": False}
    text = json.dumps(opened, indent=2, ensure_ascii=False)
    await asyncio.to_thread(Path(task["plan"]["opened"]).write_text, text, encoding="utf-8")


async def register_signal(task: dict[str, Any], keys: PartnerKeys) -> dict[str, Any]:
    """The task done: the receipt of the published signal; then the child's plan is asked and
    opened."""
    nc = await connect_partner(task["nats_url"], keys.partner)
    try:
        event = await build_signal(task, keys, nc)
        await publish_signed(nc.jetstream(), event, keys)
        receipt = await await_receipt(nc, keys.partner, event.id)
        await open_the_plan(task, keys, nc, event.subject)
        return receipt
    finally:
        await nc.close()


def partner_keys(task: dict[str, Any], keys_file: str | None, data_dir: str | None) -> PartnerKeys:
    """The partner's private keys: a JWK Set file, else the data directory's."""
    if keys_file:
        return PartnerKeys.from_jwks(task["partner"], json.loads(Path(keys_file).read_text()))
    directory = data_dir or os.environ.get("KETENBUS_DATA_DIR") or ".ketenbus"
    return load_or_create_partner_keys(Path(directory), task["partner"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ketenbus_partner.reference")
    parser.add_argument("--keys", help="the partner's private JWK Set (JSON file)")
    parser.add_argument("--data-dir", help="a data directory holding the partner's keys")
    args = parser.parse_args(argv)
    task = load_task()
    keys = partner_keys(task, args.keys, args.data_dir)
    receipt = asyncio.run(register_signal(task, keys))
    print(f"receipt {receipt['status']} event={receipt['event_id']}")
    return 0 if receipt["status"] == "accepted" else 1


if __name__ == "__main__":
    sys.exit(main())

"""A partner's system that gets things wrong, for `ketenbus conformance` to name: it signs a
serialisation of its own (sorted keys, ASCII escapes: not RFC 8785, which differs once the
envelope holds text beyond ASCII) and publishes on a subject that is not its event's; or, with
`--forge`, it signs the right form on the right subject with a key that is not the partner's;
or, with `--bad-query`, it publishes rightly but asks another child's plan with a kluis
request's `typ`; or, with `--no-open`, it does all rightly but only asks the child's plan, and
neither asks the key of its section nor opens it. The rest (pseudonym, sealing, reading its
receipt, asking and opening the child's plan) it does as the reference partner does.

    python -m tests.conformance_broken_partner --data-dir DIR [--forge | --bad-query | --no-open]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from joserfc import jws

from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, PlanQuery
from ketenbus_contracts.sealing import PartnerKeys, sign_request
from ketenbus_contracts.signing import SIGNATURE_FIELD, SIGNATURE_TYP, signing_kid
from ketenbus_partner.connect import connect_partner
from ketenbus_partner.plan import ask, query_plan
from ketenbus_partner.publish import publish_signed
from ketenbus_partner.reference import (
    await_receipt,
    build_signal,
    load_task,
    open_the_plan,
    partner_keys,
)


async def register_signal_wrongly(
    task: dict[str, Any], keys: PartnerKeys, *, forge: bool, bad_query: bool, no_open: bool
) -> None:
    nc = await connect_partner(str(task["nats_url"]), keys.partner)
    try:
        event = await build_signal(task, keys, nc)
        if no_open:
            await publish_signed(nc.jetstream(), event, keys)
            await await_receipt(nc, keys.partner, event.id)
            await query_plan(nc, event.subject, keys)
            return
        if bad_query:
            await publish_signed(nc.jetstream(), event, keys)
            await await_receipt(nc, keys.partner, event.id)
            another = PlanQuery(partner=keys.partner, op="plan", child="a" * 32)
            await ask(nc, PLAN_QUERY_SUBJECT, sign_request(another, keys.signing))
            await open_the_plan(task, keys, nc, event.subject)
            return
        if forge:
            await publish_signed(nc.jetstream(), event, PartnerKeys.generate(keys.partner))
            await await_receipt(nc, keys.partner, event.id)
            await open_the_plan(task, keys, nc, event.subject)
            return
        envelope = json.loads(event.to_bytes())
        signed_form = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
        header = {"alg": "Ed25519", "kid": signing_kid(keys.partner), "typ": SIGNATURE_TYP}
        token = jws.serialize_compact(header, signed_form, keys.signing, algorithms=["Ed25519"])
        envelope[SIGNATURE_FIELD] = jws.detach_content(token)
        subject = f"in.{keys.partner}.signalling.signal"
        payload = json.dumps(envelope, ensure_ascii=False).encode()
        await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": str(event.id)})
        await await_receipt(nc, keys.partner, event.id)
        await open_the_plan(task, keys, nc, event.subject)
    finally:
        await nc.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--forge", action="store_true", help="sign with a key of its own")
    parser.add_argument("--bad-query", action="store_true", help="ask another child's plan")
    parser.add_argument("--no-open", action="store_true", help="ask the plan, do not open it")
    args = parser.parse_args()
    task = load_task()
    keys = partner_keys(task, None, args.data_dir)
    wrongly = register_signal_wrongly(
        task, keys, forge=args.forge, bad_query=args.bad_query, no_open=args.no_open
    )
    asyncio.run(wrongly)
    return 0


if __name__ == "__main__":
    sys.exit(main())

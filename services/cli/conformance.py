"""`ketenbus conformance --as PARTNER -- COMMAND...`: check a partner's own system on the wire.

The check plays the backbone for the system under test, with keys of its own: it starts a
nats-server (JetStream, the streams `INBOUND` and `FEED` and the partner's feed consumer),
answers on `ketenbus.pseudonym`, `ketenbus.kluis.key`, `.seal` and `.batch` as the pseudonym
service and kluis do, and runs COMMAND with `KETENBUS_NATS_URL` and `KETENBUS_CONFORMANCE` (a
task file: the server, the partner id, the public keys of kluis, the pseudonym service and the
feed, and the signal to register). The task: register a concern about the child with the given
BSN as a first signaller, then ask the child's plan (`ketenbus.query.plan`; the stand-in
answers with one goal, its text sealed under `plan`) and open it with a key from kluis
(docs/partners.md, the reference: `python -m ketenbus_partner.reference`).

Everything the system sends is checked against the documents, each check by name: the
requests' headers, signatures, claims and reply inbox; the event's subject, `Nats-Msg-Id`,
schema, source and pseudonym, its signature header, signature and signed form (RFC 8785), its
`purposes` and sections (data key, scope, `eid`, `kcv`, the fields of each purpose, the task's
content); that the system read and acknowledged its receipt; and that it opened the plan
(asked kluis the key of the goal's section and wrote the goal's text to the task's
`plan.opened`). Each event gets the receipt the
backbone would give (refused with the first failed check's reason). Exit 0 when every check
passed, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from services.cli.kit import DataDir

TIMEOUT = 60.0


def conformance(
    as_partner: Annotated[str, typer.Option("--as", help="The partner the system acts as")],
    command: Annotated[
        list[str], typer.Argument(help="The system under test: a command (after --) to run")
    ],
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="The partner's public JWK Set (default: the registry's)"),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds the command may take")
    ] = TIMEOUT,
    data_dir: DataDir = None,
) -> None:
    """Check a partner's own system on the wire: run COMMAND against a stand-in backbone that
    answers as the pseudonym service and kluis, and check every request and event it sends
    (signature, RFC 8785 form, sealing, subject, schema), that it reads its receipt and that
    it opens the child's plan. Each check is printed by name; exit 1 when one fails."""
    from ketenbus_contracts.sealing import PartnerKeys, SealingError
    from services.cli.kit import BadInputError, CommandFailedError, check_partner, settings_for
    from services.cli.stand_in import Harness, run_check
    from services.runtime.partners import PartnerRegistry

    settings = settings_for(data_dir)
    if not command:
        raise BadInputError("name the system's command after --")
    public: list[PartnerKeys] = []
    if keys is not None:
        try:
            public.append(PartnerKeys.from_jwks(as_partner, json.loads(keys.read_bytes())))
        except (OSError, ValueError, SealingError):
            raise BadInputError("--keys: not a readable public JWK Set") from None
    else:
        check_partner(as_partner)
    registry = PartnerRegistry.load(settings.data_dir)

    def public_keys() -> PartnerKeys | None:
        # Read when first needed: a data-dir partner's system makes its keys when it starts.
        if not public:
            found = registry.public_keys(as_partner)
            if found is None:
                return None
            public.append(found)
        return public[0]

    harness = Harness(as_partner, public_keys)
    with tempfile.TemporaryDirectory(prefix="ketenbus-conformance-") as work:
        try:
            code = asyncio.run(run_check(harness, command, Path(work), timeout, dict(os.environ)))
        except (FileNotFoundError, PermissionError):
            raise BadInputError(f"cannot run the system's command {command[0]!r}") from None
    report = harness.report
    report.record("system.finished", code is not None, f"still running after {timeout:g} s")
    report.record("system.exit-code", code in (0, None), f"the command exited with {code}")
    report.require("pseudonym.header", "the system asked no pseudonym (ketenbus.pseudonym)")
    report.require("kluis.header", "the system asked kluis nothing (ketenbus.kluis.*)")
    report.require(
        "kluis.first-signaller-seal",
        "refused the key (no-relation), the system did not have kluis seal (ketenbus.kluis.seal)",
    )
    report.require("event.published", f"nothing was published on in.{as_partner}.>")
    report.require("plan.header", "the system asked no plan (ketenbus.query.plan)")
    report.require("feed.receipt-read", "no receipt was given, so none was read")
    for line in report.lines():
        typer.echo(line)
    failed = report.failed()
    if failed:
        raise CommandFailedError(f"{len(failed)} of {len(report.checks)} checks failed")
    typer.echo(f"conformant: {len(report.checks)} checks passed")

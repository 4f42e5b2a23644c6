"""`ketenbus handover …`, and the OSO format of `ketenbus import` / `ketenbus export`.

`import_oso` and `export_oso` are plain typer command functions: `services/cli/commands.py`
registers them under the shared `import` and `export` groups (`ketenbus import oso FILE`) and
they are also here as `ketenbus handover import-oso` / `export-oso`. Nothing connects at import.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

from services.cli.kit import backbone_url, fail, parse_date, settings_for, write_private
from services.runtime.nats_auth import partner_connect

app = typer.Typer(help="Warm handovers: OSO dossiers in and out.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)"),
]


def import_oso(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="OSO dossier XML")],
    as_partner: Annotated[str, typer.Option("--as", help="The sending partner id")],
    contact: Annotated[
        str, typer.Option(help="The sender's contact for this handover")
    ] = "contactpersoon overdracht",
    planned: Annotated[
        str | None, typer.Option(help="Planned date (YYYY-MM-DD); default in 28 days")
    ] = None,
    receiver: Annotated[str | None, typer.Option(help="Receiving partner, when known")] = None,
    swv: Annotated[str | None, typer.Option(help="The SWV escalations go to")] = None,
    running: Annotated[
        list[str] | None,
        typer.Option(
            "--running",
            help="REF:KIND (arrangement|youth-care) of running support the dossier does not "
            "carry: the plan shows it as a continuity gap (repeatable)",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Validate an OSO dossier (XSD and business rules), seal it and publish the handover."""
    from adapters.intake import ImportRefusedError, check_school, check_size
    from adapters.oso.dossier import OsoRefusedError, read_dossier
    from adapters.oso.transfer import TransferError
    from adapters.oso.transfer import import_oso as run_import
    from ketenbus_contracts.handover import RunningSupport
    from ketenbus_partner.keyring import Keyring
    from ketenbus_partner.pseudonyms import PseudonymClient, PseudonymClientError
    from services.policy.handover import load_disclosure_rules, load_rules

    settings = settings_for(data_dir)
    try:
        check_size(file.stat().st_size, "oso", what=file.name)  # before reading it whole
    except ImportRefusedError as exc:
        fail(f"refused: {exc}")
    raw = file.read_bytes()
    gaps: list[RunningSupport] = []
    for item in running or []:
        ref, _, kind = item.partition(":")
        if kind not in ("arrangement", "youth-care"):
            fail(f"--running {item!r}: KIND must be arrangement or youth-care")
        gaps.append(RunningSupport(ref=ref, kind=kind, carried=False))  # type: ignore[arg-type]
    disclosure, rules = load_disclosure_rules(), load_rules()
    try:
        dossier = read_dossier(raw, disclosure, what=file.name)  # refuse before connecting
        check_school(dossier.brin, as_partner, what=file.name)
    except ImportRefusedError as exc:
        fail(f"refused: {exc}")
    url = backbone_url(settings)

    async def run() -> None:
        nc = await partner_connect(settings, as_partner, url)
        try:
            keyring = Keyring.for_partner(settings.data_dir, as_partner, nc, refusal_ttl=0)
            done = await run_import(
                nc,
                keyring,
                dossier,
                pseudonyms=PseudonymClient.for_partner(settings.data_dir, as_partner, nc),
                disclosure=disclosure,
                rules=rules,
                contact=contact,
                planned_on=parse_date(planned, "--planned") if planned else None,
                receiver=receiver,
                swv=swv,
                running=gaps,
                what=file.name,
            )
        finally:
            await nc.close()
        typer.echo(
            f"handover {done.handover_id} ({done.transition}) for {done.child}: "
            f"{done.sections} sealed sections, {done.attachments} attachments by reference, "
            f"{done.events} events published"
        )

    try:
        asyncio.run(run())
    except (OsoRefusedError, TransferError, PseudonymClientError) as exc:
        fail(f"refused: {exc}")


def export_oso(
    handover: Annotated[str, typer.Argument(help="The handover id")],
    as_partner: Annotated[str, typer.Option("--as", help="The receiving (or sending) partner")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the XML")],
    data_dir: DataDir = None,
) -> None:
    """Write a delivered handover as an OSO dossier that validates against the XSD."""
    from adapters.oso.transfer import TransferError
    from adapters.oso.transfer import export_oso as run_export
    from ketenbus_partner.keyring import Keyring
    from services.policy.handover import load_disclosure_rules, load_rules

    settings = settings_for(data_dir)
    try:
        handover_id = uuid.UUID(handover)
    except ValueError:
        fail("HANDOVER must be a handover id (uuid)")
        return
    url = backbone_url(settings)

    async def run() -> bytes:
        nc = await partner_connect(settings, as_partner, url)
        try:
            keyring = Keyring.for_partner(settings.data_dir, as_partner, nc)
            return await run_export(
                nc,
                keyring,
                handover_id,
                disclosure=load_disclosure_rules(),
                rules=load_rules(),
            )
        finally:
            await nc.close()

    try:
        xml = asyncio.run(run())
    except TransferError as exc:
        fail(str(exc), code=1)
        return
    write_private(output, xml)  # the opened dossier: personal data
    typer.echo(f"wrote {output} ({len(xml)} bytes, readable by you only)")


app.command("import-oso")(import_oso)
app.command("export-oso")(export_oso)

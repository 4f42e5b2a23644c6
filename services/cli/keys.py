"""`ketenbus keys rotate|retire SIGNER`: the backbone's own signers' key pairs, rotated.

Run on the signer's host (its data directory holds the private keys) while the backbone runs,
as the signer's own NATS user, the only one that may write its entry of `ketenbus-signers`:
`rotate` makes a new current key pair and keeps the old one, so what was signed with or sealed
to it still verifies and opens; `retire` drops the old ones (services/runtime/signers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from ketenbus_contracts.sealing import PartnerKeys

app = typer.Typer(
    help="The backbone's own signers' keys (kluis, feed, pseudonym).", no_args_is_help=True
)

Signer = Annotated[str, typer.Argument(help="kluis, feed or pseudonym")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The signer's data dir")]
Change = Callable[[Any, Path, str], Coroutine[Any, Any, PartnerKeys]]


def _change(signer: str, data_dir: Path | None, change: Change) -> PartnerKeys:
    from services.cli.kit import BadInputError, CommandFailedError, backbone_url, settings_for
    from services.runtime import nats_auth
    from services.runtime.signers import (
        SIGNERS,
        SignerKeyMismatchError,
        SignerNotPublishedError,
    )

    if signer not in SIGNERS:
        raise BadInputError(f"no signer {signer!r}: one of {', '.join(SIGNERS)}")
    settings = settings_for(data_dir)
    url = backbone_url(settings)

    async def changed() -> PartnerKeys:
        nc = await nats_auth.connect(settings, signer, url)
        try:
            return await change(nc, settings.data_dir, signer)
        finally:
            await nc.close()

    try:
        return asyncio.run(changed())
    except (SignerKeyMismatchError, SignerNotPublishedError) as exc:
        raise CommandFailedError(str(exc)) from exc


def _kids(keys: PartnerKeys) -> str:
    return ", ".join(str(k.kid) for k in keys.older) or "none"


@app.command()
def rotate(
    signer: Signer,
    data_dir: DataDir = None,
    prepare: Annotated[
        bool,
        typer.Option(
            "--prepare",
            help="Only make the next key pair (secrets/partners/<id>.next.jwk, published "
            "nowhere), to copy to the signer's other hosts before rotating on one of them",
        ),
    ] = False,
) -> None:
    """A new current key pair for SIGNER (the prepared one, if any), published in
    ketenbus-signers; the old one is kept (what was signed with or sealed to it still verifies
    and opens) until `keys retire`."""
    from ketenbus_partner.keys import next_keys_path
    from services.cli.kit import BadInputError, settings_for
    from services.runtime.signers import (
        UnknownSignerError,
        prepare_signer_key,
        rotate_signer_key,
    )

    if prepare:
        settings = settings_for(data_dir)
        try:
            prepared = prepare_signer_key(settings.data_dir, signer)
        except UnknownSignerError as exc:
            raise BadInputError(str(exc)) from exc
        typer.echo(
            f"prepared {prepared.signing.kid}, {prepared.encryption.kid} in "
            f"{next_keys_path(settings.data_dir, signer)}: copy it to {signer}'s other hosts, "
            f"then run `ketenbus keys rotate {signer}` on one of them"
        )
        return
    keys = _change(signer, data_dir, rotate_signer_key)
    typer.echo(
        f"rotated {signer}: current {keys.signing.kid}, {keys.encryption.kid}; "
        f"kept until `ketenbus keys retire {signer}`: {_kids(keys)}"
    )


@app.command()
def retire(signer: Signer, data_dir: DataDir = None) -> None:
    """Drop SIGNER's older key pairs (after a rotation, once every reader took the new key: a
    minute): only the current one verifies and opens from now."""
    from services.runtime.signers import retire_signer_keys

    keys = _change(signer, data_dir, retire_signer_keys)
    current = f"{keys.signing.kid}, {keys.encryption.kid}"
    typer.echo(f"retired the older keys of {signer}: current {current}")

"""`ketenbus feed --as PARTNER [--follow]`: a partner reads its own feed, one line an entry.

Each line names the entry's kind (an event copy's domain and event, or a receipt), the event
id, and for a copy the sealed sections it holds and whether the feed's signature verified; no
pseudonym and no content. What is printed is acknowledged (the partner has read it).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer


def feed(
    as_partner: Annotated[str, typer.Option("--as", help="The partner whose feed to read")],
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading as entries arrive (Ctrl-C stops)")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where everything is written (KETENBUS_DATA_DIR)"),
    ] = None,
) -> None:
    """Read PARTNER's own feed (its children's events and its receipts): print the entries and
    acknowledge them; with --follow, keep reading."""
    from ketenbus_contracts.feed import FEED_SIGNER, feed_signature_kid
    from ketenbus_partner.feed import feed_line, read_feed
    from ketenbus_partner.keys import SignerKeySource
    from services.cli.kit import backbone_url, settings_for
    from services.runtime.nats_auth import partner_connect

    settings = settings_for(data_dir)
    url = backbone_url(settings)

    async def read() -> None:
        nc = await partner_connect(settings, as_partner, str(url))
        try:
            # The feed's key as the backbone shares it, else this data dir's.
            feed_keys = SignerKeySource(nc, FEED_SIGNER, settings.data_dir)
            async for item in read_feed(nc, as_partner, follow=follow):
                kid = feed_signature_kid(item.headers)  # one the feed rotated to: read again
                typer.echo(feed_line(item, await feed_keys.having(kid)))
        finally:
            await nc.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(read())

"""What the backbone does for partners whose keys it keeps (the demo partners, `keys:
data-dir` in infra/partners.yaml): sign an unsigned envelope file for such a partner
(`ketenbus publish --as`), resolve pseudonyms over the partner's own connection (a CLI's or an
import's). A partner's own side (sign, publish, read the feed, keys, pseudonyms) is the partner
kit, `ketenbus_partner`.

A partner whose keys are `inline` holds its private key itself: nothing here can sign for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ketenbus_contracts.envelope import check_depth
from ketenbus_contracts.signing import SIGNATURE_FIELD, sign_envelope
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.pseudonyms import AnyIdentifier, PseudonymClient, ResolvedPseudonyms
from services.runtime.partners import PARTNERS_PATH, load_partners
from services.runtime.settings import Settings


def keeps_keys_in_data_dir(partner: str, path: Path = PARTNERS_PATH) -> bool:
    """True for a registered partner whose key pairs live in the data dir (demo partners)."""
    entry = next((e for e in load_partners(path).partners if e.id == partner), None)
    return entry is not None and entry.keys == "data-dir"


def sign_on_behalf(raw: bytes, partner: str, data_dir: Path, path: Path = PARTNERS_PATH) -> bytes:
    """`raw` signed for `partner` when it is unsigned and the partner's keys are in the data dir.

    Anything else (signed already, not a JSON object, another source, a partner holding its own
    keys, too deep to parse) is returned unchanged, for ingress to judge.
    """
    try:
        check_depth(raw)
        envelope = json.loads(raw)
    except ValueError:  # EventTooDeepError included
        return raw
    if (
        not isinstance(envelope, dict)
        or SIGNATURE_FIELD in envelope
        or envelope.get("source") != partner
        or not keeps_keys_in_data_dir(partner, path)
    ):
        return raw
    keys = load_or_create_partner_keys(data_dir, partner)
    try:
        envelope[SIGNATURE_FIELD] = sign_envelope(envelope, keys.signing, partner)
    except ValueError:  # no canonical form (a lone surrogate, NaN): ingress refuses it
        return raw
    return json.dumps(envelope, ensure_ascii=False).encode()


async def resolve_as(
    settings: Settings, url: str, partner: str, identifiers: Iterable[AnyIdentifier]
) -> ResolvedPseudonyms:
    """`PseudonymClient.resolve` over the partner's own connection (a CLI's or import's)."""
    from services.runtime.nats_auth import partner_connect

    nc = await partner_connect(settings, partner, url)
    try:
        return await PseudonymClient.for_partner(settings.data_dir, partner, nc).resolve(
            identifiers
        )
    finally:
        await nc.close()

"""ketenbus partner kit: a partner system's side of the backbone, installable on its own.

What docs/partners.md tells step by step, in Python: connect as a partner
(`connect.connect_partner`), get pseudonyms (`pseudonyms.PseudonymClient`), seal and open
sections with keys from kluis (`keyring.Keyring`), sign and publish (`publish.publish_signed`),
read the feed (`feed.read_feed`), hand over attachments (`attachments`). It depends on
`ketenbus-contracts`, nats-py and joserfc, never on the backbone's services.
"""

from ketenbus_partner.connect import connect_partner
from ketenbus_partner.feed import FeedItem, read_feed
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.keys import (
    SignerKeySource,
    fetch_signer_keys,
    load_or_create_partner_keys,
    load_public_keys,
)
from ketenbus_partner.pseudonyms import PseudonymClient
from ketenbus_partner.publish import publish_signed, signed_message

__all__ = [
    "FeedItem",
    "KeyRefusedError",
    "Keyring",
    "PseudonymClient",
    "SignerKeySource",
    "connect_partner",
    "fetch_signer_keys",
    "load_or_create_partner_keys",
    "load_public_keys",
    "publish_signed",
    "read_feed",
    "signed_message",
]

"""A partner's key pairs kept in a directory, and the public keys of the backbone's services.

A partner holds two key pairs (`ketenbus_contracts.sealing.PartnerKeys`): Ed25519 to sign its
events and requests, X25519 to receive data keys from kluis. Its public JWK Set is what it
registers (the `keys` of its entry in the backbone's partner registry); the private one never
leaves it.

In a data directory (the demo partners' and the backbone's own services', `keys: data-dir` in
the registry) they are made on first use by `load_or_create_partner_keys`: the private JWK Set
in `secrets/partners/<id>.jwk` (mode 0600), the public one in `partner-keys/<id>.json`, where
kluis finds it. The backbone's services publish theirs there too: kluis's X25519 key (a first
signaller seals to it) is `partner-keys/kluis.json`, the pseudonym service's
`partner-keys/pseudonym.json`. A partner outside that directory is handed those public keys
with its credentials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ketenbus_contracts.sealing import PartnerKeys

KLUIS_PARTNER_ID = "kluis"


def private_keys_path(data_dir: Path, partner: str) -> Path:
    return data_dir / "secrets" / "partners" / f"{partner}.jwk"


def public_keys_path(data_dir: Path, partner: str) -> Path:
    return data_dir / "partner-keys" / f"{partner}.json"


def load_or_create_partner_keys(data_dir: Path, partner: str) -> PartnerKeys:
    """The partner's key pairs from the data dir, made (0600) and registered on first use."""
    private_path = private_keys_path(data_dir, partner)
    if not private_path.exists():
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = PartnerKeys.generate(partner)
        try:
            fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made them at the same moment: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(keys.to_jwks(private=True), handle)
    keys = PartnerKeys.from_jwks(partner, json.loads(private_path.read_text()))
    public_path = public_keys_path(data_dir, partner)
    public = keys.to_jwks(private=False)
    if not public_path.exists() or json.loads(public_path.read_text()) != public:
        public_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = public_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(public, indent=2))
        tmp.replace(public_path)
    return keys


def load_public_keys(data_dir: Path, partner: str) -> PartnerKeys | None:
    """The public keys `partner` published in the data dir (None before it did)."""
    path = public_keys_path(data_dir, partner)
    if not path.exists():
        return None
    return PartnerKeys.from_jwks(partner, json.loads(path.read_text()))

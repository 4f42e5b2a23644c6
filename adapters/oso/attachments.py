"""Sealing large attachments (OSO base64 documents) for the JetStream object store.

Sections are small JWEs inside events; attachments can be megabytes, beyond NATS's payload limit
and beyond the section registry's ciphertext limit (64 KiB). They are sealed the same way (JWE
compact, `dir` + A256GCM with the child's handover data key, kid, event id and key check value
in the protected header, so any JOSE library opens them) but with room for large payloads, and
stored by reference in the object store; the sealed section names the reference.
"""

from __future__ import annotations

import uuid

from joserfc import jwe
from joserfc.jwk import OctKey
from joserfc.registry import HeaderParameter

from ketenbus_contracts.sealing import (
    SECTION_ALG,
    SECTION_ENC,
    bound_header,
    check_bound,
)

MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024


class _AttachmentRegistry(jwe.JWERegistry):
    max_ciphertext_length = MAX_ATTACHMENT_BYTES * 2


_REGISTRY = _AttachmentRegistry(
    header_registry={
        "eid": HeaderParameter("Id of the event the attachment belongs to", "str", True),
        "kcv": HeaderParameter("Key check value of the data key", "str", True),
    },
    algorithms=[SECTION_ALG, SECTION_ENC],
)


def seal_attachment(content: bytes, *, key: bytes, kid: str, event_id: uuid.UUID) -> bytes:
    """The document sealed as a JWE compact serialisation (bytes, for the object store)."""
    header = bound_header(key=key, kid=kid, event_id=event_id, cty="application/octet-stream")
    return jwe.encrypt_compact(header, content, OctKey.import_key(key), registry=_REGISTRY).encode()


def open_attachment(token: bytes, *, key: bytes, event_id: uuid.UUID) -> bytes:
    text = token.decode()
    check_bound(text, key=key, event_id=event_id)
    plaintext = jwe.decrypt_compact(text, OctKey.import_key(key), registry=_REGISTRY).plaintext
    return plaintext or b""

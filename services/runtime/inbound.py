"""Admitting one inbound message: the one place that decides whether it is accepted or refused.

Nothing a partner sends may stop a service. `admit` takes the bytes of one message and the
service's decoder (signature check, contract and sealed sections, see
`services.runtime.signatures.verifying`) and answers an `Admission`: the decoded event, or a
`Refusal` with a kebab-case reason code. Whatever goes wrong with that one message (its size,
its encoding, its nesting, its JSON, its signature, its contract, its sealed sections, or an
exception nobody named) becomes a refusal, which the caller dead-letters before going on with
the next message. Only failures of the infrastructure
(reading the partners' key files) propagate, so the service retries them.

The checks run cheapest first and before any parser sees the input: the size against
`KETENBUS_INBOUND_MAX_BYTES`, UTF-8, and the nesting against `KETENBUS_INBOUND_MAX_DEPTH` (a
recursive parser would fail on deep input with a RecursionError).

A refusal's details name the field and the rule, never the value: the input may hold personal
data, so no message text of the parser is kept, and a location part that is not a field name
(a key the partner made up) is replaced by `*`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError

from ketenbus_contracts.envelope import EventTooDeepError, UnknownEventTypeError, check_depth
from ketenbus_contracts.sealing import SectionRefusedError
from ketenbus_contracts.signing import SIGNATURE_FIELD, SignatureError
from services.runtime.settings import Settings

log = structlog.get_logger(__name__)

# At most this many details per refusal (a list of 100,000 wrong items has as many errors).
MAX_DETAILS = 20
# A location part kept as it is: a field name or a list index; anything else may be input.
_KEPT = re.compile(r"^(?:[a-z_][a-z0-9_]{0,63}|[0-9]{1,9}|\[key\])$")
_TAG_PREFIX = "nl.ketenbus."
_CODE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")
# pydantic error types that mean the bytes were no JSON at all.
_JSON_ERRORS = {"json_invalid", "json_type"}


@dataclass(frozen=True)
class Limits:
    """The pre-parse limits of one inbound message."""

    max_bytes: int
    max_depth: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(max_bytes=settings.inbound_max_bytes, max_depth=settings.inbound_max_depth)


@dataclass(frozen=True)
class Refusal:
    """Why a message was refused: a kebab-case `code` and details without input values."""

    code: str
    details: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Admission:
    """The outcome of `admit`: the decoded event, or the refusal."""

    event: Any = None
    refusal: Refusal | None = None
    # Size of the message in bytes, for the dead letter and for receipts.
    size: int = 0
    # What was raised, for a message shown to the partner itself (the CLI); never stored.
    error: BaseException | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def admit(raw: bytes, decode: Callable[[bytes], Any], limits: Limits) -> Admission:
    """Accept or refuse one inbound message (see the module docstring); never raises for
    anything in the message itself."""
    size = len(raw)
    if size > limits.max_bytes:
        return Admission(
            refusal=Refusal("too-large", ({"size": size, "limit": limits.max_bytes},)), size=size
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Admission(refusal=Refusal("invalid-utf8", ({"at": exc.start},)), size=size)
    try:
        check_depth(raw, limits.max_depth)
        return Admission(event=decode(raw), size=size)
    except OSError:
        raise  # the partners' key files: infrastructure, retried
    except Exception as exc:
        return Admission(refusal=refusal_of(exc), size=size, error=exc)


def refusal_of(exc: BaseException) -> Refusal:
    """The refusal for an exception raised while decoding one message, without input values."""
    if isinstance(exc, ValidationError):
        return _validation_refusal(exc)
    if isinstance(exc, SignatureError):
        return Refusal(exc.code, ({"loc": SIGNATURE_FIELD, "type": exc.code},))
    if isinstance(exc, EventTooDeepError | UnknownEventTypeError):
        return Refusal(exc.code)
    if isinstance(exc, SectionRefusedError):
        # The section's place (a purpose or an index, no input value: the contract knows them).
        return Refusal(exc.code, ({"loc": exc.loc, "type": exc.code},))
    code = getattr(exc, "code", None)
    if isinstance(code, str) and _CODE.match(code):
        return Refusal(code)  # a refusal the decoder named (ingress: `not-the-source`)
    # RecursionError, a library's own error on odd input, a bug: named only by its type.
    log.error("inbound_unexpected_error", error=type(exc).__name__)
    return Refusal("unexpected-error", ({"error": type(exc).__name__},))


def _validation_refusal(exc: ValidationError) -> Refusal:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    details = [{"loc": location(err["loc"]), "type": err["type"]} for err in errors]
    if [d["loc"] for d in details] == [SIGNATURE_FIELD]:
        # A signature refusal (services.runtime.signatures) is named by its own code.
        return Refusal(str(details[0]["type"]), tuple(details))
    types = {d["type"] for d in details}
    if types & _JSON_ERRORS:
        code = "invalid-json"
    elif types == {"union_tag_invalid"} and [d["loc"] for d in details] == [""]:
        code = "unknown-type"  # a service's discriminated union names no such contract
    else:
        code = "invalid-event"
    return Refusal(code, _capped(details))


def _capped(details: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    if len(details) <= MAX_DETAILS:
        return tuple(details)
    return (*details[:MAX_DETAILS], {"omitted": len(details) - MAX_DETAILS})


def location(loc: Sequence[int | str]) -> str:
    """A field path inside the event, without the union's type tag, naming no input."""
    parts = [str(p) for p in loc]
    for index, part in enumerate(parts):
        if part.startswith(_TAG_PREFIX):
            parts = parts[index + 1 :]
            break
    return ".".join(p if _KEPT.match(p) else "*" for p in parts)

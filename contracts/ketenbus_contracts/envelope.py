"""The CloudEvents 1.0 envelope every ketenbus event travels in.

`data` carries only what routing and planning need in clear; everything that tells something
about a child goes into `data.sealed[purpose]` (a JWE per purpose). `ketenbussig` is the
partner's detached signature over the canonical form.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from ketenbus_contracts.purposes import Purpose

PARTNER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
PSEUDONYM_PATTERN = r"^[a-z2-7]{32}$"
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
TYPE_PREFIX = "nl.ketenbus"

PartnerId = Annotated[str, Field(pattern=PARTNER_ID_PATTERN, description="Registered partner id")]
Pseudonym = Annotated[
    str,
    Field(pattern=PSEUDONYM_PATTERN, description="Keyed pseudonym of a child or household"),
]
SealedSections = Annotated[
    dict[Purpose, str],
    Field(description="Per purpose, a JWE compact serialisation of the sealed fields"),
]


class ContractModel(BaseModel):
    """Base of every contract model: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class RelationChange:
    """An event gives a partner a relation with the child, or ends one (kluis keeps them).

    `basis` says why (a basis kind of infra/relations.yaml: signal, enrolment, handover-sender,
    arrangement, ...) and `basis_id` which one; ending with `partner=None` ends every partner's
    relation on that basis. `until`: the basis ends by itself after this day (an arrangement's
    or a youth-care decision's end date), with no event to say so.
    """

    partner: str | None
    basis: str
    basis_id: str
    active: bool
    until: date | None = None


# (An alias: inside an event class `type` is the CloudEvents field, not the builtin.)
SealedModels = tuple[type[ContractModel], ...]


class EventData(ContractModel):
    """Base of an event's `data`; `sealed` holds the purpose-sealed sections."""

    sealed: SealedSections = Field(default_factory=dict)


DataT = TypeVar("DataT", bound=EventData)


class CloudEvent(ContractModel, Generic[DataT]):
    """A CloudEvents 1.0 JSON envelope with the ketenbus extensions."""

    domain: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int]
    # The models whose `SealedUnder` fields this event carries in `data.sealed` (one JWE per
    # purpose): what a section holds once opened, shown in the AsyncAPI document.
    sealed_models: ClassVar[SealedModels] = ()

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: uuid.UUID = Field(description="Unique per event; the publisher's idempotency key")
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,100}$", description="Partner or service id")
    type: str
    subject: Pseudonym
    time: AwareDatetime
    datacontenttype: str = Field(default="application/json", pattern=r"^application/json$")
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT_PATTERN)
    purposes: list[Purpose] = Field(
        default_factory=list,
        description="The purposes of the sections in `data.sealed`, sorted: who may hold which "
        "purpose is the processing register's; the feed keeps only those the reader may hold",
    )
    ketenbusactor: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{2,63}$",
        description="The person who acted for the source, where a person did (the web app): a "
        "pseudonymous employee id from their login, never a name; covered by the signature",
    )
    ketenbussig: str | None = Field(
        default=None,
        description="The publishing partner's signature: a JWS with detached payload "
        "(`<protected header>..<signature>`, RFC 7515 appendix F), Ed25519, over the RFC 8785 "
        "canonical form of this envelope without `ketenbussig`; protected header `alg` "
        "`Ed25519`, `kid` `<source>#sig`, `typ` `ketenbus-event+jws`",
    )
    data: DataT

    def __init_subclass__(
        cls,
        *,
        domain: str | None = None,
        name: str | None = None,
        version: int = 1,
        **kwargs: Any,
    ) -> None:
        """A domain's base names its domain, an event its name (and version, when not 1):
        `class PlanContract(CloudEvent[DataT], domain="plan")`, then
        `class GoalSet(PlanContract[GoalSetData], name="goal-set")`.
        An event's `type` is then fixed to `nl.ketenbus.<domain>.<name>.v<version>` (a literal,
        so unions of events discriminate on it) and `parse_event` knows it.
        """
        super().__init_subclass__(**kwargs)
        if domain is not None:
            cls.domain = domain
        if name is None:
            return
        cls.name, cls.version = name, version
        event_type = cls.event_type()
        cls.__annotations__ = {**inspect.get_annotations(cls), "type": Literal[event_type]}
        setattr(cls, "type", event_type)  # noqa: B010 (the field's default, before pydantic reads it)
        register(cls)

    @classmethod
    def event_type(cls) -> str:
        return f"{TYPE_PREFIX}.{cls.domain}.{cls.name}.v{cls.version}"

    @classmethod
    def outbound_subject(cls) -> str:
        """Subject a service publishes this event on, e.g. `ketenbus.signalling.match-found.v1`."""
        return f"ketenbus.{cls.domain}.{cls.name}.v{cls.version}"

    @classmethod
    def inbound_subject(cls, partner: str) -> str:
        """Subject a partner publishes on, e.g. `in.school-a.signalling.signal-registered`."""
        return f"in.{partner}.{cls.domain}.{cls.name}"

    @classmethod
    def create(cls, *, source: str, subject: str, data: DataT, **fields: Any) -> Self:
        """A new event of this type; a fresh id and the current time unless given."""
        # Made only where not given (a relayed event has both: no random draw, no clock).
        if "id" not in fields:
            fields["id"] = uuid.uuid4()
        if "time" not in fields:
            fields["time"] = datetime.now(UTC)
        return cls(source=source, type=cls.event_type(), subject=subject, data=data, **fields)

    def relation_changes(self) -> list[RelationChange]:
        """The relations with the child this event starts or ends (none by default)."""
        return []

    def sealed_elsewhere(self) -> list[tuple[str, Purpose, str]]:
        """The sections this event carries bound to itself outside `data.sealed` (a dossier's
        sections), as (their place, their purpose, the JWE); admitted as `data.sealed`'s."""
        return []

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


EventEnvelope = CloudEvent[Any]


def event_classes(union: Any) -> tuple[type[CloudEvent[Any]], ...]:
    """The event classes of a union of contract events (discriminated or not), in its order."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    return get_args(union) or (union,)


_registry: dict[str, type[CloudEvent[Any]]] = {}


def register(cls: type[CloudEvent[Any]]) -> type[CloudEvent[Any]]:
    """Make an event type known to `parse_event` (a named subclass of CloudEvent is already)."""
    _registry[cls.event_type()] = cls
    return cls


@functools.cache
def _load_contracts() -> None:
    """Import every module of this package once, so each contract event is known.

    Whoever parses (a CLI, a service, a vendor's tool) must not have to import the modules
    that define the events first; done lazily because those modules import this one.
    """
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")


def registered_types() -> dict[str, type[CloudEvent[Any]]]:
    _load_contracts()
    return dict(_registry)


class UnknownEventTypeError(ValueError):
    """The envelope names a type no contract defines."""

    code = "unknown-type"


# Nesting of objects and arrays a contract event may have (the deepest contract needs about 8).
# Deeper input is refused before any JSON parser sees it: a recursive parser or canonicaliser
# would otherwise fail on it with a RecursionError, which is no refusal anyone named.
MAX_DEPTH = 32


class EventTooDeepError(ValueError):
    """The JSON nests objects and arrays deeper than a contract event may (`MAX_DEPTH`)."""

    code = "too-deep"


# A JSON string, or an unterminated one up to the end (possessive, so linear on any input).
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def check_depth(raw: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Raise EventTooDeepError when `raw` nests deeper than `max_depth`, without parsing it.

    Cheap on real events: when the input holds no more opening brackets than the limit it
    cannot be deeper. Otherwise strings are cut out and the brackets counted, all in C
    (regex, translate, accumulate), linear in the size of the input; the first 4 kB first, so
    the usual poison (nesting from the start) is refused without reading the rest.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    # A prefix's depth is never more than the whole's (a string cut off counts as a string).
    if _depth(data[:4096], max_depth) > max_depth or _depth(data, max_depth) > max_depth:
        raise EventTooDeepError(f"the JSON nests deeper than {max_depth} levels")


def _depth(data: bytes, max_depth: int) -> int:
    """The deepest nesting of `data` outside strings (more than `max_depth`: that, or more)."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, delete=_NOT_BRACKETS)
    if b"[" * (max_depth + 1) in brackets or b"{" * (max_depth + 1) in brackets:
        return max_depth + 1
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


class _Head(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str


_head = TypeAdapter(_Head)


def parse_event(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> CloudEvent[Any]:
    """Validate raw JSON as the contract its `type` names.

    Raises EventTooDeepError for JSON nested deeper than `max_depth` (checked before parsing),
    pydantic's ValidationError for a malformed envelope and UnknownEventTypeError for a type no
    contract defines (its message names the type: shorten it before showing it to anyone).
    """
    check_depth(raw, max_depth)
    head = _head.validate_json(raw)
    _load_contracts()
    try:
        cls = _registry[head.type]
    except KeyError:
        raise UnknownEventTypeError(f"unknown event type {head.type[:100]!r}") from None
    return cls.model_validate_json(raw)

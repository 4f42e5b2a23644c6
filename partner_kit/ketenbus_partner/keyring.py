"""The kluis client: a partner's (or service's) keyring for sealing and opening sections.

`Keyring` asks kluis over NATS request/reply for the data keys it needs, signs every request
with the partner's Ed25519 key, opens the answer with its X25519 key, and caches released keys
in memory for a short TTL (never on disk). A refused key raises `KeyRefusedError`, so a caller
can go on with the event's clear metadata.

Keys are per (child, purpose, scope). A section is sealed under the writer's own scope for a
writer-scoped purpose, under `child` for a child-scoped one (`SCOPE_KINDS`, as the backbone's
`infra/relations.yaml` has them), and under the record the caller names for a record-scoped one
(`scope=` on `seal`, a handover id, `arrangement/<id>`, ...). Refusals are cached for
`refusal_ttl` and released keys for `ttl` seconds: an ended relation closes a cached key within
`ttl`.

Sealing: with a released sealing key the keyring seals locally. A partner that may provide a
purpose but holds no relation with the child yet (a first signal) gets `no-relation`; the keyring
then has kluis seal the section for it: the section travels as a JWE to kluis's X25519 key.

Many at once (an import of a whole school): `seal_many` and `sealing_keys` ask kluis in signed
batches (`ketenbus.kluis.batch`, up to `MAX_BATCH_ITEMS` items and `MAX_BATCH_BYTES` a request),
each item decided by kluis on its own: a refused item comes back as its `KeyRefusedError` while
the rest are sealed or released.

`Keyring.for_partner` takes the partner's keys and kluis's public X25519 key from a data
directory (`ketenbus_partner.keys`); a partner holding its own keys builds a `Keyring` from
them and the kluis key it was handed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog
from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel

from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    KLUIS_BATCH_SUBJECT,
    KLUIS_KEY_SUBJECT,
    KLUIS_RESEAL_SUBJECT,
    KLUIS_SEAL_SUBJECT,
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    BatchKey,
    BatchSeal,
    DataKey,
    KeyId,
    KeyRequest,
    KluisAnswer,
    KluisBatchAnswer,
    KluisBatchRequest,
    KluisRequestBase,
    PartnerKeys,
    ResealRequest,
    SealRequest,
    encrypt_to,
    kid_of,
    open_section,
    receive_key,
    seal,
    sections_of,
    sign_request,
)
from ketenbus_partner.keys import KLUIS_PARTNER_ID, SignerKeySource, load_or_create_partner_keys

log = structlog.get_logger(__name__)

ScopeKind = Literal["writer", "record", "child"]
# How each purpose's data keys are scoped (the backbone's infra/relations.yaml, `scope`; a test
# keeps the two equal): `writer` one key per writing partner (scope = its id), `child` one key
# for the child (scope = "child"), `record` one key per record the writer names.
SCOPE_KINDS: Mapping[Purpose, ScopeKind] = {
    Purpose.IDENTITY: "writer",
    Purpose.SIGNALLING: "writer",
    Purpose.HANDOVER: "record",
    Purpose.SUPPORT: "record",
    Purpose.YOUTH_CARE: "record",
    Purpose.ATTENDANCE: "writer",
    Purpose.PLAN: "child",
}
CHILD_SCOPE = "child"


class WritingScopes(Protocol):
    """Which scope a partner writes a purpose under (None: the writer names the record)."""

    def writing_scope(self, purpose: Purpose, partner: str) -> str | None: ...


@dataclass(frozen=True)
class ScopeTable:
    """`WritingScopes` from a table of scope kinds (default `SCOPE_KINDS`)."""

    kinds: Mapping[Purpose, ScopeKind] = field(default_factory=lambda: dict(SCOPE_KINDS))

    def writing_scope(self, purpose: Purpose, partner: str) -> str | None:
        kind = self.kinds[purpose]
        if kind == "writer":
            return partner
        if kind == "child":
            return CHILD_SCOPE
        return None


# A partner that may write a purpose but holds no relation that opens the scope has kluis seal.
REMOTE_SEAL_CODES = frozenset(
    {"no-relation", "relation-ended", "scope-not-permitted", "role-not-permitted"}
)
# The scope to seal under: the record (record-scoped purposes), one per purpose, or None.
Scope = str | Mapping[Purpose, str] | None
DEFAULT_TTL = 60.0
DEFAULT_REFUSAL_TTL = 5.0


class KeyringError(Exception):
    """The keyring could not get a key."""


class KeyRefusedError(KeyringError):
    """kluis refused the key (or the seal): the clear metadata can still be processed."""

    def __init__(self, code: str, reason: str, *, purpose: Purpose, kid: str | None = None):
        super().__init__(f"kluis refused {purpose.value} ({code}): {reason}")
        self.code = code
        self.reason = reason
        self.purpose = purpose
        self.kid = kid


class KluisUnavailableError(KeyringError):
    """kluis did not answer in time (or nobody listens on its subject)."""


class KluisBatchRefusedError(KeyringError):
    """kluis refused a batch as a whole (not signed, stale, replayed, too large)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"kluis refused the batch ({code}): {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class SealJob:
    """One section to seal in `Keyring.seal_many`: of `child`, under `purpose`, in `event_id`
    (`scope` as for `seal`)."""

    section: Mapping[str, Any]
    child: str
    purpose: Purpose
    event_id: uuid.UUID
    scope: Scope = None


# What a signed batch may fill of MAX_BATCH_BYTES by our estimate (base64 twice, headers).
BATCH_BYTES_BUDGET = MAX_BATCH_BYTES * 2 // 3


def batches_of(sizes: list[int]) -> list[range]:
    """Split items of these (JSON) sizes into ranges that fit one batch request."""
    ranges: list[range] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        full = index - start >= MAX_BATCH_ITEMS or used + size > BATCH_BYTES_BUDGET
        if full and index > start:
            ranges.append(range(start, index))
            start, used = index, 0
        used += size
    if start < len(sizes):
        ranges.append(range(start, len(sizes)))
    return ranges


# ---------------------------------------------------------------------------------------------
# the keyring


@dataclass
class OpenedSections:
    """What `Keyring.open_available` could open, and what kluis refused."""

    sections: dict[Purpose, dict[str, Any]] = field(default_factory=dict)
    refused: dict[Purpose, KeyRefusedError] = field(default_factory=dict)


# kluis's X25519 key, asked each time it is needed (`SignerKeySource.encryption`).
KluisKeySource = Callable[[], OKPKey | Awaitable[OKPKey | None] | None]


class Keyring:
    """One partner's keys from kluis, cached in memory for `ttl` seconds."""

    def __init__(
        self,
        keys: PartnerKeys,
        nc: NatsClient,
        *,
        kluis_key: OKPKey | KluisKeySource | None = None,
        ttl: float = DEFAULT_TTL,
        refusal_ttl: float = DEFAULT_REFUSAL_TTL,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rules: WritingScopes | None = None,
    ) -> None:
        self.partner = keys.partner
        self._keys = keys
        self._nc = nc
        self._kluis_key = kluis_key
        self.ttl = ttl
        self.refusal_ttl = refusal_ttl
        self.timeout = timeout
        self._clock = clock
        self._by_kid: dict[str, tuple[DataKey, float]] = {}
        self._sealing: dict[tuple[str, Purpose, str], tuple[DataKey, float]] = {}
        self._refused: dict[
            tuple[str, Purpose, str, int | None], tuple[KeyRefusedError, float]
        ] = {}
        self._rules: WritingScopes = rules or ScopeTable()

    @property
    def keys(self) -> PartnerKeys:
        """The partner's own key pairs (to sign its events with)."""
        return self._keys

    @classmethod
    def for_partner(cls, data_dir: Path, partner: str, nc: NatsClient, **kwargs: Any) -> Keyring:
        """A keyring with the partner's keys from the data dir (made on first use); kluis's key
        from the backbone's bucket, else the data dir."""
        keys = load_or_create_partner_keys(data_dir, partner)
        kluis = SignerKeySource(nc, KLUIS_PARTNER_ID, data_dir)
        return cls(keys, nc, kluis_key=kluis.encryption, **kwargs)

    # cache

    def forget(self, child: str | None = None) -> None:
        """Drop cached keys (of one child, or all): e.g. after `child-erased`."""
        if child is None:
            self._by_kid.clear()
            self._sealing.clear()
            self._refused.clear()
            return
        self._by_kid = {k: v for k, v in self._by_kid.items() if not k.startswith(f"{child}/")}
        self._sealing = {k: v for k, v in self._sealing.items() if k[0] != child}
        self._refused = {k: v for k, v in self._refused.items() if k[0] != child}

    def _cached(self, entry: tuple[DataKey, float] | None) -> DataKey | None:
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    def _remember(self, data_key: DataKey, *, sealing: bool) -> None:
        expires = self._clock() + self.ttl
        self._by_kid[data_key.kid] = (data_key, expires)
        if sealing:
            key_id = data_key.key_id
            self._sealing[(key_id.pseudonym, key_id.purpose, key_id.scope)] = (data_key, expires)

    # asking kluis

    async def _ask(self, subject: str, request: KluisRequestBase) -> KluisAnswer:
        reply = await self._request(subject, sign_request(request, self._keys.signing))
        return KluisAnswer.model_validate_json(reply)

    async def _request(self, subject: str, payload: bytes, timeout: float | None = None) -> bytes:
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = await self._nc.request(subject, payload, timeout=timeout)
                return bytes(reply.data)
            except NoRespondersError as exc:
                # kluis restarting its subscribers (or being deployed): ask again shortly
                if time.monotonic() > deadline:
                    raise KluisUnavailableError(f"kluis did not answer on {subject}") from exc
                await asyncio.sleep(0.1)
            except NatsTimeoutError as exc:
                raise KluisUnavailableError(f"kluis did not answer on {subject}") from exc

    async def _ask_batch(
        self,
        items: Sequence[BatchKey | BatchSeal],
        sections: Sequence[Mapping[str, Any] | None],
        traceparent: str | None,
    ) -> list[KluisAnswer]:
        """One signed batch; kluis's answers in item order, or KluisBatchRefusedError."""
        sealed = None
        if any(section is not None for section in sections):
            sealed = encrypt_to({"sections": list(sections)}, await self._kluis_public_key())
        request = KluisBatchRequest(
            partner=self.partner, traceparent=traceparent, items=list(items), sections=sealed
        )
        # A batch takes kluis longer than one key: scale the wait with its size.
        timeout = self.timeout * (1 + len(items) / 100)
        reply = await self._request(
            KLUIS_BATCH_SUBJECT, sign_request(request, self._keys.signing), timeout
        )
        answer = KluisBatchAnswer.model_validate_json(reply)
        if not answer.ok or answer.refusal is not None:
            refusal = answer.refusal
            code, reason = (refusal.code, refusal.reason) if refusal else ("invalid-request", "")
            raise KluisBatchRefusedError(code, reason)
        if len(answer.results) != len(items):
            raise KluisBatchRefusedError("invalid-request", "the answer does not match the batch")
        return answer.results

    async def _kluis_public_key(self) -> OKPKey:
        kluis_key = self._kluis_key() if callable(self._kluis_key) else self._kluis_key
        if inspect.isawaitable(kluis_key):
            kluis_key = await kluis_key
        if kluis_key is None:
            raise KluisUnavailableError("kluis's public key is not known to this keyring")
        return kluis_key

    async def seal_many(
        self, jobs: Sequence[SealJob], *, traceparent: str | None = None
    ) -> list[str | KeyRefusedError]:
        """Seal many sections, each a token or the KeyRefusedError of its refusal, in order.

        A section whose sealing key is cached is sealed here; kluis seals the rest in batches
        (each item decided on its own: it may write what it cannot hold).
        """
        done: list[str | KeyRefusedError | None] = [None] * len(jobs)
        remote: list[tuple[int, BatchSeal, Mapping[str, Any]]] = []
        for index, job in enumerate(jobs):
            scope = self.scope_for(job.purpose, job.scope)
            cached = self._cached(self._sealing.get((job.child, job.purpose, scope)))
            if cached is not None:
                done[index] = seal(
                    job.section, key=cached.key, kid=cached.kid, event_id=job.event_id
                )
                continue
            item = BatchSeal(
                child=job.child, purpose=job.purpose, scope=scope, event_id=job.event_id
            )
            remote.append((index, item, job.section))
        sizes = [len(item.model_dump_json()) + len(json.dumps(s)) for _, item, s in remote]
        for part in batches_of(sizes):
            chunk = [remote[i] for i in part]
            answers = await self._ask_batch(
                [item for _, item, _ in chunk], [s for _, _, s in chunk], traceparent
            )
            for (index, item, _), answer in zip(chunk, answers, strict=True):
                if answer.ok and answer.token is not None:
                    done[index] = answer.token
                else:
                    done[index] = _refusal(answer, item.purpose)
        return [result for result in done if result is not None]

    async def sealing_keys(
        self,
        wanted: Iterable[tuple[str, Purpose]],
        *,
        scope: Scope = None,
        traceparent: str | None = None,
    ) -> dict[tuple[str, Purpose], DataKey | KeyRefusedError]:
        """The sealing keys of many (child, purpose) pairs, asked in batches and cached, so
        that `seal` finds them (what kluis refuses is cached as refused too)."""
        found: dict[tuple[str, Purpose], DataKey | KeyRefusedError] = {}
        asked: list[BatchKey] = []
        for child, purpose in dict.fromkeys(wanted):
            named = self.scope_for(purpose, scope)
            cached = self._cached(self._sealing.get((child, purpose, named)))
            if cached is not None:
                found[(child, purpose)] = cached
            else:
                asked.append(BatchKey(child=child, purpose=purpose, scope=named))
        sizes = [len(item.model_dump_json()) for item in asked]
        for part in batches_of(sizes):
            chunk = [asked[i] for i in part]
            answers = await self._ask_batch(chunk, [None] * len(chunk), traceparent)
            for item, answer in zip(chunk, answers, strict=True):
                if answer.ok and answer.key is not None:
                    data_key = receive_key(answer.key, self._keys.encryption)
                    self._remember(data_key, sealing=True)
                    found[(item.child, item.purpose)] = data_key
                    continue
                error = _refusal(answer, item.purpose)
                expires = self._clock() + self.refusal_ttl
                self._refused[(item.child, item.purpose, item.scope, None)] = (error, expires)
                found[(item.child, item.purpose)] = error
        return found

    async def _key(
        self,
        child: str,
        purpose: Purpose,
        scope: str,
        version: int | None,
        traceparent: str | None,
    ) -> DataKey:
        refused = self._refused.get((child, purpose, scope, version))
        if refused is not None and refused[1] > self._clock():
            raise refused[0]
        request = KeyRequest(
            partner=self.partner,
            child=child,
            purpose=purpose,
            scope=scope,
            version=version,
            traceparent=traceparent,
        )
        answer = await self._ask(KLUIS_KEY_SUBJECT, request)
        if not answer.ok or answer.key is None:
            error = _refusal(answer, purpose)
            expires = self._clock() + self.refusal_ttl
            self._refused[(child, purpose, scope, version)] = (error, expires)
            # debug: the caller gets the error; an import of 2,000 pupils must not log 1,999
            log.debug("key_refused", purpose=purpose.value, code=error.code)
            raise error
        data_key = receive_key(answer.key, self._keys.encryption)
        self._remember(data_key, sealing=version is None)
        return data_key

    def scope_for(self, purpose: Purpose, scope: Scope = None) -> str:
        """The scope this partner seals `purpose` under: its own (writer-scoped) or `child`
        (child-scoped) by the relation rules, the record named in `scope` (record-scoped); a
        mapping names the scope per purpose and overrides the rules."""
        if isinstance(scope, Mapping) and purpose in scope:
            return scope[purpose]
        implied = self._rules.writing_scope(purpose, self.partner)
        if implied is not None:
            return implied
        if isinstance(scope, str):
            return scope
        raise KeyringError(f"a {purpose.value} section is sealed under a named record")

    async def sealing_key(
        self,
        child: str,
        purpose: Purpose,
        *,
        scope: Scope = None,
        traceparent: str | None = None,
    ) -> DataKey:
        """The current sealing key of (child, purpose, scope); raises KeyRefusedError."""
        named = self.scope_for(purpose, scope)
        cached = self._cached(self._sealing.get((child, purpose, named)))
        return cached or await self._key(child, purpose, named, None, traceparent)

    async def key(self, kid: str, *, traceparent: str | None = None) -> DataKey:
        """The data key named by a section's kid; raises KeyRefusedError."""
        cached = self._cached(self._by_kid.get(kid))
        if cached is not None:
            return cached
        key_id = KeyId.parse(kid)
        return await self._key(
            key_id.pseudonym, key_id.purpose, key_id.scope, key_id.version, traceparent
        )

    # sealing

    async def seal_sections(
        self,
        sections: Mapping[Purpose, Mapping[str, Any]],
        *,
        child: str,
        event_id: uuid.UUID,
        scope: Scope = None,
        traceparent: str | None = None,
    ) -> dict[Purpose, str]:
        """`data.sealed` for these sections; kluis seals those we may write but not hold.

        `scope` names the record for record-scoped purposes (one scope, or one per purpose)."""
        sealed: dict[Purpose, str] = {}
        for purpose, section in sections.items():
            if not section:
                continue
            named = self.scope_for(purpose, scope)
            try:
                data_key = await self.sealing_key(
                    child, purpose, scope=named, traceparent=traceparent
                )
            except KeyRefusedError as refused:
                if refused.code not in REMOTE_SEAL_CODES:
                    raise
                sealed[purpose] = await self._remote_seal(
                    section,
                    child=child,
                    purpose=purpose,
                    scope=named,
                    event_id=event_id,
                    traceparent=traceparent,
                )
                continue
            sealed[purpose] = seal(section, key=data_key.key, kid=data_key.kid, event_id=event_id)
        return sealed

    async def seal(
        self,
        model: BaseModel,
        *,
        child: str,
        event_id: uuid.UUID,
        scope: Scope = None,
        traceparent: str | None = None,
    ) -> dict[Purpose, str]:
        """`data.sealed` for the `SealedUnder` fields of `model` (clear fields are ignored)."""
        return await self.seal_sections(
            sections_of(model),
            child=child,
            event_id=event_id,
            scope=scope,
            traceparent=traceparent,
        )

    async def _remote_seal(
        self,
        section: Mapping[str, Any],
        *,
        child: str,
        purpose: Purpose,
        scope: str,
        event_id: uuid.UUID,
        traceparent: str | None,
    ) -> str:
        request = SealRequest(
            partner=self.partner,
            child=child,
            purpose=purpose,
            scope=scope,
            event_id=event_id,
            section=encrypt_to(section, await self._kluis_public_key()),
            traceparent=traceparent,
        )
        answer = await self._ask(KLUIS_SEAL_SUBJECT, request)
        if not answer.ok or answer.token is None:
            raise _refusal(answer, purpose)
        return answer.token

    async def reseal(
        self,
        token: str,
        *,
        child: str,
        purpose: Purpose,
        from_event_id: uuid.UUID,
        to_event_id: uuid.UUID,
        traceparent: str | None = None,
    ) -> str:
        """Have kluis re-bind a section to another event (services relaying sections)."""
        request = ResealRequest(
            partner=self.partner,
            child=child,
            purpose=purpose,
            scope=KeyId.parse(kid_of(token)).scope,
            token=token,
            from_event_id=from_event_id,
            to_event_id=to_event_id,
            traceparent=traceparent,
        )
        answer = await self._ask(KLUIS_RESEAL_SUBJECT, request)
        if not answer.ok or answer.token is None:
            raise _refusal(answer, purpose)
        return answer.token

    # opening

    async def open_token(
        self, token: str, *, event_id: uuid.UUID, traceparent: str | None = None
    ) -> dict[str, Any]:
        """Open one section; KeyRefusedError or a SealingError when it does not open."""
        data_key = await self.key(kid_of(token), traceparent=traceparent)
        return open_section(token, key=data_key.key, event_id=event_id)

    async def open_section(self, event: CloudEvent[Any], purpose: Purpose) -> dict[str, Any]:
        """Open the event's section of `purpose`; KeyRefusedError when kluis refuses."""
        token = event.data.sealed.get(purpose)
        if token is None:
            raise KeyError(f"the event has no {purpose.value} section")
        return await self.open_token(token, event_id=event.id, traceparent=event.traceparent)

    async def open(self, event: CloudEvent[Any]) -> dict[Purpose, dict[str, Any]]:
        """Open every section of the event; KeyRefusedError on the first refusal."""
        return {
            Purpose(purpose): await self.open_section(event, Purpose(purpose))
            for purpose in event.data.sealed
        }

    async def open_available(self, event: CloudEvent[Any]) -> OpenedSections:
        """Open what we may; what kluis refuses is listed instead of raised."""
        opened = OpenedSections()
        for raw_purpose in event.data.sealed:
            purpose = Purpose(raw_purpose)
            try:
                opened.sections[purpose] = await self.open_section(event, purpose)
            except KeyRefusedError as refused:
                opened.refused[purpose] = refused
        return opened


def _refusal(answer: KluisAnswer, purpose: Purpose) -> KeyRefusedError:
    if answer.refusal is None:
        return KeyRefusedError("invalid-request", "kluis gave no key", purpose=purpose)
    return KeyRefusedError(answer.refusal.code, answer.refusal.reason, purpose=purpose)

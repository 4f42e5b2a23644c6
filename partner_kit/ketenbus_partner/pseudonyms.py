"""The pseudonym client: a partner's way to its children's pseudonyms without the secret.

`PseudonymClient` asks the pseudonym service (`ketenbus.pseudonym`, request/reply) with a
request signed by the partner's Ed25519 key; the identifiers (BSNs, BRIN + pupil keys,
household keys) go sealed to the service's X25519 key, never in clear. `resolve` asks for many
at once (in requests of up to `MAX_BATCH`) and gives a `ResolvedPseudonyms`, a synchronous
`Pseudonymiser` an import can use while it walks a file.

The service's public key comes from the backbone's bucket of its signers' keys
(`ketenbus_partner.keys.SignerKeySource`, read over the partner's own connection), else the
data dir (`partner-keys/pseudonym.json`, written when the service starts on that host).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from joserfc.jwk import OKPKey
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from ketenbus_contracts.pseudonym import (
    MAX_BATCH,
    PSEUDONYM_REQUEST_TYP,
    PSEUDONYM_SERVICE,
    PSEUDONYM_SUBJECT,
    ChildBsn,
    HouseholdKey,
    PseudonymAnswer,
    PseudonymRequest,
    PseudonymResult,
    PupilKey,
    identifiers_of,
)
from ketenbus_contracts.sealing import PartnerKeys, encrypt_to, sign_request
from ketenbus_partner.keys import SignerKeySource, load_or_create_partner_keys

log = structlog.get_logger(__name__)

AnyIdentifier = ChildBsn | PupilKey | HouseholdKey
ServiceKeySource = Callable[[], OKPKey | Awaitable[OKPKey | None] | None]


class PseudonymClientError(Exception):
    """No pseudonym could be had."""


class PseudonymRefusedError(PseudonymClientError):
    """The service refused the request (or one identifier in it), with a kebab-case code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"pseudonym refused ({code}): {reason}")
        self.code = code
        self.reason = reason


class PseudonymServiceUnavailableError(PseudonymClientError):
    """The pseudonym service did not answer in time (or its key is not published yet)."""


class UnresolvedIdentifierError(PseudonymClientError):
    """Asked a `ResolvedPseudonyms` for an identifier that was not resolved beforehand."""


@dataclass(frozen=True)
class ResolvedPseudonyms:
    """Answers of the pseudonym service, looked up synchronously (a `Pseudonymiser`)."""

    results: Mapping[AnyIdentifier, PseudonymResult]

    def _get(self, identifier: AnyIdentifier) -> str:
        try:
            result = self.results[identifier]
        except KeyError:
            raise UnresolvedIdentifierError(f"no {identifier.kind} asked for") from None
        if result.pseudonym is None:
            raise PseudonymRefusedError(result.code or "invalid-request", "refused by the service")
        return result.pseudonym

    def child(self, bsn: str) -> str:
        return self._get(ChildBsn(bsn=bsn))

    def pupil(self, brin: str, pupil_key: str) -> str:
        return self._get(PupilKey(brin=brin, pupil_key=pupil_key))

    def household(self, household_key: str) -> str:
        return self._get(HouseholdKey(household_key=household_key))


class PseudonymClient:
    """One partner's requests to the pseudonym service."""

    def __init__(
        self,
        keys: PartnerKeys,
        nc: NatsClient,
        *,
        service_key: OKPKey | ServiceKeySource,
        timeout: float = 10.0,
    ) -> None:
        self.partner = keys.partner
        self._keys = keys
        self._nc = nc
        self._service_key = service_key
        self.timeout = timeout

    @classmethod
    def for_partner(
        cls, data_dir: Path, partner: str, nc: NatsClient, **kwargs: float
    ) -> PseudonymClient:
        """A client with the partner's keys from the data dir (made on first use); the
        service's key from the backbone's bucket, else the data dir."""
        service = SignerKeySource(nc, PSEUDONYM_SERVICE, data_dir)
        keys = load_or_create_partner_keys(data_dir, partner)
        return cls(keys, nc, service_key=service.encryption, **kwargs)

    @property
    def keys(self) -> PartnerKeys:
        """The partner's own key pairs (its requests are signed with them)."""
        return self._keys

    async def service_key(self) -> OKPKey:
        """The pseudonym service's X25519 key, waiting up to `timeout` for it to be published."""
        return await self._recipient(time.monotonic() + self.timeout)

    async def _recipient(self, deadline: float) -> OKPKey:
        while True:
            key = self._service_key if isinstance(self._service_key, OKPKey) else None
            if key is None and callable(self._service_key):
                found = self._service_key()
                key = await found if inspect.isawaitable(found) else found
            if key is not None:
                return key
            if time.monotonic() > deadline:
                raise PseudonymServiceUnavailableError("the pseudonym service has no key yet")
            await asyncio.sleep(0.1)  # the service publishes its key when it starts

    async def ask(
        self, identifiers: Sequence[AnyIdentifier], *, traceparent: str | None = None
    ) -> list[PseudonymResult]:
        """One request for up to `MAX_BATCH` identifiers; the results in the same order."""
        deadline = time.monotonic() + self.timeout
        recipient = await self._recipient(deadline)
        request = PseudonymRequest(
            partner=self.partner,
            traceparent=traceparent,
            count=len(identifiers),
            identifiers=encrypt_to(identifiers_of(identifiers), recipient),
        )
        payload = sign_request(request, self._keys.signing, typ=PSEUDONYM_REQUEST_TYP)
        while True:
            try:
                reply = await self._nc.request(PSEUDONYM_SUBJECT, payload, timeout=self.timeout)
                break
            except NoRespondersError as exc:
                if time.monotonic() > deadline:  # the service is (re)starting: ask again
                    raise PseudonymServiceUnavailableError("no pseudonym service") from exc
                await asyncio.sleep(0.1)
            except NatsTimeoutError as exc:
                raise PseudonymServiceUnavailableError("the pseudonym service timed out") from exc
        answer = PseudonymAnswer.model_validate_json(reply.data)
        if not answer.ok or answer.refusal is not None:
            refusal = answer.refusal
            code, reason = (refusal.code, refusal.reason) if refusal else ("invalid-request", "")
            raise PseudonymRefusedError(code, reason)
        if len(answer.results) != len(identifiers):
            raise PseudonymRefusedError("invalid-request", "the answer does not match the request")
        return answer.results

    async def resolve(self, identifiers: Iterable[AnyIdentifier]) -> ResolvedPseudonyms:
        """The pseudonyms of many identifiers (duplicates asked once), `MAX_BATCH` a request."""
        unique = list(dict.fromkeys(identifiers))
        results: dict[AnyIdentifier, PseudonymResult] = {}
        for start in range(0, len(unique), MAX_BATCH):
            chunk = unique[start : start + MAX_BATCH]
            results.update(zip(chunk, await self.ask(chunk), strict=True))
        log.info("pseudonyms_resolved", partner=self.partner, count=len(unique))
        return ResolvedPseudonyms(results)

    async def _one(self, identifier: AnyIdentifier) -> str:
        return (await self.resolve([identifier]))._get(identifier)

    async def child(self, bsn: str) -> str:
        """The child's pseudonym from its BSN (`invalid-bsn` if it fails the eleven-check)."""
        return await self._one(ChildBsn(bsn=bsn))

    async def pupil(self, brin: str, pupil_key: str) -> str:
        """A pupil's pseudonym from its school's BRIN and key (`not-own-brin` for another's)."""
        return await self._one(PupilKey(brin=brin, pupil_key=pupil_key))

    async def household(self, household_key: str) -> str:
        return await self._one(HouseholdKey(household_key=household_key))

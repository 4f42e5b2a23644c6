"""A signed request is answered once, and only while it is fresh: attacks on kluis and the plan
query by a school on its own NATS user, under the registry's authorization.

Every signed request carries the sender's own `issued_at` and `nonce` (contracts/asyncapi.yaml,
docs/partners.md). Before, the services completed a request without them with their own
defaults (and answered it), and only kluis's batches, pseudonyms and attachments kept the
nonces they had answered: a key request or plan query copied off the wire was answered again
for as long as it was fresh, and one without `issued_at` for ever.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jws
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, PLAN_QUERY_TYP
from ketenbus_contracts.sealing import KLUIS_KEY_SUBJECT, KLUIS_REQUEST_TYP, PartnerKeys
from ketenbus_partner.keys import load_or_create_partner_keys
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.backbone import InProcessBackbone
from tests.integration.helpers import SCHOOL, child

pytestmark = pytest.mark.integration


def signed(keys: PartnerKeys, typ: str, claims: dict[str, Any]) -> bytes:
    """A JWS over exactly these claims, as a partner's own system would make it."""
    header = {"alg": "Ed25519", "kid": keys.partner, "typ": typ}
    token = jws.serialize_compact(header, json.dumps(claims), keys.signing, algorithms=["Ed25519"])
    return token.encode("ascii")


def key_claims(**changed: Any) -> dict[str, Any]:
    claims = {
        "partner": SCHOOL.partner,
        "issued_at": int(time.time()),
        "nonce": uuid.uuid4().hex,
        "child": child(1),
        "purpose": "signalling",
        "scope": SCHOOL.partner,
        "op": "key",
    }
    return {k: v for k, v in {**claims, **changed}.items() if v is not None}


def plan_claims(**changed: Any) -> dict[str, Any]:
    claims = {
        "partner": SCHOOL.partner,
        "issued_at": int(time.time()),
        "nonce": uuid.uuid4().hex,
        "op": "plan",
        "child": child(1),
    }
    return {k: v for k, v in {**claims, **changed}.items() if v is not None}


def kluis_code(answer: dict[str, Any]) -> str:
    return str((answer.get("refusal") or {}).get("code", "answered"))


def plan_code(answer: dict[str, Any]) -> str:
    return str(answer.get("refusal") or "answered")


# Each service's subject, JWS typ, claims and how its answer names a refusal.
SERVICES = {
    "kluis": (KLUIS_KEY_SUBJECT, KLUIS_REQUEST_TYP, key_claims, kluis_code),
    "plan": (PLAN_QUERY_SUBJECT, PLAN_QUERY_TYP, plan_claims, plan_code),
}


@pytest.fixture(scope="class")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backbone]:
    data_dir = tmp_path_factory.mktemp("freshness") / "data"
    settings = Settings(data_dir=data_dir, store="sqlite", nats_auth="registry")
    with InProcessBackbone(settings, ["kluis", "integral-plan"]) as started:
        yield started


@pytest.mark.parametrize("service", sorted(SERVICES))
class TestSignedRequestsUnderAuthorization:
    def ask(self, backbone: Backbone, service: str, tokens: list[bytes]) -> list[str]:
        """The school sends these tokens in turn on its own connection: each answer's code."""
        subject, _, _, code = SERVICES[service]

        async def run() -> list[str]:
            nc: NatsClient = await partner_connect(backbone.settings, SCHOOL.partner, backbone.url)
            try:
                answers = []
                for token in tokens:
                    reply = await nc.request(subject, token, timeout=30)
                    answers.append(code(json.loads(reply.data)))
                return answers
            finally:
                await nc.close()

        return asyncio.run(run())

    def keys(self, backbone: Backbone) -> PartnerKeys:
        return load_or_create_partner_keys(backbone.settings.data_dir, SCHOOL.partner)

    def test_a_replayed_signed_request_is_refused(self, backbone: Backbone, service: str) -> None:
        _, typ, claims, _ = SERVICES[service]
        token = signed(self.keys(backbone), typ, claims())

        first, again = self.ask(backbone, service, [token, token])

        assert (True, "replayed-request") == (first != "replayed-request", again)

    def test_a_request_without_issued_at_or_nonce_is_refused(
        self, backbone: Backbone, service: str
    ) -> None:
        _, typ, claims, _ = SERVICES[service]
        keys = self.keys(backbone)
        tokens = [signed(keys, typ, claims(issued_at=None)), signed(keys, typ, claims(nonce=None))]

        assert ["invalid-request", "invalid-request"] == self.ask(backbone, service, tokens)

    def test_a_request_outside_the_window_is_refused(
        self, backbone: Backbone, service: str
    ) -> None:
        _, typ, claims, _ = SERVICES[service]
        keys = self.keys(backbone)
        now = int(time.time())
        tokens = [
            signed(keys, typ, claims(issued_at=now - 600)),
            signed(keys, typ, claims(issued_at=now + 600)),
        ]

        assert ["stale-request", "stale-request"] == self.ask(backbone, service, tokens)

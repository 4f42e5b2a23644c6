"""A signed request is answered once, and only while it is fresh: attacks on kluis and the plan
query by a school on its own NATS user, under the registry's authorization.

Every signed request carries the sender's own `issued_at` and `nonce` (contracts/asyncapi.yaml,
docs/partners.md). Before, the services completed a request without them with their own
defaults (and answered it), and only kluis's batches, pseudonyms and attachments kept the
nonces they had answered: a key request or plan query copied off the wire was answered again
for as long as it was fresh, and one without `issued_at` for ever.

The nonces a service answered are its instances' together and outlive a restart: they are kept
in the service's own JetStream key-value bucket (`ketenbus-replays-<service>`, taken with a
create that fails when the key exists), which no partner and no other service may read or
write. Before, each instance kept its own in memory: a request answered by one instance was
answered again by another, or by the same after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import nats.errors
import pytest
from joserfc import jws
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, PLAN_QUERY_TYP
from ketenbus_contracts.sealing import KLUIS_KEY_SUBJECT, KLUIS_REQUEST_TYP, PartnerKeys
from ketenbus_partner.keys import load_or_create_partner_keys
from services.runtime import nats_auth
from services.runtime.host import health_subject
from services.runtime.nats_auth import partner_connect
from services.runtime.replay import nonce_key
from services.runtime.settings import Settings
from services.runtime.streams import replay_bucket
from services.runtime.supervisor import Backbone
from tests.backbone import InProcessBackbone
from tests.conftest import StartBackbone, StoreBackend
from tests.integration.helpers import SCHOOL, child, eventually
from tests.integration.test_instances import DENIED, Instances

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

    def test_a_request_answered_before_a_restart_is_refused_after_it(
        self, backbone: Backbone, service: str
    ) -> None:
        _, typ, claims, _ = SERVICES[service]
        token = signed(self.keys(backbone), typ, claims())
        [first] = self.ask(backbone, service, [token])
        name = "kluis" if service == "kluis" else "integral-plan"

        backbone.stop_service(name)
        backbone.start_service(name)
        asyncio.run(backbone.wait_until_ready(120))

        assert (True, ["replayed-request"]) == (
            first != "replayed-request",
            self.ask(backbone, service, [token]),
        )

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


PLAN = "integral-plan"
BURST = 8


async def instances_answering(nc: NatsClient) -> set[str]:
    """The instances of the integral plan that answer its health subject (each one does)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(health_subject(PLAN), b"", reply=inbox)
        seen: set[str] = set()
        with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
            while True:
                msg = await sub.next_msg(timeout=1.0)
                if msg.data:  # not the server's "no responders"
                    seen.add(str(json.loads(msg.data).get("instance")))
        return seen
    finally:
        await sub.unsubscribe()


class TestOneServiceOnTwoInstances(StoreBackend):
    """The integral plan on two instances (PostgreSQL, the registry's authorization): a plan
    query is answered once, whichever instance it reaches."""

    store = "postgres"

    def test_the_same_query_to_both_instances_is_answered_once_and_no_partner_reaches_the_nonces(
        self, settings: Settings, start_backbone: StartBackbone, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = settings.model_copy(
            update={"nats_auth": "registry", "lease_ttl": 3.0, "audit_witness_interval": 0}
        )
        monkeypatch.setenv("KETENBUS_INTEGRAL_PLAN_INSTANCES", "2")
        backbone = start_backbone(settings, [], processes=True)
        instances = Instances(backbone, monkeypatch)
        keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
        bucket = replay_bucket(PLAN).name

        async def scenario() -> tuple[list[str], list[str]]:
            watcher = await nats_auth.connect(settings, "backbone", backbone.url)
            school = await partner_connect(settings, SCHOOL.partner, backbone.url)
            signalling = await nats_auth.connect(settings, "signalling", backbone.url)
            try:
                instances.start("plan-a")
                instances.start("plan-b")
                await eventually(lambda: _both(watcher), "two instances answering", timeout=180)
                token = signed(keys, PLAN_QUERY_TYP, plan_claims())
                # The same query many times at once: the queue group hands each copy to either
                # instance; the server's create decides which one copy is answered.
                replies = await asyncio.gather(
                    *(school.request(PLAN_QUERY_SUBJECT, token, timeout=30) for _ in range(BURST))
                )
                codes = sorted(plan_code(json.loads(r.data)) for r in replies)
                # No partner, and no other service, reads or writes the plan's nonces: none can
                # forget a nonce (to replay) or spend one ahead (to refuse a request).
                key = f"$KV.{bucket}.{nonce_key(SCHOOL.partner, 'x')}"
                attempts = [
                    attempt
                    for nc in (school, signalling)
                    for attempt in (
                        nc.jetstream().key_value(bucket),
                        nc.jetstream().publish(key, b"1", timeout=2),
                        nc.request(f"$JS.API.DIRECT.GET.KV_{bucket}.{key}", b"", timeout=2),
                        nc.jetstream().purge_stream(f"KV_{bucket}"),
                    )
                ]
                outcomes = await asyncio.gather(*attempts, return_exceptions=True)
                denied = [
                    type(o).__name__ if isinstance(o, DENIED) else f"allowed: {o!r}"
                    for o in outcomes
                ]
                instances.alive()
                return codes, denied
            finally:
                for nc in (watcher, school, signalling):
                    await nc.close()
                instances.stop()

        codes, denied = asyncio.run(scenario())

        assert ["replayed-request"] * (BURST - 1) == [c for c in codes if c == "replayed-request"]
        assert 1 == len([c for c in codes if c != "replayed-request"])
        assert [] == [d for d in denied if d.startswith("allowed")]


async def _both(watcher: NatsClient) -> bool:
    return {"plan-a", "plan-b"} <= await instances_answering(watcher)

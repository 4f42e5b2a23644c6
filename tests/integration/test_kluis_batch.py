"""Attacks on kluis's batch by a school with its own credentials, under registry authorization.

kluis runs as its own NATS user under the generated permissions; the school asks over its own
connection (its user, its inbox), signed with its own keys. A batch naming a child the school
has no relation with gets that item refused (no key) while the rest is sealed; an oversized
batch and a replayed one are refused whole; every item decided is one processing record.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from nats.aio.client import Client as NatsClient

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    KLUIS_BATCH_SUBJECT,
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    BatchKey,
    BatchSeal,
    KluisBatchAnswer,
    KluisBatchRequest,
    encrypt_to,
    sign_request,
)
from ketenbus_partner.keyring import Keyring, SealJob
from ketenbus_partner.keys import load_or_create_partner_keys, load_public_keys
from services.kluis.bootstrap import create_application
from services.kluis.domain import Decision, ProcessingRecord
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend

pytestmark = pytest.mark.integration

SCHOOL = "bs-de-regenboog"
T = TypeVar("T")


def pupil(n: int) -> str:
    """The n-th pupil's pseudonym (32 base32 characters)."""
    return base64.b32encode(hashlib.sha256(f"p{n}".encode()).digest()).decode().lower()[:32]


STRANGER = pupil(999)  # a child the school has no relation with


class KluisBatchCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, ["kluis"])

    def as_school(
        self, backbone: Backbone, work: Callable[[NatsClient], Coroutine[Any, Any, T]]
    ) -> T:
        async def run() -> T:
            nc = await partner_connect(backbone.settings, SCHOOL, backbone.url)
            try:
                return await work(nc)
            finally:
                await nc.close()

        return asyncio.run(run())

    def records(self, backbone: Backbone) -> list[ProcessingRecord]:
        application = create_application(backbone.settings)
        try:
            return application.processing_records(requester=SCHOOL)
        finally:
            application.close()

    def signed_batch(self, backbone: Backbone, items: list[BatchKey | BatchSeal]) -> bytes:
        data_dir = backbone.settings.data_dir
        kluis = load_public_keys(data_dir, "kluis")
        assert kluis is not None
        sections = [{"name": "x"} if isinstance(i, BatchSeal) else None for i in items]
        request = KluisBatchRequest(
            partner=SCHOOL,
            items=items,
            sections=encrypt_to({"sections": sections}, kluis.encryption),
        )
        return sign_request(request, load_or_create_partner_keys(data_dir, SCHOOL).signing)

    def test_the_school_has_its_pupils_sealed_but_gets_no_key_of_a_child_it_has_no_relation_with(
        self, backbone: Backbone
    ) -> None:
        async def ask(nc: NatsClient) -> tuple[list[Any], dict[Any, Any]]:
            keyring = Keyring.for_partner(backbone.settings.data_dir, SCHOOL, nc)
            jobs = [
                SealJob({"name": f"pupil {n}"}, pupil(n), Purpose.IDENTITY, uuid.uuid4())
                for n in range(3)
            ]
            sealed = await keyring.seal_many(jobs)
            keys = await keyring.sealing_keys(
                [(STRANGER, Purpose.IDENTITY), (STRANGER, Purpose.ATTENDANCE)]
            )
            return sealed, keys

        sealed, keys = self.as_school(backbone, ask)

        assert [str, str, str] == [type(s) for s in sealed]
        assert ["no-relation", "no-relation"] == [getattr(k, "code", None) for k in keys.values()]
        records = self.records(backbone)
        assert [Decision.RELEASED] * 3 + [Decision.REFUSED] * 2 == [r.decision for r in records]
        assert [pupil(n) for n in range(3)] + [STRANGER] * 2 == [r.data_subject for r in records]

    def test_a_batch_with_a_child_without_a_relation_refuses_only_that_item(
        self, backbone: Backbone
    ) -> None:
        body = self.signed_batch(
            backbone,
            [
                BatchSeal(
                    child=pupil(1), purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=uuid.uuid4()
                ),
                BatchKey(child=STRANGER, purpose=Purpose.IDENTITY, scope=SCHOOL),
                # writing under another school's scope is not the school's either
                BatchSeal(
                    child=pupil(2),
                    purpose=Purpose.IDENTITY,
                    scope="vo-het-lyceum",
                    event_id=uuid.uuid4(),
                ),
            ],
        )

        async def ask(nc: NatsClient) -> KluisBatchAnswer:
            reply = await nc.request(KLUIS_BATCH_SUBJECT, body, timeout=30)
            return KluisBatchAnswer.model_validate_json(reply.data)

        answer = self.as_school(backbone, ask)

        outcome = [
            (r.refusal.code if r.refusal else None, r.key is None, r.token is None)
            for r in answer.results
        ]
        assert [
            (None, True, False),
            ("no-relation", True, True),
            ("scope-not-permitted", True, True),
        ] == outcome
        records = [(r.data_subject, r.decision) for r in self.records(backbone)]
        assert [
            (pupil(1), Decision.RELEASED),
            (STRANGER, Decision.REFUSED),
            (pupil(2), Decision.REFUSED),
        ] == records

    def test_an_oversized_batch_is_refused_whole_and_nothing_is_recorded(
        self, backbone: Backbone
    ) -> None:
        many: list[BatchKey | BatchSeal] = [
            BatchKey(child=pupil(n), purpose=Purpose.IDENTITY, scope=SCHOOL)
            for n in range(MAX_BATCH_ITEMS + 1)
        ]
        bodies = [self.signed_batch(backbone, many), b"x" * (MAX_BATCH_BYTES + 1)]

        async def ask(nc: NatsClient) -> list[str | None]:
            codes = []
            for body in bodies:
                reply = await nc.request(KLUIS_BATCH_SUBJECT, body, timeout=30)
                answer = KluisBatchAnswer.model_validate_json(reply.data)
                codes.append(answer.refusal.code if answer.refusal else None)
            return codes

        assert ["batch-too-large"] * 2 == self.as_school(backbone, ask)
        assert [] == self.records(backbone)

    def test_a_replayed_batch_is_refused_and_records_nothing_more(self, backbone: Backbone) -> None:
        body = self.signed_batch(
            backbone,
            [
                BatchSeal(
                    child=pupil(1), purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=uuid.uuid4()
                )
            ],
        )

        async def ask(nc: NatsClient) -> list[tuple[bool, str | None]]:
            answers = []
            for _ in range(2):
                reply = await nc.request(KLUIS_BATCH_SUBJECT, body, timeout=30)
                answer = KluisBatchAnswer.model_validate_json(reply.data)
                answers.append((answer.ok, answer.refusal.code if answer.refusal else None))
            return answers

        assert [(True, None), (False, "replayed-request")] == self.as_school(backbone, ask)
        assert 1 == len(self.records(backbone))


class TestKluisBatchSqlite(KluisBatchCase):
    store = "sqlite"


class TestKluisBatchPostgres(KluisBatchCase):
    store = "postgres"

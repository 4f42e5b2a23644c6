"""kluis's batch without NATS: many key and seal requests in one signed request, each item
decided and recorded on its own, in one transaction; a replayed or oversized batch refused whole.
"""

# The fixtures `app` and `keys` come from test_kluis_application (same kluis, same partners).
# ruff: noqa: F811

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    BatchKey,
    BatchSeal,
    KluisBatchAnswer,
    KluisBatchRequest,
    PartnerKeys,
    encrypt_to,
    open_section,
    receive_key,
    sign_request,
)
from ketenbus_partner.keyring import batches_of
from services.kluis.application import KluisApplication
from services.kluis.domain import Decision
from tests.unit.test_kluis_application import (  # noqa: F401
    CHILD,
    TRACEPARENT,
    app,
    consume,
    keys,
    signal_by,
)

SCHOOL = "bs-de-regenboog"
STRANGER = "c" * 32  # a child the school has no relation with


def pupil(n: int) -> str:
    """The n-th pupil's pseudonym (32 base32 characters)."""
    return base64.b32encode(hashlib.sha256(str(n).encode()).digest()).decode().lower()[:32]


def batch(
    app: KluisApplication,
    keys: dict[str, PartnerKeys],
    items: list[BatchKey | BatchSeal],
    sections: list[dict[str, Any] | None] | None = None,
    partner: str = SCHOOL,
) -> KluisBatchAnswer:
    return app.answer_batch(signed(keys, items, sections, partner))


def signed(
    keys: dict[str, PartnerKeys],
    items: list[BatchKey | BatchSeal],
    sections: list[dict[str, Any] | None] | None = None,
    partner: str = SCHOOL,
) -> bytes:
    kluis = keys["kluis"].public().encryption
    request = KluisBatchRequest(
        partner=partner,
        traceparent=TRACEPARENT,
        items=items,
        sections=encrypt_to({"sections": sections}, kluis) if sections else None,
    )
    return sign_request(request, keys[partner].signing)


def codes(answer: KluisBatchAnswer) -> list[str | None]:
    return [r.refusal.code if r.refusal else None for r in answer.results]


def test_kluis_seals_every_pupil_of_a_batch_and_records_one_release_per_child(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    children = [pupil(n) for n in range(3)]
    ids = [uuid.uuid4() for _ in children]
    items: list[BatchKey | BatchSeal] = [
        BatchSeal(child=c, purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=i)
        for c, i in zip(children, ids, strict=True)
    ]

    answer = batch(app, keys, items, [{"name": f"pupil {n}"} for n in range(3)])

    assert [None, None, None] == codes(answer)
    opened = [
        open_section(
            r.token or "",
            key=app.keystore.sealing_key(c, Purpose.IDENTITY, SCHOOL).key,
            event_id=i,
        )
        for r, c, i in zip(answer.results, children, ids, strict=True)
    ]
    assert [{"name": f"pupil {n}"} for n in range(3)] == opened
    records = app.processing_records(requester=SCHOOL)
    assert sorted(children) == sorted(r.data_subject for r in records)
    assert {(Decision.RELEASED, TRACEPARENT[3:35])} == {(r.decision, r.trace_id) for r in records}


def test_a_batch_asking_the_key_of_a_child_without_a_relation_refuses_that_item_only(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys[SCHOOL]
    consume(app, signal_by(SCHOOL, uuid.uuid4()))  # the school's relation with CHILD
    items: list[BatchKey | BatchSeal] = [
        BatchKey(child=CHILD, purpose=Purpose.SIGNALLING, scope=SCHOOL),
        BatchKey(child=STRANGER, purpose=Purpose.SIGNALLING, scope=SCHOOL),
        BatchKey(child=STRANGER, purpose=Purpose.IDENTITY, scope=SCHOOL),
    ]

    answer = batch(app, keys, items)

    assert [None, "no-relation", "no-relation"] == codes(answer)
    released = receive_key(answer.results[0].key or "", school.encryption)
    assert f"{CHILD}/signalling/{SCHOOL}/1" == released.kid
    assert [None, None] == [r.key for r in answer.results[1:]]
    refused = app.processing_records(data_subject=STRANGER)
    assert [Decision.REFUSED, Decision.REFUSED] == [r.decision for r in refused]
    assert [] == app.keystore.versions(STRANGER, Purpose.SIGNALLING, SCHOOL)


def test_a_seal_under_another_partners_scope_is_refused_while_the_rest_is_sealed(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    items: list[BatchKey | BatchSeal] = [
        BatchSeal(child=pupil(1), purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=uuid.uuid4()),
        BatchSeal(
            child=pupil(2),
            purpose=Purpose.IDENTITY,
            scope="vo-het-lyceum",
            event_id=uuid.uuid4(),
        ),
    ]

    answer = batch(app, keys, items, [{"name": "a"}, {"name": "b"}])

    assert [None, "scope-not-permitted"] == codes(answer)
    assert [] == app.keystore.versions(pupil(2), Purpose.IDENTITY, "vo-het-lyceum")


def test_a_replayed_batch_is_refused_whole_and_records_nothing_more(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    body = signed(
        keys,
        [BatchSeal(child=pupil(1), purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=uuid.uuid4())],
        [{"name": "a"}],
    )

    first = app.answer_batch(body)
    again = app.answer_batch(body)

    assert (True, False) == (first.ok, again.ok)
    assert ("replayed-request", []) == (
        again.refusal.code if again.refusal else None,
        again.results,
    )
    assert 1 == len(app.processing_records(requester=SCHOOL))


def test_a_batch_of_too_many_items_or_bytes_is_refused_whole_without_a_record(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    many: list[BatchKey | BatchSeal] = [
        BatchKey(child=pupil(n), purpose=Purpose.IDENTITY, scope=SCHOOL)
        for n in range(MAX_BATCH_ITEMS + 1)
    ]
    large = b"x" * (MAX_BATCH_BYTES + 1)

    answers = [batch(app, keys, many), app.answer_batch(large)]

    assert ["batch-too-large"] * 2 == [a.refusal.code if a.refusal else None for a in answers]
    assert [] == app.processing_records(requester=SCHOOL)


def test_a_batch_signed_by_another_than_it_names_is_refused_whole(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    request = KluisBatchRequest(
        partner=SCHOOL, items=[BatchKey(child=CHILD, purpose=Purpose.IDENTITY, scope=SCHOOL)]
    )
    forged = sign_request(request, PartnerKeys.generate(SCHOOL).signing)

    answer = app.answer_batch(forged)

    assert "bad-signature" == (answer.refusal.code if answer.refusal else None)


def test_a_batch_writes_its_keys_and_records_in_one_transaction(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    statements: list[str] = []
    app.keystore._conn.set_trace_callback(statements.append)
    items: list[BatchKey | BatchSeal] = [
        BatchSeal(child=pupil(n), purpose=Purpose.IDENTITY, scope=SCHOOL, event_id=uuid.uuid4())
        for n in range(20)
    ]

    batch(app, keys, items, [{"name": str(n)} for n in range(20)])

    assert ["BEGIN IMMEDIATE", "COMMIT"] == [
        s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")
    ]
    assert 20 == len(app.processing_records(requester=SCHOOL))


def test_the_client_splits_what_does_not_fit_one_batch() -> None:
    parts = batches_of([100] * (MAX_BATCH_ITEMS + 1) + [MAX_BATCH_BYTES])

    assert [MAX_BATCH_ITEMS, 1, 1] == [len(p) for p in parts]

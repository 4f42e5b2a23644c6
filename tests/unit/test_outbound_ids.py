"""The outbox's ids, made without `uuid.uuid5`, are the ids `uuid.uuid5` made: they are the
`Nats-Msg-Id` of every relayed event, so a re-publish after the change (a relay started again
from its recorded position) must carry the id the first publish had, for JetStream to drop it."""

from __future__ import annotations

import pickle
import random
import uuid
from dataclasses import dataclass

from services.runtime.outbox import OUTBOX_NAMESPACE, outbound_event_id


@dataclass
class Stored:
    originator_id: uuid.UUID
    originator_version: int


def uuid5_id(application_name: str, event: Stored) -> uuid.UUID:
    """How the outbox made its ids before (services/runtime/outbox.py until 2026-12-04)."""
    key = f"{application_name}/{event.originator_id}/{event.originator_version}"
    return uuid.uuid5(OUTBOX_NAMESPACE, key)


def test_the_outbox_ids_are_the_uuid5_ids_they_were() -> None:
    draw = random.Random(20)
    names = ["signalling", "integral_plan", "handover", "kluis", "truancy", "arrangements", "ö"]
    events = [
        (name, Stored(uuid.UUID(int=draw.getrandbits(128)), draw.randrange(1, 10**6)))
        for name in names
        for _ in range(2000)
    ] + [
        ("signalling", Stored(uuid.UUID(int=0), 1)),
        ("kluis", Stored(uuid.UUID(int=2**128 - 1), 1)),
    ]

    expected = [uuid5_id(name, event) for name, event in events]
    actual = [outbound_event_id(name, event) for name, event in events]

    assert expected == actual
    # As values they behave as uuid5's: text, version, variant, hashing, pickling.
    assert [(str(u), u.version, u.variant, hash(u)) for u in expected] == [
        (str(u), u.version, u.variant, hash(u)) for u in actual
    ]
    assert actual == pickle.loads(pickle.dumps(actual))


def test_an_outbox_id_is_the_one_published_before() -> None:
    """One id as the outbox has published it since it began (the namespace never changes)."""
    event = Stored(uuid.UUID(int=1), 1)

    assert uuid.UUID("fb8a0d0d-8f1b-53a9-920b-4b639e6aa759") == outbound_event_id(
        "signalling", event
    )

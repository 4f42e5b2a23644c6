"""The keyring's caches obey kluis within their TTL: an ended relation closes a cached key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    DataKey,
    KluisAnswer,
    PartnerKeys,
    Refusal,
    deliver_key,
    make_kid,
)
from ketenbus_partner.keyring import KeyRefusedError, Keyring

CHILD = "d" * 32
PARTNER = "vo-het-lyceum"


@dataclass
class FakeKluis:
    """Answers key requests: the key while the relation lasts, `relation-ended` after."""

    recipient: PartnerKeys
    related: bool = True
    asked: list[str] = field(default_factory=list)

    async def request(self, subject: str, payload: bytes, timeout: float) -> Any:
        self.asked.append(subject)
        if self.related:
            key = DataKey(make_kid(CHILD, Purpose.SIGNALLING, PARTNER, 1), bytes(32))
            answer = KluisAnswer(
                ok=True, kid=key.kid, key=deliver_key(key, self.recipient.public().encryption)
            )
        else:
            answer = KluisAnswer(
                ok=False, refusal=Refusal(code="relation-ended", reason="the relation ended")
            )
        return SimpleNamespace(data=answer.model_dump_json().encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keyring_with(kluis: FakeKluis, clock: Clock) -> Keyring:
    return Keyring(kluis.recipient, kluis, ttl=60.0, refusal_ttl=5.0, clock=clock)  # type: ignore[arg-type]


def outcome(keyring: Keyring) -> str:
    async def ask() -> str:
        try:
            return (await keyring.sealing_key(CHILD, Purpose.SIGNALLING)).kid
        except KeyRefusedError as refused:
            return refused.code

    return asyncio.run(ask())


def test_a_cached_key_serves_until_its_ttl_and_then_the_ended_relation_is_refused() -> None:
    kluis, clock = FakeKluis(PartnerKeys.generate(PARTNER)), Clock()
    keyring = keyring_with(kluis, clock)
    kid = f"{CHILD}/signalling/{PARTNER}/1"

    first = outcome(keyring)
    kluis.related = False
    clock.now += 59.0
    within_ttl = outcome(keyring)
    clock.now += 2.0
    after_ttl = outcome(keyring)

    assert [kid, kid, "relation-ended"] == [first, within_ttl, after_ttl]
    assert 2 == len(kluis.asked)


def test_the_keyring_caches_keys_per_scope_not_per_purpose() -> None:
    kluis, clock = FakeKluis(PartnerKeys.generate(PARTNER)), Clock()
    keyring = keyring_with(kluis, clock)

    async def both() -> list[str]:
        own = await keyring.sealing_key(CHILD, Purpose.SIGNALLING)
        kluis.related = False
        try:
            await keyring.sealing_key(
                CHILD, Purpose.SIGNALLING, scope={Purpose.SIGNALLING: "jgz-gelderland-zuid"}
            )
        except KeyRefusedError as refused:
            return [own.kid, refused.code]
        return [own.kid, "opened"]

    assert [f"{CHILD}/signalling/{PARTNER}/1", "relation-ended"] == asyncio.run(both())

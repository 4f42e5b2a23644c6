"""Answering a signed request once: the nonces seen within the freshness window.

Every signed request (kluis's key, seal, reseal and batch requests, the pseudonym service's, the
plan and worklist queries, the handover's attachment requests) carries a `nonce`; a request
copied off the wire and sent again while it is fresh is refused (`replayed-request`) instead of
being answered (and logged, and charged) a second time.

A running service keeps the nonces in its own JetStream key-value bucket
(`streams.replay_bucket`, made by the supervisor; only the service's own NATS user may use it):
a nonce is taken with a create that fails when its key exists, so the server decides which of a
service's instances answers a request, and a restart forgets nothing. The bucket's TTL
(`streams.REPLAY_TTL`) outlives the freshness window: a request older than the window is refused
as stale before it gets here. The key is a hash of the partner and the nonce (nothing of the
request, and key-safe whatever a partner puts in its nonce).

`ReplayGuard` keeps the nonces in memory: an application made without a running service (the
unit tests, a command) has one until its service gives it the shared one.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Protocol

from nats.aio.client import Client as NatsClient
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.runtime.settings import Settings
from services.runtime.streams import REPLAY_TTL, ensure_key_value, replay_bucket

# How long the store thread waits for the bucket's answer before the request fails unanswered.
SHARED_TIMEOUT = 5.0


class Replays(Protocol):
    """Whether a signed request (its partner and nonce) is seen for the first time; remembers
    it. `first_time` from a worker thread (the store thread), `first` on the event loop."""

    def first_time(self, partner: str, nonce: str, now: float) -> bool: ...

    async def first(self, partner: str, nonce: str, now: float) -> bool: ...


class ReplayGuard:
    """The nonces of the signed requests answered within the freshness window, per partner, in
    this process's memory.

    A request older than the window is refused as stale before it gets here, so a nonce need
    only be remembered that long.
    """

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._seen: dict[tuple[str, str], float] = {}

    def first_time(self, partner: str, nonce: str, now: float) -> bool:
        """True the first time (partner, nonce) is seen within the window; remembers it."""
        if len(self._seen) > 1000:  # prune now and then, not on every request
            self._seen = {k: t for k, t in self._seen.items() if now - t <= 2 * self.window}
        seen = self._seen.get((partner, nonce))
        if seen is not None and now - seen <= 2 * self.window:
            return False
        self._seen[(partner, nonce)] = now
        return True

    async def first(self, partner: str, nonce: str, now: float) -> bool:
        return self.first_time(partner, nonce, now)


def nonce_key(partner: str, nonce: str) -> str:
    """The bucket's key of one request: a hash, so no partner's text reaches a subject."""
    return hashlib.sha256(f"{partner}\n{nonce}".encode()).hexdigest()


class SharedReplayGuard:
    """The nonces a service answered, in its bucket: shared by its instances, kept over a
    restart for the bucket's TTL. A failure to reach the bucket raises (the request goes
    unanswered; the partner asks again with a new nonce): never answered unchecked."""

    def __init__(
        self, kv: KeyValue, loop: asyncio.AbstractEventLoop, timeout: float = SHARED_TIMEOUT
    ) -> None:
        self.kv, self.loop, self.timeout = kv, loop, timeout

    @classmethod
    async def open(cls, nc: NatsClient, settings: Settings, service: str) -> SharedReplayGuard:
        """The service's guard; its bucket is made when missing (the supervisor makes it; a
        service started on its own, without authorization, may)."""
        kv = await ensure_key_value(
            nc.jetstream(), replay_bucket(service), settings.nats_replicas, REPLAY_TTL
        )
        return cls(kv, asyncio.get_running_loop())

    async def first(self, partner: str, nonce: str, now: float) -> bool:
        """True when this call took the request's key (no instance answered it before)."""
        try:
            await self.kv.create(nonce_key(partner, nonce), b"1")
        except KeyWrongLastSequenceError:
            return False
        return True

    def first_time(self, partner: str, nonce: str, now: float) -> bool:
        """`first` from a worker thread (the store thread), on the service's event loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("on the event loop a replay is checked with `await first(...)`")
        future = asyncio.run_coroutine_threadsafe(self.first(partner, nonce, now), self.loop)
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise

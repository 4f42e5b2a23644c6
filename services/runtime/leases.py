"""Leases of a service's instances in a JetStream key-value bucket: who consumes which
partition, who relays the outbox and runs the ticks, and that a service not made for more than
one instance runs once (issue 20 item 2).

A lease is a key `<service>.<what>` of the bucket `ketenbus-leases` (`streams.LEASES`) naming
its holder (an instance id and a random token of the process, nothing about a child). It is
taken with a create that fails when the key exists (the server decides, no consensus of our
own), renewed with an update that fails unless the holder's own revision is the last, and
lasts the bucket's TTL without renewal (`KETENBUS_LEASE_TTL`). A held lease is taken over when
its holder is gone: each instance answers on `ketenbus.instance.<service>.<token>` for as long
as its connection lives, and a request there with no responders (the process ended, its
connection closed) means the lease is free at once; a holder that hangs loses it with the TTL.

Two instances that both think they hold one partition for a moment (a takeover racing a slow
holder) still record each event once: the store refuses a second record of one tracked
position or one aggregate version, and the outbox's publishes carry their event's
`Nats-Msg-Id`. The leases keep the instances out of each other's way; the store keeps them
exact.

`Keeper` is what a running instance holds: on one instance the lease `instance` (a second
instance refuses to start: `AnotherInstanceError`); partitioned, its fair share of the
partitions (`partitions.fair_share` among the members listed under `<service>.members`) and
the duties that run once (the outbox relay, the ticks), each while it holds their lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.runtime.partitions import fair_share
from services.runtime.settings import Settings
from services.runtime.streams import LEASES, ensure_key_value

log = structlog.get_logger(__name__)

INSTANCE = "instance"
MEMBERS = "members"
PING_TIMEOUT = 1.0


class AnotherInstanceError(RuntimeError):
    """Another instance of a service that runs on one instance only is running."""


class LeaseLostError(RuntimeError):
    """Another instance holds a lease this one held."""


def ping_subject(service: str, token: str) -> str:
    """Where an instance answers for as long as it lives."""
    return f"ketenbus.instance.{service}.{token}"


class Leases:
    """One instance's leases of a service, in the bucket."""

    def __init__(self, nc: NatsClient, kv: KeyValue, service: str, instance: str) -> None:
        self.nc, self.kv, self.service, self.instance = nc, kv, service, instance
        self.token = uuid.uuid4().hex
        self.held: dict[str, int] = {}  # lease → the revision this instance wrote last
        self.joined = False  # listed among the members (a partitioned service's instance)
        self._ping: Subscription | None = None

    @classmethod
    async def open(cls, nc: NatsClient, settings: Settings, service: str, instance: str) -> Leases:
        """The service's leases; the bucket is made when missing (the supervisor makes it; a
        service started on its own, without authorization, may)."""
        kv = await ensure_key_value(
            nc.jetstream(), LEASES, settings.nats_replicas, settings.lease_ttl
        )
        leases = cls(nc, kv, service, instance)

        async def answer(msg: Msg) -> None:
            await msg.respond(b"alive")

        leases._ping = await nc.subscribe(ping_subject(service, leases.token), cb=answer)
        return leases

    def key(self, lease: str) -> str:
        return f"{self.service}.{lease}"

    @property
    def value(self) -> bytes:
        return json.dumps({"instance": self.instance, "token": self.token}).encode()

    async def alive(self, token: str) -> bool:
        """Whether the instance with `token` may still live (a timeout counts as alive: it may
        be busy; its lease then ends with the TTL)."""
        return await self.answers(token) is not False

    async def answers(self, token: str) -> bool | None:
        """True: the instance with `token` answered; False: nobody listens there (its process
        ended); None: no answer in time (busy, or the server has not yet seen it go)."""
        if token == self.token:
            return True
        try:
            await self.nc.request(ping_subject(self.service, token), b"", timeout=PING_TIMEOUT)
        except nats.errors.NoRespondersError:
            return False
        except (TimeoutError, nats.errors.TimeoutError):
            return None
        return True

    async def holder(self, lease: str) -> tuple[dict[str, Any], int] | None:
        """Who holds `lease` and at which revision (None: nobody)."""
        try:
            entry = await self.kv.get(self.key(lease))
        except KeyNotFoundError:
            return None
        try:
            return json.loads(entry.value or b"{}"), entry.revision or 0
        except ValueError:
            return {}, entry.revision or 0

    async def claim(self, lease: str) -> bool:
        """Take `lease` if it is free or its holder is gone; whether this instance holds it."""
        key = self.key(lease)
        try:
            self.held[lease] = await self.kv.create(key, self.value)
            return True
        except KeyWrongLastSequenceError:
            pass
        held = await self.holder(lease)
        if held is None:
            return False  # released between the two: the next round
        holder, revision = held
        if holder.get("token") == self.token:
            self.held[lease] = revision
            return True
        if await self.alive(str(holder.get("token", ""))):
            return False
        try:
            self.held[lease] = await self.kv.update(key, self.value, last=revision)
        except KeyWrongLastSequenceError:
            return False
        log.info(
            "lease_taken_over", service=self.service, lease=lease,
            instance=self.instance, previous=str(holder.get("instance", "")),
        )  # fmt: skip
        return True

    async def renew(self, lease: str) -> bool:
        """Write `lease` again before its TTL; False when another instance holds it now."""
        last = self.held.get(lease)
        if last is None:
            return await self.claim(lease)
        try:
            self.held[lease] = await self.kv.update(self.key(lease), self.value, last=last)
            return True
        except KeyWrongLastSequenceError:
            # Expired while this instance was away, or taken: held again only if free.
            del self.held[lease]
            return await self.claim(lease)

    async def release(self, lease: str) -> None:
        last = self.held.pop(lease, None)
        if last is None:
            return
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self.kv.delete(self.key(lease), last=last)

    async def join(self) -> list[str]:
        """Note this instance as a member of the service (seen now) and return the members'
        tokens: those seen within the TTL whose process still answers."""
        for _ in range(5):
            held = await self.holder(MEMBERS)
            table, revision = held if held is not None else ({}, 0)
            now = time.time()
            members = {self.token: {"instance": self.instance, "seen": now}}
            for token, member in table.items():
                if token != self.token and isinstance(member, dict) and await self.alive(token):
                    members[token] = member
            value = json.dumps(members).encode()
            try:
                if revision:
                    await self.kv.update(self.key(MEMBERS), value, last=revision)
                else:
                    await self.kv.create(self.key(MEMBERS), value)
            except KeyWrongLastSequenceError:
                continue  # another member wrote at the same moment: read again
            self.joined = True
            return sorted(members)
        return [self.token]

    async def leave(self) -> None:
        """Take this instance off the members (best effort: otherwise its token stops
        answering and the others drop it)."""
        with contextlib.suppress(Exception):
            held = await self.holder(MEMBERS)
            if held is not None and self.token in held[0]:
                table = {t: m for t, m in held[0].items() if t != self.token}
                await self.kv.update(self.key(MEMBERS), json.dumps(table).encode(), last=held[1])

    async def close(self) -> None:
        """Release every lease held and stop answering (a stopping instance hands over at
        once)."""
        for lease in list(self.held):
            with contextlib.suppress(Exception):
                await self.release(lease)
        if self.joined:
            await self.leave()
        if self._ping is not None:
            with contextlib.suppress(Exception):
                await self._ping.unsubscribe()


def partition_lease(partition: int) -> str:
    return f"partition.{partition}"


class Keeper:
    """What one running instance holds, renewed every third of the TTL (`run`, a watched
    task). `partitions` 0: the service runs on one instance and holds `instance`."""

    def __init__(
        self, leases: Leases, partitions: int, interval: float, duties: tuple[str, ...] = ()
    ) -> None:
        self.leases, self.partitions, self.interval = leases, partitions, interval
        self.duties = duties
        # The partitions the consumers run for; the keeper changes them only through `settle`.
        self.consuming: frozenset[int] = frozenset()
        self.releasing: set[int] = set()
        # Set when the partitions held differ from those consumed: restart the consumers.
        self.changed = asyncio.Event()
        self.on_duty = {duty: asyncio.Event() for duty in duties}
        self.off_duty = {duty: asyncio.Event() for duty in duties}
        for duty in duties:
            self.off_duty[duty].set()

    @property
    def service(self) -> str:
        return self.leases.service

    def held_partitions(self) -> frozenset[int]:
        return frozenset(
            n for n in range(self.partitions) if partition_lease(n) in self.leases.held
        )

    async def start(self) -> None:
        """Take the first leases: on one instance, `instance` or refuse to start; partitioned,
        a first share. Either refuses beside a running instance of the other kind: the two
        would each handle the same children (an unpartitioned consumer and the partitions'
        keep positions of their own)."""
        leases = self.leases
        if not self.partitions:
            if not await self._claim_instance():
                held = await leases.holder(INSTANCE)
                other = "" if held is None else str(held[0].get("instance", ""))
                raise AnotherInstanceError(
                    f"another instance of {self.service} is running ({other}); {self.service} "
                    "runs on one instance: stop that one first, or run it partitioned "
                    "(infra/partitions.yaml and KETENBUS_<SERVICE>_INSTANCES)"
                )
            partitioned = await self._live_members()
            if partitioned:
                await leases.release(INSTANCE)
                raise AnotherInstanceError(
                    f"instances of {self.service} run partitioned ({', '.join(partitioned)}): "
                    f"stop them first, or run this one partitioned too "
                    "(KETENBUS_<SERVICE>_INSTANCES)"
                )
            return
        await leases.join()
        held = await leases.holder(INSTANCE)
        if held is not None and await leases.alive(str(held[0].get("token", ""))):
            await leases.leave()
            raise AnotherInstanceError(
                f"an instance of {self.service} runs on one instance "
                f"({held[0].get('instance', '')}): stop it first"
            )
        await self.round()
        self.consuming = self.held_partitions()
        self.changed.clear()

    async def _claim_instance(self) -> bool:
        """The `instance` lease, or False when another instance answers for it. A holder
        that does not answer in time (busy, or a killed process the server has not yet seen
        go) is waited for until its lease ends with the TTL."""
        deadline = asyncio.get_running_loop().time() + 3 * self.interval + PING_TIMEOUT
        while True:
            if await self.leases.claim(INSTANCE):
                return True
            held = await self.leases.holder(INSTANCE)
            if held is not None and await self.leases.answers(str(held[0].get("token", ""))):
                return False
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(self.interval / 3)

    async def _live_members(self) -> list[str]:
        """The instances of a partitioned run that still answer (by name)."""
        held = await self.leases.holder(MEMBERS)
        if held is None:
            return []
        return [
            str(member.get("instance", ""))
            for token, member in held[0].items()
            if isinstance(member, dict) and await self.leases.alive(token)
        ]

    async def run(self, progressed: Callable[[], None] | None = None) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.round()
            if progressed is not None:
                progressed()

    async def round(self) -> None:
        """Renew what is held; partitioned, take or hand back partitions towards a fair
        share and take the duties nobody holds."""
        leases = self.leases
        if not self.partitions:
            if not await leases.renew(INSTANCE):
                raise LeaseLostError(f"another instance of {self.service} holds its lease")
            return
        members = await leases.join()
        share = fair_share(members, leases.token, self.partitions)
        for n in sorted(self.held_partitions()):
            if not await leases.renew(partition_lease(n)):
                log.warning("partition_lost", service=self.service, partition=n)
        for duty in self.duties:
            holds = await leases.renew(duty)
            (self.on_duty if holds else self.off_duty)[duty].set()
            (self.off_duty if holds else self.on_duty)[duty].clear()
        held = sorted(self.held_partitions() - self.releasing)
        if len(held) > share:
            self.releasing |= set(held[share:])
        for n in range(self.partitions):
            if len(self.held_partitions() - self.releasing) >= share:
                break
            if partition_lease(n) not in leases.held and n not in self.releasing:
                await leases.claim(partition_lease(n))
        if self.held_partitions() - self.releasing != self.consuming:
            self.changed.set()

    async def settle(self) -> frozenset[int]:
        """With the consumers stopped: hand back the partitions given up; the partitions to
        consume from now on."""
        for n in sorted(self.releasing):
            await self.leases.release(partition_lease(n))
            log.info("partition_released", service=self.service, partition=n)
        self.releasing.clear()
        self.changed.clear()
        self.consuming = self.held_partitions()
        log.info("partitions_held", service=self.service, partitions=sorted(self.consuming))
        return self.consuming

    async def duty(self, duty: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run` while this instance holds `duty`'s lease (always, on one instance); it
        is stopped when the lease goes to another instance and started again when it comes
        back."""
        if not self.partitions:
            await run()
            return
        while True:
            await self.on_duty[duty].wait()
            task = asyncio.ensure_future(run())
            lost = asyncio.ensure_future(self.off_duty[duty].wait())
            try:
                await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Lost, or this instance stopping: the duty's run ends with it.
                lost.cancel()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if not lost.cancelled() and lost.done():
                log.info("duty_handed_over", service=self.service, duty=duty)
                continue
            task.result()  # it ended by itself: a failure goes to the task's watcher
            return

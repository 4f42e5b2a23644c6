"""One service on many instances: its work split by child into partitions (issue 20 item 2).

A service listed in `infra/partitions.yaml` runs partitioned when `KETENBUS_<SERVICE>_INSTANCES`
is more than 1. Its work is split into that file's number of partitions by the child an event
is about: the pseudonym in the event's `subject`, hashed with FNV-1a 32 modulo the count, which
is what NATS's `{{partition(n, ...)}}` subject mapping computes for a token. Each partition has
a durable consumer of its own per consumer of the service (`<durable>-p<n>`) with its own
recorded position; an instance consumes the partitions whose lease it holds
(`services.runtime.leases`) and skips, unread, the messages of the others. So one child's events
are handled by one instance at a time, in stream order, and recorded once: the PostgreSQL store
refuses a second record of one position or one aggregate version besides.

The subjects do not carry the child (a pseudonym in a subject would reach every server log and
every permission check), so the split is made by the consumer, not by the server: every
partition's consumer is handed every message of its stream and passes on only its own. What
costs is the handling (signature, contract, store), not the skipping, and that is what the
instances share.
"""

from __future__ import annotations

import json
import os
import socket
from functools import cache, lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.infra import INFRA_DIR

PARTITIONS_PATH = INFRA_DIR / "partitions.yaml"

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """The FNV-1a 32-bit hash (the one NATS's subject mapping `partition` uses)."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


@lru_cache(maxsize=1 << 16)
def partition_of_key(key: str, partitions: int) -> int:
    """The partition of a child's pseudonym (remembered: the hash is a Python loop per byte,
    and a child's messages come again and again)."""
    return fnv1a_32(key.encode()) % partitions


def partition_of(data: bytes, partitions: int) -> int:
    """The partition of a consumed message: that of the child in its `subject`. A message
    without one (not JSON, no subject) is partition 0's, so exactly one instance refuses it."""
    try:
        subject = json.loads(data).get("subject")
    except (ValueError, AttributeError, RecursionError):
        return 0
    return partition_of_key(subject, partitions) if isinstance(subject, str) else 0


class Partitioner:
    """`partition_of` for the partition consumers of one instance, each message read once.

    Every partition's consumer is handed every message of its stream, so an instance holding
    k partitions was handed each message k times and read it whole (`json.loads`) each time
    to skip it k-1 times. The partition is remembered by the message's bytes: the same bytes
    are the same partition, whatever stream or sequence they came with, so what it answers is
    `partition_of`'s, for every message (a cheaper read of the `subject` alone would differ
    from it on some bytes that are no JSON, and instances of two versions would then both
    skip such a message). The last `size` to `2 * size` messages are remembered: the k
    consumers fetch the same messages at about the same time (batches of up to 256). A message
    over `largest` bytes is read each time, so what is held stays under 2 * size * largest
    whatever partners send (16 MiB by default)."""

    def __init__(self, partitions: int, size: int = 1024, largest: int = 8192) -> None:
        self.partitions, self.size, self.largest = partitions, size, largest
        self._new: dict[bytes, int] = {}
        self._old: dict[bytes, int] = {}

    def __call__(self, data: bytes) -> int:
        if len(data) > self.largest:
            return partition_of(data, self.partitions)
        found = self._new.get(data)
        if found is None:
            found = self._old.get(data)
            if found is None:
                found = partition_of(data, self.partitions)
            if len(self._new) >= self.size:
                self._old, self._new = self._new, {}
            self._new[data] = found
        return found


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Partitioning(_Strict):
    partitions: int = Field(ge=2, le=256)


class PartitionsFile(_Strict):
    version: str
    services: dict[str, Partitioning]


@cache
def load_partitions(path: Path = PARTITIONS_PATH) -> PartitionsFile:
    return PartitionsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class NotPartitionedError(ValueError):
    """A service asked to run on more than one instance that infra/partitions.yaml does not
    list, or on a store the instances cannot share."""


class InstanceSettings(BaseSettings):
    """A service's instances: `KETENBUS_<SERVICE>_INSTANCES` (more than 1: run partitioned,
    sharing the partitions with the other instances running) and `…_INSTANCE_ID` (a name for
    this one in leases and logs; default the host's name and the process id)."""

    model_config = SettingsConfigDict(extra="ignore")
    instances: int = Field(default=1, ge=1, le=256)
    instance_id: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]{0,64}$")


def env_prefix(service: str) -> str:
    return f"KETENBUS_{service.upper().replace('-', '_')}_"


def instance_settings(service: str) -> InstanceSettings:
    return InstanceSettings(_env_prefix=env_prefix(service))  # type: ignore[call-arg]


def instance_id(service: str) -> str:
    """This process's instance name: its setting, or `<host>-<pid>`."""
    own = instance_settings(service).instance_id
    return own or f"{socket.gethostname()}-{os.getpid()}"[:64]


def listed_partitions(service: str, path: Path = PARTITIONS_PATH) -> int:
    """Into how many partitions infra/partitions.yaml splits `service`'s work (0: not listed,
    the service runs on one instance)."""
    listed = load_partitions(path).services.get(service)
    return 0 if listed is None else listed.partitions


def running_partitions(service: str, store: str, listed: int) -> int:
    """Into how many partitions `service` splits its work on this run: 0 on one instance (the
    default), its `listed` count when its instances are more."""
    if instance_settings(service).instances <= 1:
        return 0
    if not listed:
        raise NotPartitionedError(
            f"{service} cannot run on more than one instance: infra/partitions.yaml does not "
            f"list it (unset {env_prefix(service)}INSTANCES)"
        )
    if store != "postgres":
        raise NotPartitionedError(
            f"{service} on more than one instance needs KETENBUS_STORE=postgres: its instances "
            "share one store"
        )
    return listed


def fair_share(members: list[str], me: str, partitions: int) -> int:
    """How many partitions `me` should hold among `members` (sorted, `me` among them): the
    partitions spread evenly, the first members taking one more when they do not divide."""
    ordered = sorted(set(members) | {me})
    base, extra = divmod(partitions, len(ordered))
    return base + (1 if ordered.index(me) < extra else 0)

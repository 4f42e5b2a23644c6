"""How the integral plan's (or signalling's) throughput grows from one instance to two (issue
20 item 2).

Three runs, each on a fresh backbone (embedded nats-server, no authorization) and a fresh
PostgreSQL schema (`KETENBUS_POSTGRES_*`, database `test` by default):

- `one, unpartitioned`: the default, `ketenbus service integral-plan` on its one consumer per
  stream;
- `1 instance`: partitioned (`KETENBUS_INTEGRAL_PLAN_INSTANCES=2`, infra/partitions.yaml's
  partitions), one instance running, so it holds every partition;
- `2 instances`: the same with two instances, each holding half the partitions.

The instances start first and the bench waits until the partitions are spread over them; then it
measures the instances' CPU while idle (10 s: what their consumers' polling costs), then it
publishes `--events` signals (one child each, as the signalling service relays them, on the
SIGNALLING stream) and times until every consumer has acknowledged the last one (a message is
acknowledged once its batch is recorded, or skipped by a partition it is not of; a partition
whose last batches held none of its own does not record their position, so the recorded
positions cannot tell the end). events/s = events / (first publish → last acknowledged); CPU
ms/event = the instances' CPU over the same span, less their idle rate, per event. The
ratios compare the runs; on a shared 2-core machine the instances, the nats-server, PostgreSQL
and the bench all share the same two cores.

With `--service signalling` the instances are signalling's, and the events signals signed by
their partners on INBOUND (one child each, `bench.slice`'s), each admitted (signature, contract),
recorded and answered with a receipt.

    .venv/bin/python -m bench.instances [--service signalling] [--events 3000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient

from bench.slice import _postgres_schema, _pseudonym, cpu_seconds, make_events
from ketenbus_partner.publish import DataDirKeys
from services.integral_plan import handlers as integral_plan
from services.runtime.leases import partition_lease
from services.runtime.partitions import env_prefix, listed_partitions
from services.runtime.settings import Settings
from services.runtime.streams import LEASES, ConsumerSpec
from services.runtime.supervisor import Backbone
from services.signalling import handlers as signalling
from tests.events import signal
from tests.integration.helpers import SCHOOL

SERVICE = "integral-plan"
# Per service benched: its consumer whose acknowledgements are waited for.
BENCHED: dict[str, ConsumerSpec] = {
    "integral-plan": integral_plan.CONSUMER,
    "signalling": signalling.CONSUMER,
}
IDLE_SECONDS = 10.0


class Run:
    """One row: a backbone, its instances as processes, a store reader."""

    def __init__(
        self, settings: Settings, instances: int, partitioned: bool, service: str = SERVICE
    ) -> None:
        self.settings, self.instances, self.partitioned = settings, instances, partitioned
        self.service = service
        self.consumer = BENCHED[service]
        self.partitions = listed_partitions(service)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, backbone: Backbone) -> None:
        env = backbone.service_env()
        prefix = env_prefix(self.service)
        if self.partitioned:
            env[f"{prefix}INSTANCES"] = "2"
        for n in range(self.instances):
            log = self.settings.log_dir / f"{self.service}-{n}.log"
            with log.open("ab") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "services.cli", "service", self.service],
                        env={**env, f"{prefix}INSTANCE_ID": f"bench-{n}"},
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=out,
                    )
                )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def consumers(self) -> list[ConsumerSpec]:
        if not self.partitioned:
            return [self.consumer]
        return list(self.consumer.partitioned(self.partitions))


async def ready(nc: NatsClient, run: Run, timeout: float) -> None:
    """Until the instances answer; partitioned, until every partition is held, evenly."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in run.processes:
            if process.poll() is not None:
                raise RuntimeError(f"an instance exited; see {run.settings.log_dir}")
        if await _spread(nc, run):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the instances did not start")


async def _spread(nc: NatsClient, run: Run) -> bool:
    if not run.partitioned:
        try:
            await nc.request(f"ketenbus.health.{run.service}", b"", timeout=0.5)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return False
        return True
    kv = await nc.jetstream().key_value(LEASES.name)
    holders: list[str] = []
    for n in range(run.partitions):
        try:
            entry = await kv.get(f"{run.service}.{partition_lease(n)}")
        except nats.js.errors.KeyNotFoundError:
            return False
        holders.append(json.loads(entry.value or b"{}").get("instance", ""))
    counts = Counter(holders)
    return len(counts) == run.instances and max(counts.values()) - min(counts.values()) <= 1


async def measure(backbone: Backbone, run: Run, events: int, timeout: float) -> dict[str, Any]:
    nc = await nats.connect(backbone.url)
    try:
        await ready(nc, run, timeout)
        # Idle first: what the instances spend waiting (each partition's consumers poll).
        pids = [p.pid for p in run.processes]
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(IDLE_SECONDS)
        idle = (sum(cpu_seconds(pid) for pid in pids) - before) / IDLE_SECONDS
        if run.service == "signalling":
            # Signed by their partners, on INBOUND, as partners publish them.
            inbound = make_events(events, DataDirKeys(run.settings.data_dir))
            messages = [(i.subject, i.payload, i.msg_id) for i in inbound]
        else:
            payloads = [
                signal(SCHOOL, date(2026, 11, 2), _pseudonym(), source="signalling")
                for _ in range(events)
            ]
            messages = [(p.outbound_subject(), p.to_bytes(), str(p.id)) for p in payloads]
        js = nc.jetstream()
        busy = sum(cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        acks = [
            await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id})
            for subject, payload, msg_id in messages
        ]
        last = max(ack.seq for ack in await asyncio.gather(*acks))
        deadline = time.monotonic() + timeout
        while True:
            # Done when every consumer has acknowledged the last message: handled and recorded,
            # or skipped (a partition's batch of only others' messages is not recorded).
            infos = [await js.consumer_info(c.stream.name, c.durable) for c in run.consumers()]
            acked = [i.ack_floor.stream_seq for i in infos]
            if min(acked) >= last:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"incomplete: acknowledged through {acked} of {last}")
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        # The instances' CPU per event during the flood, less what they spend idle: what
        # skipping and handling cost, which the machine's load moves far less than the rate.
        spent = sum(cpu_seconds(pid) for pid in pids) - busy - idle * seconds
        return {
            "cpu_ms_per_event": 1000 * spent / events,
            "events": events,
            "seconds": round(seconds, 2),
            "events_s": events / seconds,
            "idle_cpu": idle,
        }
    finally:
        await nc.close()


def one_row(
    base: Settings, instances: int, partitioned: bool, events: int, timeout: float, service: str
) -> Any:
    data_dir = Path(tempfile.mkdtemp(prefix="ketenbus-bench-instances-"))
    settings = base.model_copy(
        update={"data_dir": data_dir, "postgres_schema": f"bench_{uuid.uuid4().hex[:12]}"}
    )
    run = Run(settings, instances, partitioned, service)
    _postgres_schema(settings, create=True)
    try:
        with Backbone(settings, []) as backbone:
            run.start(backbone)
            try:
                return asyncio.run(measure(backbone, run, events, timeout))
            finally:
                run.stop()
    finally:
        _postgres_schema(settings, create=False)
        shutil.rmtree(data_dir, ignore_errors=True)


ROWS = (("one, unpartitioned", 1, False), ("1 instance", 1, True), ("2 instances", 2, True))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instances", description=__doc__)
    parser.add_argument("--service", choices=sorted(BENCHED), default=SERVICE)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    base = Settings(
        nats_url=None,
        nats_auth="none",
        store="postgres",
        postgres_dbname=os.environ.get("KETENBUS_POSTGRES_DBNAME", "test"),
        audit_witness_interval=0,
    )
    results = {
        name: one_row(base, n, part, args.events, args.timeout, args.service)
        for name, n, part in ROWS
    }
    one, two = results["1 instance"]["events_s"], results["2 instances"]["events_s"]
    ratios = {
        "2 instances / 1 instance": two / one,
        "1 instance / one, unpartitioned": one / results["one, unpartitioned"]["events_s"],
        "2 instances / one, unpartitioned": two / results["one, unpartitioned"]["events_s"],
    }
    if args.json:
        print(json.dumps({"runs": results, "ratios": ratios, "cpus": os.cpu_count()}, indent=2))
        return
    stream = "INBOUND, signed" if args.service == "signalling" else "SIGNALLING"
    partitions = listed_partitions(args.service)
    print(f"{args.service}, {args.events} signals on {stream}, PostgreSQL, {partitions} partitions")
    print(f"{'run':<22}{'events/s':>10}{'seconds':>10}{'CPU ms/event':>14}{'idle CPU %':>12}")
    for name, row in results.items():
        print(
            f"{name:<22}{row['events_s']:>10.0f}{row['seconds']:>10.2f}"
            f"{row['cpu_ms_per_event']:>14.2f}{100 * row['idle_cpu']:>12.1f}"
        )
    for name, value in ratios.items():
        print(f"{name:<36}{value:>6.2f}")


if __name__ == "__main__":
    main()

"""Attacks of issue 14 by a school on its own NATS user, under the generated authorization.

Each was possible with the authorization generated before (partners could create, delete and
pull any consumer of the streams their role read, and put, get and purge the attachment store):
a school rewrote kluis's consumer, deleted integral-plan's, pulled and acked from TRUANCY/kluis,
purged the handover attachments and read every child's events. Now it may only fetch from, ack
and ask the info of its own feed consumer, which the backbone declares.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from adapters.oso.transfer import delivery_filter
from ketenbus_contracts.handover import (
    ATTACHMENT_REQUEST_HEADER,
    ATTACHMENT_REQUEST_TYP,
    AttachmentRequest,
)
from ketenbus_contracts.sealing import PartnerKeys, sign_request
from ketenbus_partner.attachments import attachment_name, attachment_request, put_attachment
from services.audit.direct_get import stream_reader
from services.handover.attachments import (
    GET_SUBJECT,
    PUT_SUBJECT,
)
from services.registry import service_specs
from services.runtime.nats_permissions import password_variables, render_auth_config
from services.runtime.nats_server import EmbeddedNats
from services.runtime.streams import (
    DAY,
    FEED,
    HANDOVER_ATTACHMENTS,
    KLUIS_SIGNALLING,
    KLUIS_TRUANCY,
    PLAN_SIGNALLING,
    ensure_consumer,
    ensure_streams,
    feed_consumer,
    feed_max_age,
    leerplicht_signals_consumer,
)
from tests.integration.test_handover_attachments import RECEIVER, SENDER, Handovers, serve
from tests.integration.test_nats_auth import connect, password

pytestmark = pytest.mark.integration

SCHOOL = "bs-de-regenboog"
OTHER = "vo-het-lyceum"
LEERPLICHT = "leerplicht-lingewaard"
FEEDER = "feeder"  # a test user that publishes feed messages, as the feed service will
REFUSED = (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError)


@pytest.fixture
def auth_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    conf = tmp_path / "auth.conf"
    feeder = (
        f'    {{user: "{FEEDER}", password: "{password(FEEDER)}", permissions: {{'
        f'publish: {{allow: ["feed.>"]}}, subscribe: {{allow: ["_INBOX.{FEEDER}.>"]}}}}}}\n'
    )
    conf.write_text(render_auth_config(service_specs()).replace("  ]\n}", feeder + "  ]\n}"))
    for variable in password_variables(service_specs()):
        user = variable.removeprefix("KETENBUS_NATS_PW_").lower().replace("_", "-")
        monkeypatch.setenv(variable, password(user))
    server = EmbeddedNats(tmp_path / "nats", config_file=conf)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


class Backbone:
    """The supervisor's connection (declares) and the school's, with its refusals."""

    def __init__(self, backbone: NatsClient, school: NatsClient, errors: list[str]) -> None:
        self.backbone, self.school, self.errors = backbone, school, errors
        self.js = backbone.jetstream()
        self.attacker = school.jetstream(timeout=1.0)

    async def refused(self, attack: Callable[[], Awaitable[Any]]) -> bool:
        """True when the server refused `attack` for permissions (and it did not succeed)."""
        before = len(self.errors)
        try:
            await attack()
        except REFUSED:
            pass
        else:
            return False
        for _ in range(20):
            if any("permissions violation" in e.lower() for e in self.errors[before:]):
                return True
            await asyncio.sleep(0.05)
        return False


@pytest_asyncio.fixture
async def wire(auth_url: str) -> AsyncIterator[Backbone]:
    backbone = await connect(auth_url, "backbone")
    errors: list[str] = []
    school = await connect(auth_url, SCHOOL, errors)
    js = backbone.jetstream()
    await ensure_streams(js, owned=[feed_consumer(SCHOOL), feed_consumer(OTHER)])
    for spec in (KLUIS_SIGNALLING, PLAN_SIGNALLING, KLUIS_TRUANCY):
        await ensure_consumer(js, spec, 0)
    for service, subject in (
        ("truancy", "ketenbus.truancy.enrolment-registered.v1"),
        ("signalling", "ketenbus.signalling.signal-registered.v1"),
    ):
        publisher = await connect(auth_url, service)
        await publisher.jetstream().publish(subject, b"{}")
        await publisher.close()
    try:
        yield Backbone(backbone, school, errors)
    finally:
        await school.close()
        await backbone.close()


async def test_a_school_cannot_rewrite_kluiss_consumer(wire: Backbone) -> None:
    info = await wire.js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
    rewritten = info.config
    rewritten.filter_subjects = ["ketenbus.signalling.nothing"]

    refused = await wire.refused(lambda: wire.attacker.add_consumer("SIGNALLING", rewritten))

    after = await wire.js.consumer_info(KLUIS_SIGNALLING.stream.name, KLUIS_SIGNALLING.durable)
    assert (True, ["ketenbus.signalling.>"]) == (refused, after.config.filter_subjects)


async def test_a_school_cannot_delete_integral_plans_consumer(wire: Backbone) -> None:
    refused = await wire.refused(
        lambda: wire.attacker.delete_consumer("SIGNALLING", PLAN_SIGNALLING.durable)
    )

    info = await wire.js.consumer_info("SIGNALLING", PLAN_SIGNALLING.durable)
    assert (True, PLAN_SIGNALLING.durable) == (refused, info.name)


async def test_a_school_cannot_create_a_consumer_anywhere(wire: Backbone) -> None:
    durable = ConsumerConfig(durable_name="mine", deliver_policy=DeliverPolicy.ALL)
    named = ConsumerConfig(name="mine", filter_subject="ketenbus.signalling.>")
    feed = ConsumerConfig(durable_name=f"feed-{SCHOOL}-2", filter_subject=f"feed.{OTHER}.>")
    attacks = [
        lambda: wire.attacker.add_consumer("SIGNALLING", durable),
        lambda: wire.attacker.add_consumer("SIGNALLING", named),
        lambda: wire.attacker.add_consumer("SIGNALLING", ConsumerConfig()),
        lambda: wire.attacker.add_consumer("FEED", feed),
    ]

    refused = [await wire.refused(attack) for attack in attacks]

    assert [True] * len(attacks) == refused


async def test_a_school_cannot_pull_from_a_services_consumer(wire: Backbone) -> None:
    async def pull() -> None:
        sub = await wire.attacker.pull_subscribe_bind(KLUIS_TRUANCY.durable, stream="TRUANCY")
        for msg in await sub.fetch(1, timeout=1):
            await msg.ack()

    refused = await wire.refused(pull)

    info = await wire.js.consumer_info("TRUANCY", KLUIS_TRUANCY.durable)
    assert (True, 1, 0) == (refused, info.num_pending, info.delivered.stream_seq)


async def test_a_school_cannot_purge_or_read_the_attachment_store(
    wire: Backbone, auth_url: str
) -> None:
    handover = await connect(auth_url, "handover")  # the service that keeps the attachments
    store = await handover.jetstream().object_store(HANDOVER_ATTACHMENTS.name)
    await store.put("00000000-0000-4000-8000-000000000000/bijlage-1", b"sealed")
    await handover.close()
    stream = f"OBJ_{HANDOVER_ATTACHMENTS.name}"
    bucket = HANDOVER_ATTACHMENTS.name
    attacks = [
        lambda: wire.attacker.purge_stream(stream),
        lambda: wire.attacker.object_store(bucket),
        lambda: wire.attacker.get_last_msg(stream, f"$O.{bucket}.M.>"),
        lambda: wire.attacker.add_consumer(stream, ConsumerConfig()),
        lambda: wire.attacker.publish(f"$O.{bucket}.M.x", b"{}", headers={"Nats-Rollup": "all"}),
    ]

    refused = [await wire.refused(attack) for attack in attacks]

    info = await wire.js.stream_info(stream)
    assert ([True] * len(attacks), 2) == (refused, info.state.messages)


async def test_a_school_cannot_read_a_domain_stream(wire: Backbone) -> None:
    async def ephemeral(stream: str, subject: str) -> None:
        sub = await wire.attacker.pull_subscribe(subject, stream=stream)
        await sub.fetch(1, timeout=1)

    async def listen() -> None:
        await wire.school.subscribe("ketenbus.>")
        await wire.school.flush()
        raise TimeoutError  # the refusal comes as an asynchronous error

    attacks = [
        lambda: ephemeral("SIGNALLING", "ketenbus.signalling.>"),
        lambda: ephemeral("TRUANCY", "ketenbus.truancy.>"),
        lambda: ephemeral("HANDOVER", "ketenbus.handover.>"),
        lambda: ephemeral("PLAN", "ketenbus.plan.>"),
        lambda: wire.attacker.get_msg("SIGNALLING", 1),
        lambda: wire.attacker.stream_info("SIGNALLING"),
        listen,
    ]

    refused = [await wire.refused(attack) for attack in attacks]

    assert [True] * len(attacks) == refused


async def test_a_school_fetches_acks_and_asks_the_info_of_its_own_feed_only(
    wire: Backbone, auth_url: str
) -> None:
    feeder = await connect(auth_url, FEEDER)
    try:
        for partner in (SCHOOL, OTHER):
            await feeder.publish(f"feed.{partner}.signalling.match-found", partner.encode())
        await feeder.flush()
    finally:
        await feeder.close()
    sub = await wire.attacker.pull_subscribe_bind(f"feed-{SCHOOL}", stream="FEED")

    fetched = await sub.fetch(5, timeout=5)
    for msg in fetched:
        await msg.ack_sync()
    info = await wire.attacker.consumer_info("FEED", f"feed-{SCHOOL}")

    async def other_feed() -> None:
        other = await wire.attacker.pull_subscribe_bind(f"feed-{OTHER}", stream="FEED")
        await other.fetch(1, timeout=1)

    assert [SCHOOL.encode()] == [m.data for m in fetched]
    assert (0, 0) == (info.num_pending, info.num_ack_pending)
    assert await wire.refused(other_feed)


@pytest_asyncio.fixture
async def auditor(wire: Backbone, auth_url: str) -> AsyncIterator[Backbone]:
    """The same backbone, with the auditors' user in the attacker's place."""
    errors: list[str] = []
    audit = await connect(auth_url, "audit", errors)
    try:
        yield Backbone(wire.backbone, audit, errors)
    finally:
        await audit.close()


async def test_an_auditor_creates_no_consumer_so_it_cannot_rewrite_kluiss(
    auditor: Backbone,
) -> None:
    # An "ephemeral" create that names kluis's durable consumer rewrote it before.
    request = {
        "stream_name": "SIGNALLING",
        "config": {
            "name": KLUIS_SIGNALLING.durable,
            "ack_policy": "explicit",
            "deliver_policy": "all",
            "filter_subject": "ketenbus.signalling.nothing",
        },
    }

    async def rename() -> None:
        await auditor.school.request(
            "$JS.API.CONSUMER.CREATE.SIGNALLING", json.dumps(request).encode(), timeout=1
        )

    attacks = [
        rename,
        lambda: auditor.attacker.add_consumer("SIGNALLING", ConsumerConfig()),
        lambda: auditor.attacker.add_consumer("SIGNALLING", ConsumerConfig(durable_name="mine")),
        lambda: auditor.attacker.delete_consumer("SIGNALLING", PLAN_SIGNALLING.durable),
        lambda: auditor.attacker.purge_stream("SIGNALLING"),
    ]

    refused = [await auditor.refused(attack) for attack in attacks]

    after = await auditor.js.consumer_info("SIGNALLING", KLUIS_SIGNALLING.durable)
    assert ([True] * len(attacks), ["ketenbus.signalling.>"]) == (
        refused,
        after.config.filter_subjects,
    )


async def test_an_auditor_replays_a_stream_by_sequence_without_a_consumer(
    auditor: Backbone,
) -> None:
    read = [(m.seq, m.subject) async for m in stream_reader(auditor.school, "SIGNALLING", last=1)]

    consumers = [c.name for c in await auditor.js.consumers_info("SIGNALLING")]
    assert [(1, "ketenbus.signalling.signal-registered.v1")] == read
    assert sorted([KLUIS_SIGNALLING.durable, PLAN_SIGNALLING.durable]) == sorted(consumers)


async def test_a_school_cannot_pass_its_own_sequence_subject_or_time_to_the_auditors_read(
    auditor: Backbone, auth_url: str
) -> None:
    # The replay cuts the server's values out of a direct get's header block itself: headers a
    # publisher set with the same names come first in it and must not stand in for them.
    school = await connect(auth_url, SCHOOL)
    try:
        forged = {
            "Nats-Sequence": "7",
            "Nats-Subject": "ketenbus.privacy.child-erased.v1",
            "Nats-Time-Stamp": "2000-01-01T00:00:00Z",
        }
        await school.publish(f"in.{SCHOOL}.signalling.signal-registered", b"{}", headers=forged)
        await school.flush()
    finally:
        await school.close()
    for _ in range(50):
        if (await auditor.js.stream_info("INBOUND")).state.last_seq:
            break
        await asyncio.sleep(0.05)

    read = [m async for m in stream_reader(auditor.school, "INBOUND", last=1)]

    assert [(1, f"in.{SCHOOL}.signalling.signal-registered", True)] == [
        (m.seq, m.subject, m.stored_at.year > 2000) for m in read
    ]


async def test_a_service_cannot_listen_on_another_services_fetch_inbox(
    wire: Backbone, auth_url: str
) -> None:
    errors: list[str] = []
    kluis = await connect(auth_url, "kluis", errors)
    try:
        listener = Backbone(wire.backbone, kluis, errors)

        async def listen(subject: str) -> None:
            await kluis.subscribe(subject)
            await kluis.flush()
            raise TimeoutError  # the refusal comes as an asynchronous error

        attacks = [
            lambda: listen("_INBOX.*"),
            lambda: listen("_INBOX.signalling.>"),
            lambda: listen("_INBOX.3M4hY8dlYBdzOlEAEtYTqI"),
        ]

        refused = [await listener.refused(attack) for attack in attacks]
    finally:
        await kluis.close()

    assert [True] * len(attacks) == refused


async def test_feed_keeps_an_entry_for_the_retention_of_infra_feed_yaml(wire: Backbone) -> None:
    info = await wire.js.stream_info(FEED.name)

    assert (30 * DAY, 30 * DAY) == (feed_max_age(), info.config.max_age)


async def feed_entries(auth_url: str, entries: dict[str, bytes]) -> None:
    """Publish feed entries (subject → body) as the feed service would."""
    feeder = await connect(auth_url, FEEDER)
    try:
        for subject, body in entries.items():
            await feeder.publish(subject, body)
        await feeder.flush()
    finally:
        await feeder.close()


async def test_a_school_finds_only_its_own_deliveries_through_its_feed(
    wire: Backbone, auth_url: str
) -> None:
    await feed_entries(
        auth_url,
        {delivery_filter(SCHOOL): b"mine", delivery_filter(OTHER): b"theirs"},
    )
    own = ConsumerConfig(
        name=SCHOOL, filter_subject=delivery_filter(SCHOOL), deliver_policy=DeliverPolicy.ALL
    )
    others = ConsumerConfig(
        name=SCHOOL, filter_subject=delivery_filter(OTHER), deliver_policy=DeliverPolicy.ALL
    )
    handover = ConsumerConfig(
        name=SCHOOL,
        filter_subject="ketenbus.handover.dossier-delivered.v1",
        deliver_policy=DeliverPolicy.ALL,
    )
    attacks = [
        lambda: wire.attacker.add_consumer("HANDOVER", handover),
        lambda: wire.attacker.add_consumer("FEED", others),
    ]

    refused = [await wire.refused(attack) for attack in attacks]
    await wire.attacker.add_consumer("FEED", own)
    sub = await wire.attacker.pull_subscribe_bind(SCHOOL, stream="FEED")
    found = [m.data for m in await sub.fetch(5, timeout=2)]

    assert ([True, True], [b"mine"]) == (refused, found)


async def test_leerplicht_forwards_only_the_reports_and_thuiszitters_of_its_own_feed(
    wire: Backbone, auth_url: str
) -> None:
    reader = leerplicht_signals_consumer(LEERPLICHT)
    await ensure_streams(wire.js, owned=[reader])
    truancy = await connect(auth_url, "truancy")
    await truancy.jetstream().publish("ketenbus.truancy.verzuim-report-due.v1", b"region")
    await truancy.close()
    await feed_entries(
        auth_url,
        {
            f"feed.{LEERPLICHT}.truancy.verzuim-report-due": b"report",
            f"feed.{LEERPLICHT}.truancy.thuiszitter-registered": b"thuiszitter",
            f"feed.{LEERPLICHT}.truancy.pupil-enrolled": b"not a signal",
            "feed.leerplicht-elders.truancy.verzuim-report-due": b"another region",
        },
    )
    errors: list[str] = []
    leerplicht = await connect(auth_url, LEERPLICHT, errors)
    try:
        sub = await leerplicht.jetstream().pull_subscribe_bind(reader.durable, stream="FEED")
        read = [m.data for m in await sub.fetch(10, timeout=2)]
        attacker = Backbone(wire.backbone, leerplicht, errors)

        async def pull_truancy() -> None:
            js = leerplicht.jetstream(timeout=1.0)
            other = await js.pull_subscribe("ketenbus.truancy.>", stream="TRUANCY")
            await other.fetch(1, timeout=1)

        refused = await attacker.refused(pull_truancy)
    finally:
        await leerplicht.close()

    assert ([b"report", b"thuiszitter"], True) == (read, refused)


async def test_attachment_requests_are_signed_and_only_the_handovers_parties_get_answers(
    wire: Backbone, auth_url: str
) -> None:
    handover = await connect(auth_url, "handover")  # the desk, as the handover service's user
    handovers = Handovers()
    sender, other = handovers.keys[SENDER], handovers.keys[RECEIVER]
    await serve(handover, handovers)
    theirs = await connect(auth_url, RECEIVER)  # another school, on its own user
    name = attachment_name(uuid.uuid4(), "bijlage-1")
    try:
        await put_attachment(wire.school, sender, handovers.started, name, b"sealed")

        async def ask(subject: str, headers: dict[str, str], body: bytes = b"") -> str:
            reply = await theirs.request(subject, body, timeout=5, headers=headers)
            return str(json.loads(reply.data).get("reason"))

        copied = attachment_request(sender, "get", handovers.started, name, 0)
        await ask(GET_SUBJECT, copied)  # answered once, to whoever sent it first
        forged = AttachmentRequest(
            partner=SENDER, op="get", handover_id=handovers.started, name=name, chunk=0
        )
        reasons = [
            await ask(PUT_SUBJECT, {}, b"replaced"),
            await ask(PUT_SUBJECT, attachment_request(other, "put", handovers.started, name, 0)),
            await ask(GET_SUBJECT, attachment_request(other, "get", handovers.started, name, 0)),
            await ask(GET_SUBJECT, copied),
            await ask(GET_SUBJECT, {ATTACHMENT_REQUEST_HEADER: sign(forged, other)}),
        ]
    finally:
        await theirs.close()
        await handover.close()

    assert [
        "unsigned-request",
        "not-the-sender",
        "not-a-party",
        "replayed-request",
        "bad-signature",
    ] == reasons


def sign(request: AttachmentRequest, keys: PartnerKeys) -> str:
    return sign_request(request, keys.signing, typ=ATTACHMENT_REQUEST_TYP).decode()

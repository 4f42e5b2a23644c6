"""NATS authorization generated from the registry, on a real nats-server.

A school can publish its own inbound events, but not as another partner, reads no stream but
its feed; the supervisor declares the streams; the auditors replay read-only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from ketenbus_partner.connect import inbox_prefix, password_variable
from services.audit.direct_get import stream_reader
from services.registry import service_specs
from services.runtime.nats_auth import AUTH_CONF_PATH
from services.runtime.nats_permissions import password_variables, render_auth_config
from services.runtime.nats_server import EmbeddedNats
from services.runtime.streams import ensure_streams, feed_consumer

pytestmark = pytest.mark.integration

SCHOOL = "bs-de-regenboog"
CHILDCARE = "kdv-het-speelhuis"


def password(user: str) -> str:
    return f"pw-{user}"


@pytest.fixture
def auth_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    conf = tmp_path / "auth.conf"
    conf.write_text(render_auth_config(service_specs()))
    for variable in password_variables(service_specs()):
        user = variable.removeprefix("KETENBUS_NATS_PW_").lower().replace("_", "-")
        monkeypatch.setenv(variable, password(user))
    server = EmbeddedNats(tmp_path / "nats", config_file=conf)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def connect(url: str, user: str, errors: list[str] | None = None) -> NatsClient:
    async def on_error(exc: Exception) -> None:
        if errors is not None:
            errors.append(str(exc))

    return await nats.connect(
        url,
        user=user,
        password=password(user),
        inbox_prefix=inbox_prefix(user).encode(),
        error_cb=on_error,
        allow_reconnect=False,
    )


def test_committed_auth_config_is_generated_from_the_registry() -> None:
    assert render_auth_config(service_specs()) == AUTH_CONF_PATH.read_text()


def test_password_variables_are_named_after_the_user() -> None:
    assert "KETENBUS_NATS_PW_BS_DE_REGENBOOG" == password_variable(SCHOOL)


async def test_school_publishes_as_itself_but_not_as_another(auth_url: str) -> None:
    service = await connect(auth_url, "backbone")
    errors: list[str] = []
    school = await connect(auth_url, SCHOOL, errors)
    try:
        await ensure_streams(service.jetstream())
        ack = await school.jetstream().publish(
            f"in.{SCHOOL}.signalling.signal-registered", b"{}", timeout=10
        )
        assert "INBOUND" == ack.stream
        with pytest.raises(nats.errors.Error):
            await school.jetstream().publish(
                f"in.{CHILDCARE}.signalling.signal-registered", b"{}", timeout=2
            )
        info = await service.jetstream().stream_info("INBOUND")
        assert 1 == info.state.messages
        assert any("permissions violation" in e.lower() for e in errors)
    finally:
        await school.close()
        await service.close()


async def test_school_reads_no_stream_but_may_ask_its_feeds_info(auth_url: str) -> None:
    service = await connect(auth_url, "backbone")
    errors: list[str] = []
    school = await connect(auth_url, SCHOOL, errors)
    try:
        childcare = await connect(auth_url, CHILDCARE)
        await ensure_streams(service.jetstream(), owned=[feed_consumer(SCHOOL)])
        await childcare.jetstream().publish(f"in.{CHILDCARE}.signalling.signal-registered", b"{}")
        await childcare.close()
        # Reading INBOUND (other partners' events) through JetStream is refused ...
        with pytest.raises(nats.errors.Error):
            sub = await school.jetstream().pull_subscribe(
                f"in.{CHILDCARE}.>", stream="INBOUND", durable=None
            )
            await sub.fetch(1, timeout=2)
        # ... and so is listening on the subjects directly.
        await school.subscribe("in.>")
        await school.flush()
        await asyncio.sleep(0)  # let the server's -ERR reach the error callback
        for _ in range(50):
            if any('subscription to "in.>"' in e.lower() for e in errors):
                break
            await asyncio.sleep(0.1)
        assert any('subscription to "in.>"' in e.lower() for e in errors)
        # Its feed, the consumer the backbone declared for it, is open to it (fetching and
        # acking: tests/integration/test_wire_attacks.py).
        info = await school.jetstream().consumer_info("FEED", f"feed-{SCHOOL}")
        assert [f"feed.{SCHOOL}.>"] == info.config.filter_subjects
    finally:
        await school.close()
        await service.close()


async def test_a_wrong_password_is_refused(auth_url: str) -> None:
    with pytest.raises(nats.errors.Error):
        await nats.connect(auth_url, user=SCHOOL, password="guess", allow_reconnect=False)


async def test_the_auditor_reads_every_stream_in_order_but_publishes_nothing(auth_url: str) -> None:
    service = await connect(auth_url, "backbone")
    school = await connect(auth_url, SCHOOL)
    errors: list[str] = []
    auditor = await connect(auth_url, "audit", errors)
    try:
        await ensure_streams(service.jetstream())
        for n in range(3):
            await school.jetstream().publish(f"in.{SCHOOL}.signalling.x", str(n).encode())
        read = [m.data async for m in stream_reader(auditor, "INBOUND", last=3)]
        assert [b"0", b"1", b"2"] == read
        with pytest.raises(nats.errors.Error):
            await auditor.jetstream().publish("in.audit.signalling.x", b"{}", timeout=2)
    finally:
        for nc in (auditor, school, service):
            await nc.close()


async def test_the_kits_connection_reads_the_partners_own_feed_and_not_anothers(
    auth_url: str,
) -> None:
    from ketenbus_partner.connect import Credentials, connect_partner
    from ketenbus_partner.feed import read_feed

    service = await connect(auth_url, "backbone")
    feed = await connect(auth_url, "feed")
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    school = await connect_partner(
        auth_url,
        SCHOOL,
        credentials=Credentials(user=SCHOOL, password=password(SCHOOL)),
        error_cb=on_error,
        allow_reconnect=False,
    )
    try:
        owned = [feed_consumer(SCHOOL), feed_consumer(CHILDCARE)]
        await ensure_streams(service.jetstream(), owned=owned)
        for partner in (SCHOOL, CHILDCARE):
            await feed.jetstream().publish(f"feed.{partner}.receipt", f'"{partner}"'.encode())

        own = [item.body async for item in read_feed(school, SCHOOL, wait=1.0)]
        anothers = [item.body async for item in read_feed(school, CHILDCARE, wait=1.0)]

        assert ([SCHOOL], []) == (own, anothers)
        assert any("permissions violation" in e.lower() for e in errors)
    finally:
        for nc in (school, feed, service):
            await nc.close()

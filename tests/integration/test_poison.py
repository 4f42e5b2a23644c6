"""Nothing a partner sends stops a service: poison, oversized, invalid UTF-8 and fuzzed input.

Each bad message is dead-lettered with its reason code (the service, its inbound stream
sequence and the partner from the subject; an oversized one only as its size and sha256) and
the valid signed signal published after it is recorded on SIGNALLING, by a service that never
failed a handler nor restarted. One case runs as the school on its own NATS user under the
embedded server's registry authorization, and ingress refuses a 20 MB event as `too-large`
with a dead letter that fits the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ketenbus_contracts.envelope import parse_event
from ketenbus_contracts.signalling import SignalRegistered
from ketenbus_contracts.signing import SIGNATURE_FIELD, sign_envelope
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed, signed_message
from services.audit.replay import read_streams, stream_totals
from services.runtime.ingress import IngressRefusedError, publish_inbound
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.streams import STREAMS
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import (
    SCHOOL,
    child,
    consumer_idle,
    publish_all,
    read_stream,
    stream_events,
    wait_until,
)
from tests.unit.test_inbound import fuzz_corpus

pytestmark = pytest.mark.integration

SERVICES = ["signalling"]
SUBJECT = f"in.{SCHOOL.partner}.signalling.signal-registered"
POISON = b"[" * 200_000 + b"]" * 200_000  # the message: 400 kB
DEEP = b"[" * 100_000 + b"]" * 100_000  # the same within the size limit


def signed(data_dir: Path, kid: str) -> bytes:
    """A valid signal about `kid`, signed by the school with its data-dir keys."""
    keys = load_or_create_partner_keys(data_dir, SCHOOL.partner)
    return signed_message(signal(SCHOOL, child=kid), keys).payload


def unknown_type(data_dir: Path) -> bytes:
    """A signal renamed to a type no contract defines, signed by the school."""
    keys = load_or_create_partner_keys(data_dir, SCHOOL.partner)
    envelope = json.loads(signed(data_dir, child(92)))
    envelope["type"] = "nl.ketenbus.signalling.no-such-thing.v1"
    unsigned = {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}
    envelope[SIGNATURE_FIELD] = sign_envelope(unsigned, keys.signing, SCHOOL.partner)
    return json.dumps(envelope).encode()


def oversized(data_dir: Path, limit: int) -> bytes:
    """A valid signed signal, one byte over the limit (whitespace the signature ignores)."""
    raw = signed(data_dir, child(90))
    return raw[:-1] + b" " * (limit + 1 - len(raw)) + b"}"


def recorded_subjects(events: list[Any]) -> set[str]:
    return {e.subject for e in events if isinstance(e, SignalRegistered)}


def service_never_failed(backbone: Backbone, name: str = "signalling") -> bool:
    log = (backbone.settings.log_dir / f"{name}.log").read_text()
    running = backbone.processes[name].poll() is None
    return running and "handler_failed" not in log and "service_restarting" not in log


@pytest.mark.backbone(*SERVICES, processes=True)
class PoisonCase(StoreBackend):
    def test_poison_oversized_and_invalid_utf8_are_dead_lettered_and_the_next_signal_recorded(
        self, backbone: Backbone
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        limit = backbone.settings.inbound_max_bytes
        load_or_create_partner_keys(data_dir, "kluis")  # what dead letters are sealed to
        bad = {
            "too-large": POISON,
            "too-deep": DEEP,
            "invalid-utf8": signed(data_dir, child(91)).replace(b'"ib"', b'"\xff\xfe"'),
            "unknown-type": unknown_type(data_dir),
        }
        bad["too-large "] = oversized(data_dir, limit)  # a second, just over the limit
        items: list[tuple[str, bytes, str | None]] = []
        for n, raw in enumerate(bad.values()):
            items += [(SUBJECT, raw, None), (SUBJECT, signed(data_dir, child(100 + n)), None)]

        asyncio.run(publish_all(url, items))

        kids = {child(100 + n) for n in range(len(bad))}
        wait_until(
            lambda: kids <= recorded_subjects(stream_events(url, "SIGNALLING")),
            what="every valid signal",
        )
        wait_until(lambda: consumer_idle(url, "INBOUND", "signalling"), what="signalling idle")
        letters = [json.loads(payload) for _, payload, _ in read_stream(url, "DEADLETTER")]
        assert [code.strip() for code in bad] == [letter["reason"] for letter in letters]
        assert [("signalling", SCHOOL.partner, SUBJECT)] * len(bad) == [
            (letter["service"], letter["partner"], letter["subject"]) for letter in letters
        ]
        assert [1, 3, 5, 7, 9] == [letter["stream_seq"] for letter in letters]
        assert (len(POISON), hashlib.sha256(POISON).hexdigest(), {"withheld"}) == (
            letters[0]["size"],
            letters[0]["sha256"],
            set(letters[0]["original"]),
        )
        assert (limit + 1, {"withheld"}) == (letters[4]["size"], set(letters[4]["original"]))
        assert {"sealed_to", "jwe"} == set(letters[1]["original"])
        assert service_never_failed(backbone)

    def test_a_fuzzed_corpus_leaves_the_service_running_and_the_next_signal_recorded(
        self, backbone: Backbone
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        keys = load_or_create_partner_keys(data_dir, SCHOOL.partner)
        corpus = fuzz_corpus(3, keys)  # about 400 messages, half of the mutations re-signed
        items = [(SUBJECT, raw, None) for raw in corpus]

        asyncio.run(publish_all(url, [*items, (SUBJECT, signed(data_dir, child(200)), None)]))

        wait_until(
            lambda: child(200) in recorded_subjects(stream_events(url, "SIGNALLING")),
            what="the valid signal",
        )
        wait_until(lambda: consumer_idle(url, "INBOUND", "signalling"), what="signalling idle")
        reasons = {json.loads(p)["reason"] for _, p, _ in read_stream(url, "DEADLETTER")}
        assert {
            "forged-signature",
            "invalid-event",
            "invalid-json",
            "invalid-utf8",
            "too-deep",
        } <= reasons
        assert "unexpected-error" not in reasons
        assert service_never_failed(backbone)


class TestPoisonOnSQLite(PoisonCase):
    store = "sqlite"


class TestPoisonUnderRegistryAuthorization(StoreBackend):
    """As the school, on its own NATS user, under the generated authorization."""

    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, SERVICES, processes=True)

    def test_the_schools_poison_is_dead_lettered_and_its_next_signal_recorded(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)

        async def as_the_school() -> None:
            nc = await partner_connect(settings, SCHOOL.partner, url)
            try:
                js = nc.jetstream()
                await js.publish(SUBJECT, POISON)
                await js.publish(SUBJECT, DEEP)
                await publish_signed(js, signal(SCHOOL, child=child(300)), keys)
            finally:
                await nc.close()

        asyncio.run(as_the_school())

        wait_until(
            lambda: child(300) in recorded_subjects(signalled(settings, url)),
            what="the school's valid signal",
        )
        letters = [json.loads(m.data) for m in audited(settings, url, "DEADLETTER")]
        assert [("too-large", SCHOOL.partner), ("too-deep", SCHOOL.partner)] == [
            (letter["reason"], letter["partner"]) for letter in letters
        ]
        assert service_never_failed(backbone)

    def test_ingress_refuses_20_mb_as_too_large_and_dead_letters_its_digest(
        self, backbone: Backbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        huge = b'{"data": "' + b"x" * 20_000_000 + b'"}'

        with pytest.raises(IngressRefusedError) as refused:
            asyncio.run(publish_inbound(url, SCHOOL.partner, huge, None, settings))

        assert "too-large" == refused.value.code
        [letter] = [json.loads(m.data) for m in audited(settings, url, "DEADLETTER")]
        assert ("too-large", "ingress", len(huge), hashlib.sha256(huge).hexdigest()) == (
            letter["reason"],
            letter["service"],
            letter["size"],
            letter["sha256"],
        )


def signalled(settings: Settings, url: str) -> list[Any]:
    return [parse_event(m.data) for m in audited(settings, url, "SIGNALLING")]


def audited(settings: Settings, url: str, stream: str) -> list[Any]:
    """A stream's messages as the auditors' user reads them (read-only replay of that stream)."""

    async def read() -> list[Any]:
        spec = [s for s in STREAMS if s.name == stream]
        totals = await stream_totals(url, spec, settings=settings)
        return await read_streams(url, {stream: totals.get(stream, 0)}, settings=settings)

    return asyncio.run(read())

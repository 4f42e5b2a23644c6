"""The auditor's tools on a real nats-server and store: replay as of a moment, LDV export,
`ketenbus audit` commands, and forged events dead-lettered by the running services."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from ketenbus_contracts.signalling import MatchFound, MatchFoundData
from ketenbus_contracts.signing import sign_event
from ketenbus_partner.keys import load_or_create_partner_keys
from services.audit.replay import read_streams, replay, stream_totals
from services.cli import app as cli
from services.kluis.domain import Decision
from services.runtime.ingress import IngressRefusedError, validate_inbound
from services.runtime.settings import Settings
from services.runtime.streams import ensure_streams
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.events import signal
from tests.integration.helpers import (
    JGZ,
    SCHOOL,
    add_processing_record,
    child,
    publish_all,
    read_stream,
    wait_until,
)

pytestmark = pytest.mark.integration


async def _prepare(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc.jetstream())
    finally:
        await nc.close()


class AuditCase(StoreBackend):
    @pytest.fixture
    def history(self, settings: Settings, nats_url: str) -> Iterator[tuple[Settings, datetime]]:
        """Two children's signals in the streams; a moment between the first and the rest."""
        settings = settings.model_copy(update={"nats_url": nats_url})
        asyncio.run(_prepare(nats_url))
        school_keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
        first = sign_event(signal(SCHOOL, child=child(1)), school_keys)
        asyncio.run(
            publish_all(
                nats_url,
                [
                    (first.inbound_subject(SCHOOL.partner), first.to_bytes(), None),
                    (first.outbound_subject(), first.to_bytes(), None),
                ],
            )
        )
        add_processing_record(settings, child(1), Decision.RELEASED, datetime.now(UTC))
        time.sleep(0.05)  # so that the moment lies strictly between (not a timing assertion)
        moment = datetime.now(UTC)
        time.sleep(0.05)
        second = signal(JGZ, child=child(1))
        match = MatchFound.create(
            source="signalling",
            subject=child(1),
            data=MatchFoundData(
                match_id=uuid.uuid4(),
                signal_ids=[first.data.signal_id, second.data.signal_id],
                signallers=[SCHOOL, JGZ],
                found_at=datetime.now(UTC),
            ),
        )
        forged = first.model_copy(update={"id": uuid.uuid4()})  # altered after signing
        other = signal(SCHOOL, child=child(2))
        asyncio.run(
            publish_all(
                nats_url,
                [
                    (second.inbound_subject(JGZ.partner), second.to_bytes(), None),
                    (second.outbound_subject(), second.to_bytes(), None),
                    (match.outbound_subject(), match.to_bytes(), None),
                    (forged.inbound_subject(SCHOOL.partner), forged.to_bytes(), None),
                    (other.outbound_subject(), other.to_bytes(), None),
                ],
            )
        )
        add_processing_record(settings, child(1), Decision.REFUSED, datetime.now(UTC))
        yield settings, moment

    def test_replay_rebuilds_the_plan_as_it_was_at_a_moment(
        self, history: tuple[Settings, datetime]
    ) -> None:
        settings, moment = history
        assert settings.nats_url is not None
        then = replay(settings, settings.nats_url, until=moment, child=child(1))
        now = replay(settings, settings.nats_url, child=child(1))
        plan_then, plan_now = then.plans[child(1)], now.plans[child(1)]
        assert (1, None) == (len(plan_then["signals"]), plan_then["match"])
        assert 2 == len(plan_now["signals"]) and plan_now["match"] is not None
        assert (["released"], []) == (
            [r["decision"] for r in then.as_json()["key_releases"]],
            then.as_json()["key_refusals"],
        )
        assert 1 == len(now.as_json()["key_refusals"])
        assert {"verified": 1} == dict(then.signatures)
        assert ({"verified": 1, "unsigned": 1, "forged-signature": 1}) == dict(now.signatures)
        assert [child(1)] == list(now.plans)  # the other child is left out

    def test_streams_are_merged_in_storage_order_as_they_are_read(
        self, history: tuple[Settings, datetime]
    ) -> None:
        settings, _ = history
        assert settings.nats_url is not None
        totals = asyncio.run(stream_totals(settings.nats_url))
        merged = asyncio.run(read_streams(settings.nats_url, totals))
        order = [(m.stored_at, m.stream, m.seq) for m in merged]
        assert (sorted(order), sum(totals.values())) == (order, len(merged))
        assert {"INBOUND", "SIGNALLING"} <= {m.stream for m in merged}

    def test_cli_replay_writes_json_and_markdown_and_exports_ldv(
        self, history: tuple[Settings, datetime], tmp_path: Path
    ) -> None:
        settings, moment = history
        runner = CliRunner()
        env = settings.to_env()
        done = runner.invoke(
            cli,
            ["audit", "replay", "--out", str(tmp_path / "report.md"),
             "--until", moment.isoformat(), "--nats-url", str(settings.nats_url)],
            env=env,
        )  # fmt: skip
        assert 0 == done.exit_code, done.output
        report = json.loads((tmp_path / "report.json").read_text())
        assert 1 == len(report["plans"][child(1)]["signals"])
        assert report["events_counted"] == len(report["events"])
        assert "## Plans as they were" in (tmp_path / "report.md").read_text()
        exported = runner.invoke(
            cli, ["audit", "export-ldv", "--out", str(tmp_path / "ldv.json")], env=env
        )
        assert 0 == exported.exit_code, exported.output
        ldv = json.loads((tmp_path / "ldv.json").read_text())
        first = ldv["records"][0]
        assert (2, "STATUS_CODE_OK", "STATUS_CODE_UNSET") == (
            ldv["count"],
            first["status_code"],
            ldv["records"][1]["status_code"],
        )
        assert {
            "dpl.core.processing_activity_id",
            "dpl.core.data_subject_id",
            "dpl.core.data_subject_id_type",
        } <= set(first["attributes"])
        assert isinstance(first["start_time"], int)


class TestAuditOnSQLite(AuditCase):
    store = "sqlite"


@pytest.mark.postgres
class TestAuditOnPostgres(AuditCase):
    store = "postgres"


def test_ingress_refuses_an_altered_or_unsigned_event_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    keys = load_or_create_partner_keys(tmp_path, SCHOOL.partner)
    signed = sign_event(signal(SCHOOL, child=child(3)), keys)
    assert signed.id == validate_inbound(SCHOOL.partner, signed.to_bytes(), settings).id
    altered = json.loads(signed.to_bytes())
    altered["data"]["registered_on"] = "2026-01-01"
    with pytest.raises(IngressRefusedError, match="forged-signature") as forged:
        validate_inbound(SCHOOL.partner, json.dumps(altered).encode(), settings)
    unsigned = signal(SCHOOL, child=child(3))
    with pytest.raises(IngressRefusedError, match="missing-signature") as missing:
        validate_inbound(SCHOOL.partner, unsigned.to_bytes(), settings)
    assert ("forged-signature", "missing-signature") == (forged.value.code, missing.value.code)
    # Only as an explicit migration setting does an unsigned event pass.
    migrating = settings.model_copy(update={"signatures": "verify-if-present"})
    assert unsigned.id == validate_inbound(SCHOOL.partner, unsigned.to_bytes(), migrating).id


@pytest.mark.backbone("signalling")
def test_signalling_dead_letters_a_forged_event_and_processes_the_signed_one(
    backbone: Backbone,
) -> None:
    url, keys = (
        backbone.url,
        load_or_create_partner_keys(backbone.settings.data_dir, SCHOOL.partner),
    )
    signed = sign_event(signal(SCHOOL, child=child(4)), keys)
    forged = json.loads(sign_event(signal(SCHOOL, child=child(5)), keys).to_bytes())
    forged["subject"] = child(6)  # moved to another child after signing
    asyncio.run(
        publish_all(
            url,
            [
                (signed.inbound_subject(SCHOOL.partner), signed.to_bytes(), None),
                (signed.inbound_subject(SCHOOL.partner), json.dumps(forged).encode(), None),
            ],
        )
    )
    letters = wait_until(
        lambda: read_stream(url, "DEADLETTER"), what="the forged event dead-lettered"
    )
    signalled = wait_until(
        lambda: read_stream(url, "SIGNALLING"), what="the signed event processed"
    )
    letter = json.loads(letters[0][1])
    assert ("forged-signature", "ketenbussig") == (letter["reason"], letter["details"][0]["loc"])
    assert [child(4)] == sorted({json.loads(data)["subject"] for _, data, _ in signalled})

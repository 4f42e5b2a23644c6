"""The warm handover end to end: OSO dossiers in and out over a real nats-server, with the
handover and kluis services on SQLite and PostgreSQL; escalation by an injected clock on both
stores."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from lxml import etree

from adapters.intake import school_brin
from adapters.oso.dossier import SAMPLES, oso_schema, read_dossier
from adapters.oso.transfer import Imported, TransferError, export_oso, import_oso
from ketenbus_contracts.handover import (
    ContinuityGapFound,
    DossierDelivered,
    DossierProcessingRecorded,
    DossierReleased,
    DossierReleasedData,
    DossierRequested,
    DossierRequestedData,
    Enrolment,
    HandoverEscalated,
    Organisation,
    RunningSupport,
)
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.pseudonyms import PseudonymClient
from services.handover.application import HandoverApplication
from services.handover.translation import apply_inbound, to_contract
from services.policy.handover import load_disclosure_rules, load_rules
from services.runtime.outbox import outbound_event_id
from services.runtime.settings import Settings, server_list
from services.runtime.store import store_env
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.integration.helpers import publish_events, read_stream, stream_events, wait_until
from tests.unit.test_handover_application import Clock, Story

pytestmark = pytest.mark.integration

EXAMPLES = SAMPLES
POVO = EXAMPLES / "Voorbeelddossier_OV_POVO_full.xml"
OPT_OUT = EXAMPLES / "Voorbeelddossier_OV_POVO_opt_out.xml"
SENDER = "bs-de-regenboog"
RECEIVER = "vo-het-lyceum"
DISCLOSURE = load_disclosure_rules()
RULES = load_rules()


# The sample's surname is four letters: by chance it turns up in megabytes of base64 ciphertext.
# A long canary in its place cannot.
CANARY_SURNAME = "Kanariepietersma"


def with_canary_surname(path: Path, target: Path) -> Path:
    """A copy of the dossier whose pupil carries the canary surname."""
    root = etree.fromstring(path.read_bytes())
    ns = DISCLOSURE.namespace
    surname = root.find(f"{{{ns}}}huidigeschool/{{{ns}}}leerling/{{{ns}}}achternaam")
    if surname is not None:
        surname.text = CANARY_SURNAME
    target.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return target


def from_sender(raw: bytes) -> bytes:
    """The sample as the sending school's own export: its BRIN (the samples' 00YY is nobody's
    in the registry, and an import checks the file's BRIN against the sender's)."""
    own = f"<brincode>{school_brin(SENDER)}</brincode>".encode()
    return raw.replace(b"<brincode>00YY</brincode>", own, 1)


def pupil_values(path: Path) -> list[bytes]:
    """The pupil's BSN, surname and a base64 attachment: none may travel in clear."""
    root = etree.fromstring(path.read_bytes())
    ns = DISCLOSURE.namespace
    values = [
        root.findtext(f"{{{ns}}}huidigeschool/{{{ns}}}leerling/{{{ns}}}{name}")
        for name in ("bsn", "achternaam")
    ]
    documents = root.findall(f".//{{{ns}}}bestandsinhoud")
    values += [d.text.strip()[:60] for d in documents[:1] if d.text]
    return [v.encode() for v in values if v]


async def _import(
    url: str, data_dir: Path, path: Path, running: list[RunningSupport] | None = None
) -> tuple[Imported, list[bytes]]:
    seen: list[bytes] = []
    tap = await nats.connect(server_list(url))

    async def keep(msg: Any) -> None:
        seen.append(msg.subject.encode() + b"\n" + msg.data)

    await tap.subscribe(">", cb=keep)
    nc = await nats.connect(server_list(url))
    try:
        keyring = Keyring.for_partner(data_dir, SENDER, nc, refusal_ttl=0)
        done = await import_oso(
            nc,
            keyring,
            from_sender(path.read_bytes()),
            pseudonyms=PseudonymClient.for_partner(data_dir, SENDER, nc),
            disclosure=DISCLOSURE,
            rules=RULES,
            contact="ib-er groep 8",
            planned_on=datetime.now(UTC).date() + timedelta(days=30),
            swv="swv-po-lingewaard",
            running=running,
        )
    finally:
        await nc.close()
        await tap.flush()
        await tap.close()
    return done, seen


async def _export(url: str, data_dir: Path, partner: str, handover_id: uuid.UUID) -> bytes:
    nc = await nats.connect(server_list(url))
    try:
        keyring = Keyring.for_partner(data_dir, partner, nc, refusal_ttl=0)
        return await export_oso(nc, keyring, handover_id, disclosure=DISCLOSURE, rules=RULES)
    finally:
        await nc.close()


def request(done: Imported, enrolled: bool = True) -> DossierRequested:
    today = datetime.now(UTC).date()
    return DossierRequested.create(
        source=RECEIVER,
        subject=done.child,
        data=DossierRequestedData(
            handover_id=done.handover_id,
            receiver=Organisation(partner=RECEIVER, contact="zorgcoordinator"),
            enrolment=Enrolment(partner=RECEIVER, enrolled_on=today) if enrolled else None,
            requested_on=today,
        ),
    )


def release(done: Imported) -> DossierReleased:
    return DossierReleased.create(
        source=SENDER,
        subject=done.child,
        data=DossierReleasedData(
            handover_id=done.handover_id,
            released_on=datetime.now(UTC).date(),
            parents_copy_on=datetime.now(UTC).date(),
        ),
    )


def delivered(url: str, handover_id: uuid.UUID) -> DossierDelivered | None:
    for event in stream_events(url, "HANDOVER"):
        if isinstance(event, DossierDelivered) and event.data.handover_id == handover_id:
            return event
    return None


def export_when_keyed(url: str, data_dir: Path, handover_id: uuid.UUID) -> bytes:
    """Export as the receiver once kluis has the relation the delivery gives it."""

    def attempt() -> bytes | None:
        try:
            return asyncio.run(_export(url, data_dir, RECEIVER, handover_id))
        except TransferError:
            return None

    return wait_until(attempt, what="the receiver's export")


def valid(xml: bytes) -> bool:
    return bool(oso_schema().validate(etree.fromstring(xml).getroottree()))


# the feed gives the receiver its delivery (`export oso` reads its own feed)
@pytest.mark.backbone("handover", "kluis", "pseudonym", "feed")
class HandoverCase(StoreBackend):
    def test_an_oso_dossier_goes_in_is_delivered_after_enrolment_and_comes_out_valid(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        dossier = with_canary_surname(POVO, tmp_path / "dossier.xml")
        done, wire = asyncio.run(_import(url, data_dir, dossier))
        assert (14, 15, "po-vo") == (done.sections, done.attachments, done.transition)

        publish_events(url, [request(done), release(done)], data_dir)
        event = wait_until(lambda: delivered(url, done.handover_id), what="delivery")
        xml = export_when_keyed(url, data_dir, done.handover_id)

        assert valid(xml)
        assert POVO.read_bytes().count(b"<") == xml.count(b"<")
        assert RECEIVER == event.data.receiver
        # The running arrangement in the file (no end date) is carried; nothing is a gap.
        assert [("oso-arrangement_cluster12-3", True)] == [
            (r.ref, r.carried) for r in event.data.running
        ]
        # Nothing about the pupil in clear on the wire (events, kluis, object store chunks).
        assert CANARY_SURNAME.encode() in pupil_values(dossier)
        assert [] == [v for v in pupil_values(dossier) for message in wire if v in message]
        records = [
            (e.data.action, e.data.actor)
            for e in stream_events(url, "HANDOVER")
            if isinstance(e, DossierProcessingRecorded)
        ]
        assert [("requested", RECEIVER), ("released", SENDER)] == records

    def test_what_the_parents_opted_out_of_does_not_leave(self, backbone: Backbone) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        youth_care = RunningSupport(ref="jh-2026-004", kind="youth-care", carried=False)
        done, _ = asyncio.run(_import(url, data_dir, OPT_OUT, [youth_care]))

        publish_events(url, [request(done), release(done)], data_dir)
        event = wait_until(lambda: delivered(url, done.handover_id), what="delivery")
        xml = export_when_keyed(url, data_dir, done.handover_id)

        assert valid(xml)
        again = read_dossier(xml, DISCLOSURE)
        assert read_dossier(OPT_OUT.read_bytes(), DISCLOSURE).opted_out == again.opted_out
        assert {"vve", "vombo"}.isdisjoint(s.category for s in event.data.sections)
        gaps = [e for e in stream_events(url, "HANDOVER") if isinstance(e, ContinuityGapFound)]
        assert [[youth_care]] == [gap.data.gaps for gap in gaps]

    def test_a_request_without_enrolment_is_dead_lettered_and_nothing_is_delivered(
        self, backbone: Backbone
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        done, _ = asyncio.run(_import(url, data_dir, POVO))

        publish_events(url, [request(done, enrolled=False), release(done)], data_dir)

        def dead_letters() -> list[dict[str, Any]]:
            return [
                json.loads(data)
                for _, data, _ in read_stream(url, "DEADLETTER", "ketenbus.deadletter.handover")
            ]

        letters = wait_until(lambda: len(dead_letters()) >= 2 and dead_letters(), what="refusals")
        reasons = [letter["reason"] for letter in letters]
        assert ["NotEnrolledError", "NotRequestedError"] == reasons
        assert delivered(url, done.handover_id) is None
        with pytest.raises(TransferError):
            asyncio.run(_export(url, data_dir, RECEIVER, done.handover_id))

    def test_an_undelivered_handover_escalates_by_the_injected_clock_and_survives_reopening(
        self, settings: Settings
    ) -> None:
        clock = Clock(datetime(2026, 5, 1, 9, tzinfo=UTC))
        story = Story("po-vo")
        app = HandoverApplication(env=store_env(settings, "handover"), clock=clock)
        try:
            for event in (story.started(planned_on=date(2026, 6, 1)), story.prepared()):
                apply_inbound(app, event)  # type: ignore[arg-type]
            app.tick(datetime(2026, 6, 2, 1, tzinfo=UTC))
        finally:
            app.close()
        reopened = HandoverApplication(env=store_env(settings, "handover"), clock=clock)
        try:
            reopened.tick(datetime(2026, 6, 2, 2, tzinfo=UTC))  # level 1 is not repeated
            reopened.tick(datetime(2026, 6, 20, tzinfo=UTC))
            notifications = reopened.recorder.select_notifications(1, 100)
            events = [reopened.mapper.to_domain_event(n) for n in notifications]
            contracts = [to_contract(e, outbound_event_id("handover", e)) for e in events]
        finally:
            reopened.close()
        escalated = [c for c in contracts if isinstance(c, HandoverEscalated)]
        assert [(1, "sending-contact"), (2, "swv")] == [
            (e.data.level, e.data.to) for e in escalated
        ]


class TestHandoverOnSQLite(HandoverCase):
    store = "sqlite"


@pytest.mark.postgres
class TestHandoverOnPostgres(HandoverCase):
    store = "postgres"

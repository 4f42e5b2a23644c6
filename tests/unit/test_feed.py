"""The feed in memory: who gets a copy, which sections it keeps, and receipts."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import nats.errors
import pytest
import structlog.testing
from pydantic import ValidationError

from ketenbus_contracts.feed import (
    FEED_SIGNATURE_HEADER,
    Receipt,
    sign_feed_entry,
    verify_feed_entry,
)
from ketenbus_contracts.privacy import ChildErased, ChildErasedData
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import PartnerKeys
from ketenbus_contracts.signalling import (
    InformingDue,
    InformingDueData,
    ParentsInformed,
    ParentsInformedData,
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
    SignalWithdrawnData,
)
from ketenbus_contracts.signing import ForgedSignatureError
from ketenbus_contracts.truancy import (
    PupilEnrolled,
    PupilEnrolledData,
    ThuiszitterRegistered,
    ThuiszitterRegisteredData,
    VerzuimReportDue,
    VerzuimReportDueData,
)
from services.feed.application import FeedApplication
from services.feed.bootstrap import load_rules
from services.feed.domain import FeedRules, InvalidFeedRulesError, trim
from services.registry import service_specs
from services.runtime.nats_permissions import permissions_of, user_entries
from services.runtime.receipts import batch_receipts, publish_receipts
from services.runtime.store import UnexpectedHandlerError
from services.runtime.streams import InvalidFeedRetentionError, feed_max_age
from tests.events import signal

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
JGZ = Signaller(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz")
CHILD, OTHER = "a" * 32, "b" * 32
KEYS = PartnerKeys.generate("feed")


def application() -> FeedApplication:
    # Erasure deletes stored events, which the POPO store cannot: SQLite in memory.
    return FeedApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"},
        rules=load_rules(),
        sign=lambda body: sign_feed_entry(body, KEYS),
    )


def registered(child: str, who: Signaller, sealed: dict[Purpose, str]) -> SignalRegistered:
    return signal(who, date(2026, 11, 1), child, sealed, source="ketenbus.signalling")


def erased(child: str) -> ChildErased:
    return ChildErased.create(
        source="kluis", subject=child, data=ChildErasedData(erased_at=datetime.now(UTC))
    )


def copies(app: FeedApplication, *events: object, start: int = 1) -> list[tuple[str, dict]]:
    items = list(enumerate(events, start=start))
    prepared = app.prepare("SIGNALLING:feed", items)
    app.commit(prepared)
    return [(e.subject, json.loads(e.body)) for e in prepared.entries]


def test_a_signal_goes_only_to_its_signaller_without_the_sections_its_role_may_not_hold() -> None:
    app = application()
    signal = registered(CHILD, SCHOOL, {Purpose.SIGNALLING: "s.s.s.s.s", Purpose.YOUTH_CARE: "y"})

    sent = copies(app, signal)

    assert [("feed.bs-de-regenboog.signalling.signal-registered", ["signalling"])] == [
        (subject, sorted(body["data"]["sealed"])) for subject, body in sent
    ]
    assert ["signalling"] == sent[0][1]["purposes"]


def test_a_section_its_role_may_hold_is_left_out_when_no_relation_of_it_opens_that_purpose() -> (
    None
):
    app = application()
    # A school may hold attendance, but a signal is no basis for it (an enrolment is).
    signal = registered(CHILD, SCHOOL, {Purpose.SIGNALLING: "s", Purpose.ATTENDANCE: "a"})

    sent = copies(app, signal)

    assert [["signalling"]] == [sorted(body["data"]["sealed"]) for _, body in sent]


def test_another_signaller_does_not_see_a_signal_that_is_not_its_own() -> None:
    app = application()

    sent = copies(
        app, registered(CHILD, SCHOOL, {}), registered(CHILD, JGZ, {}), registered(OTHER, JGZ, {})
    )

    assert [
        "feed.bs-de-regenboog.signalling.signal-registered",
        "feed.jgz-gelderland-zuid.signalling.signal-registered",
        "feed.jgz-gelderland-zuid.signalling.signal-registered",
    ] == [subject for subject, _ in sent]


def test_an_erasure_reaches_every_related_partner_and_the_relations_are_forgotten() -> None:
    app = application()
    copies(app, registered(CHILD, SCHOOL, {}), registered(CHILD, JGZ, {}))

    told = copies(app, erased(CHILD), start=3)
    after = copies(app, erased(CHILD), start=4)

    assert ["bs-de-regenboog", "jgz-gelderland-zuid"] == [s.split(".")[1] for s, _ in told]
    assert [] == after


def test_a_withdrawn_signal_is_told_to_its_signaller_and_ends_its_relation() -> None:
    app = application()
    signal = registered(CHILD, SCHOOL, {})
    withdrawn = SignalWithdrawn.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=SignalWithdrawnData(
            signal_id=signal.data.signal_id, withdrawn_on=date(2026, 11, 2), reason="withdrawn"
        ),
    )

    sent = copies(app, signal, withdrawn, erased(CHILD))

    assert ["signal-registered", "signal-withdrawn"] == [s.split(".")[-1] for s, _ in sent]


def test_a_batch_processed_before_sends_nothing_again() -> None:
    app = application()
    signal = registered(CHILD, SCHOOL, {})
    copies(app, signal)

    assert [] == copies(app, signal)


def test_a_batch_refused_whole_is_recorded_through_its_last_message() -> None:
    app = application()

    app.commit(app.prepare("SIGNALLING:feed", [], through=3))

    assert 3 == app.position("SIGNALLING:feed")


def test_an_unexpected_error_on_one_event_names_its_sequence_and_records_nothing() -> None:
    class Broken:
        subject = CHILD

        def relation_changes(self) -> list[object]:
            raise ZeroDivisionError

    app = application()

    with pytest.raises(UnexpectedHandlerError) as failed:
        app.prepare("SIGNALLING:feed", [(1, registered(CHILD, SCHOOL, {})), (2, Broken())])

    assert (2, ZeroDivisionError, 0) == (
        failed.value.seq,
        type(failed.value.error),
        app.position("SIGNALLING:feed"),
    )


def test_a_feed_retention_that_is_not_whole_days_is_an_error(tmp_path: Path) -> None:
    rules = tmp_path / "feed.yaml"
    rules.write_text('version: "x"\nretention: P1M\n')

    with pytest.raises(InvalidFeedRetentionError):
        feed_max_age(rules)


def test_trim_keeps_dossier_sections_only_for_a_role_that_may_hold_handover() -> None:
    envelope = {"data": {"sections": [{"category": "x", "sealed": "t"}], "sealed": {}}}

    assert ([], [{"category": "x", "sealed": "t"}]) == (
        trim(envelope, frozenset({"plan"}))["data"]["sections"],
        trim(envelope, frozenset({"handover"}))["data"]["sections"],
    )


def test_a_copy_verifies_with_the_feeds_key_and_an_altered_one_does_not() -> None:
    app = application()
    prepared = app.prepare("SIGNALLING:feed", [(1, registered(CHILD, SCHOOL, {}))])
    entry = prepared.entries[0]
    altered = entry.body.replace(b"bs-de-regenboog", b"bs-de-andere0000")

    verify_feed_entry(entry.body, entry.headers, KEYS)
    with pytest.raises(ForgedSignatureError):
        verify_feed_entry(altered, entry.headers, KEYS)
    assert entry.headers["Nats-Msg-Id"].endswith(":bs-de-regenboog")
    assert FEED_SIGNATURE_HEADER in entry.headers


def test_unknown_audiences_are_refused() -> None:
    with pytest.raises(InvalidFeedRulesError):
        FeedRules(roles={}, holder_purposes={}, audiences={"x": "everyone"})  # type: ignore[dict-item]


class _Msg:
    def __init__(self, subject: str, data: bytes) -> None:
        self.subject, self.data = subject, data


class SignallerMismatchError(ValueError):
    pass


def test_receipts_say_accepted_with_the_sequence_or_refused_with_a_kebab_case_reason() -> None:
    good = registered(CHILD, SCHOOL, {})
    bad_id = uuid.uuid4()
    messages = {
        7: _Msg("in.bs-de-regenboog.signalling.signal-registered", good.to_bytes()),
        8: _Msg(
            "in.bs-de-regenboog.signalling.signal-registered",
            b'{"id": "%s"}' % str(bad_id).encode(),
        ),
        9: _Msg("in.jgz-gelderland-zuid.signalling.x", b"[" * 1000),
    }

    receipts = batch_receipts(
        "signalling",
        messages,
        [(7, good)],
        [(8, SignallerMismatchError("no")), (9, ValueError("bad"))],
    )

    assert [
        ("bs-de-regenboog", "accepted", good.id, 7, None),
        ("bs-de-regenboog", "refused", bad_id, 8, "signaller-mismatch"),
        ("jgz-gelderland-zuid", "refused", None, 9, "value"),
    ] == [(r.partner, r.status, r.event_id, r.stream_seq, r.reason) for r in receipts]


def test_a_receipt_names_a_reason_exactly_when_refused() -> None:
    with pytest.raises(ValidationError):
        Receipt(
            id=uuid.uuid4(), partner="bs-de-regenboog", status="refused", service="signalling",
            decided_at=datetime.now(UTC),
        )  # fmt: skip


def test_a_partners_nats_user_reads_its_own_feed_only() -> None:
    specs = service_specs()
    entries, rules = user_entries(specs)
    school = next(e for e in entries if e.id == SCHOOL.partner)

    allowed = permissions_of(school, rules, specs)["publish"]

    # Its feed consumer and its web app's receipts consumer: fetch, ack, info; and `export
    # oso`'s short-lived consumer named after it, filtered on the deliveries of its own feed.
    assert [
        "$JS.ACK.FEED.bs-de-regenboog.>",
        "$JS.ACK.FEED.feed-bs-de-regenboog.>",
        "$JS.ACK.FEED.receipts-bs-de-regenboog.>",
        "$JS.API.CONSUMER.CREATE.FEED.bs-de-regenboog.feed.bs-de-regenboog.handover."
        "dossier-delivered",
        "$JS.API.CONSUMER.DELETE.FEED.bs-de-regenboog",
        "$JS.API.CONSUMER.INFO.FEED.bs-de-regenboog",
        "$JS.API.CONSUMER.INFO.FEED.feed-bs-de-regenboog",
        "$JS.API.CONSUMER.INFO.FEED.receipts-bs-de-regenboog",
        "$JS.API.CONSUMER.MSG.NEXT.FEED.bs-de-regenboog",
        "$JS.API.CONSUMER.MSG.NEXT.FEED.feed-bs-de-regenboog",
        "$JS.API.CONSUMER.MSG.NEXT.FEED.receipts-bs-de-regenboog",
    ] == sorted(s for s in allowed if "FEED" in s or s.startswith("feed."))


def test_leerplicht_reads_the_verzuimmelding_it_received_with_the_attendance_section() -> None:
    app = application()
    school, leerplicht = "bs-de-regenboog", "leerplicht-lingewaard"
    enrolled = PupilEnrolled.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=PupilEnrolledData(
            school=school, brin="99ZZ", region="lingewaard", enrolled_on=date(2026, 8, 31)
        ),
    )
    report = VerzuimReportDue.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=VerzuimReportDueData(
            report_id=uuid.uuid4(), school=school, brin="99ZZ", region="lingewaard",
            leerplicht=leerplicht, begin_on=date(2026, 9, 1), end_on=date(2026, 9, 25),
            kind="16-uur", hours_unauthorised=16, hours_absent=16, lessons_missed=16,
            action_taken="gesprek", municipal_action_wanted=True, contact="ib",
            absence_ids=[], sealed={Purpose.ATTENDANCE: "a", Purpose.SUPPORT: "s"},
        ),
        purposes=[Purpose.ATTENDANCE, Purpose.SUPPORT],
    )  # fmt: skip

    sent = copies(app, enrolled, report)

    assert [
        ("feed.bs-de-regenboog.truancy.pupil-enrolled", []),
        # The school may hold support, but an enrolment opens no support (an arrangement does).
        ("feed.bs-de-regenboog.truancy.verzuim-report-due", ["attendance"]),
        ("feed.leerplicht-lingewaard.truancy.verzuim-report-due", ["attendance"]),
    ] == [(subject, sorted(body["data"]["sealed"])) for subject, body in sent]


def test_a_thuiszitter_goes_to_the_leerplicht_it_notifies_and_another_regions_report_does_not() -> (
    None
):
    app = application()
    leerplicht = "leerplicht-lingewaard"
    thuiszitter = ThuiszitterRegistered.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=ThuiszitterRegisteredData(
            region="lingewaard", category=1, since=date(2026, 9, 1), absolute=True,
            notify=[leerplicht],
        ),
    )  # fmt: skip
    elsewhere = VerzuimReportDue.create(
        source="ketenbus.truancy",
        subject=OTHER,
        data=VerzuimReportDueData(
            report_id=uuid.uuid4(), school="bs-de-regenboog", brin="99ZZ", region="elders",
            leerplicht="leerplicht-elders", begin_on=date(2026, 9, 1), end_on=date(2026, 9, 25),
            kind="16-uur", hours_unauthorised=16, hours_absent=16, lessons_missed=16,
            action_taken="gesprek", municipal_action_wanted=True, contact="ib", absence_ids=[],
        ),
    )  # fmt: skip

    sent = copies(app, thuiszitter, elsewhere)

    assert ["feed.leerplicht-lingewaard.truancy.thuiszitter-registered"] == [
        subject for subject, _ in sent
    ]


class _DeniedJetStream:
    """A JetStream whose publishes are never acknowledged (a permission the user lacks)."""

    async def publish_async(self, *args: object, **kwargs: object) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(nats.errors.TimeoutError())
        return future


def test_a_receipt_that_cannot_be_published_does_not_stop_the_service() -> None:
    good = registered(CHILD, SCHOOL, {})
    receipts = batch_receipts(
        "signalling",
        {7: _Msg("in.bs-de-regenboog.signalling.signal-registered", good.to_bytes())},
        [(7, good)],
        [],
    )

    with structlog.testing.capture_logs() as logs:
        asyncio.run(publish_receipts(_DeniedJetStream(), receipts))  # type: ignore[arg-type]

    assert [("receipts_not_published", 1)] == [
        (e["event"], e["count"]) for e in logs if e["event"] == "receipts_not_published"
    ]


def test_a_match_goes_to_its_signallers_and_whom_it_notifies_not_to_other_related_partners() -> (
    None
):
    from ketenbus_contracts.signalling import MatchFound, MatchFoundData

    app = application()
    school_signal, jgz_signal = registered(CHILD, SCHOOL, {}), registered(CHILD, JGZ, {})
    # vo-het-lyceum is related to the child by an enrolment, not by a signal.
    enrolled = PupilEnrolled.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=PupilEnrolledData(
            school="vo-het-lyceum", brin="99YY", region="lingewaard", enrolled_on=date(2026, 8, 31)
        ),
    )
    match = MatchFound.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=MatchFoundData(
            match_id=uuid.uuid4(),
            signal_ids=[school_signal.data.signal_id, jgz_signal.data.signal_id],
            signallers=[SCHOOL, JGZ],
            found_at=datetime.now(UTC),
            municipal_coordinator="wijkteam-lingewaard",
            notify=["bs-de-regenboog", "jgz-gelderland-zuid", "wijkteam-lingewaard"],
        ),
    )
    copies(app, school_signal, jgz_signal, enrolled)

    sent = copies(app, match, start=4)

    assert [
        "feed.bs-de-regenboog.signalling.match-found",
        "feed.jgz-gelderland-zuid.signalling.match-found",
        "feed.wijkteam-lingewaard.signalling.match-found",
    ] == [subject for subject, _ in sent]


def test_whom_to_inform_of_a_signal_reaches_its_signaller_alone_not_other_related_partners() -> (
    None
):
    # Jeugdwet afdeling 7.1: a lone signal is seen by no other partner, nor what its signaller
    # still has to do about it (the school is related to the child by its enrolment only).
    app = application()
    enrolled = PupilEnrolled.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=PupilEnrolledData(
            school=SCHOOL.partner, brin="99ZZ", region="lingewaard", enrolled_on=date(2026, 8, 31)
        ),
    )
    jgz_signal = registered(CHILD, JGZ, {})
    signal_id = jgz_signal.data.signal_id
    informed = ParentsInformed.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=ParentsInformedData(
            signal_id=signal_id, signaller=JGZ, registered_on=date(2026, 11, 1),
            audience=["parents"], age_band="4-11",
        ),
    )  # fmt: skip
    due = InformingDue.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=InformingDueData(
            signal_id=signal_id, partner=JGZ.partner, audience=["parents"],
            since=date(2026, 11, 1),
        ),
    )  # fmt: skip

    sent = copies(app, enrolled, jgz_signal, informed, due)

    assert [
        "feed.bs-de-regenboog.truancy.pupil-enrolled",
        "feed.jgz-gelderland-zuid.signalling.signal-registered",
        "feed.jgz-gelderland-zuid.signalling.parents-informed",
        "feed.jgz-gelderland-zuid.signalling.informing-due",
    ] == [subject for subject, _ in sent]

"""kluis without NATS: signed requests in, answers out, relations from events, erasure.

In-memory stores (POPO event store, SQLite `:memory:` keystore, a static master key) so this
runs without I/O beyond reading the register under `infra/`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from ketenbus_contracts.arrangements import (
    OppDrawnUp,
    OppDrawnUpData,
    Party,
    RegieChanged,
    RegieChangedData,
)
from ketenbus_contracts.plan import ParentUnlinked, ParentUnlinkedData
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    KeyRequest,
    KluisAnswer,
    PartnerKeys,
    ResealRequest,
    SealRequest,
    encrypt_to,
    kid_of,
    open_section,
    receive_key,
    seal,
    sign_request,
)
from ketenbus_contracts.signalling import (
    Signaller,
    SignalRegistered,
    SignalWithdrawn,
    SignalWithdrawnData,
)
from ketenbus_contracts.truancy import (
    PupilEnrolled,
    PupilEnrolledData,
    VerzuimReportDue,
    VerzuimReportDueData,
)
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from services.audit.chain import fields_digest, table_digests
from services.kluis.application import KluisApplication
from services.kluis.domain import Decision
from services.kluis.keystore import Keystore, StaticMasterKey
from services.policy.loading import load_register
from services.runtime.partners import PartnerEntry, PartnerRegistry
from tests.events import PARENT, parent_linked, signal

CHILD = "b" * 32
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PARTNERS = {
    "bs-de-regenboog": "school",
    "vo-het-lyceum": "school",
    "mbo-rijn-ijssel": "school",
    "jgz-gelderland-zuid": "jgz",
    "wijkteam-lingewaard": "wijkteam",
    "swv-po-lingewaard": "swv",
    "ouder-demo-0001": "parent",
    "leerplicht-lingewaard": "leerplicht",
    "integral-plan": "plan-service",
}


@pytest.fixture
def keys() -> dict[str, PartnerKeys]:
    return {pid: PartnerKeys.generate(pid) for pid in (*PARTNERS, "kluis")}


@pytest.fixture
def app(keys: dict[str, PartnerKeys]) -> Iterator[KluisApplication]:
    entries = [
        PartnerEntry(
            id=pid,
            name=pid,
            role=role,
            keys="inline",
            public_jwks=keys[pid].to_jwks(private=False),
        )
        for pid, role in PARTNERS.items()
    ]
    application = KluisApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        register=load_register(),
        directory=PartnerRegistry(entries, data_dir=Path("/nonexistent")),
        keystore=Keystore.sqlite(Path(":memory:"), StaticMasterKey(os.urandom(32))),
        own_keys=keys["kluis"],
    )
    yield application
    application.close()


def ask(
    app: KluisApplication,
    keys: PartnerKeys,
    purpose: Purpose,
    version: int | None = None,
    scope: str | None = None,
) -> KluisAnswer:
    """A key request; the scope is the partner's own unless named."""
    request = KeyRequest(
        partner=keys.partner,
        child=CHILD,
        purpose=purpose,
        scope=scope or keys.partner,
        version=version,
        traceparent=TRACEPARENT,
    )
    return app.answer(sign_request(request, keys.signing))


def signal_by(partner: str, signal_id: uuid.UUID) -> SignalRegistered:
    signaller = Signaller(partner=partner, role="ib-er", contact="ib")
    return signal(signaller, child=CHILD, source="ketenbus.signalling", signal_id=signal_id)


def consume(app: KluisApplication, *events: object) -> None:
    start = app.position("SIGNALLING:kluis")
    app.process_batch("SIGNALLING:kluis", [(start + i + 1, e) for i, e in enumerate(events)])


def test_a_partner_without_a_relation_is_refused_and_the_refusal_is_recorded(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    answer = ask(app, keys["bs-de-regenboog"], Purpose.SIGNALLING)
    [record] = app.processing_records(data_subject=CHILD)
    expected = (False, "no-relation", Decision.REFUSED, "pa-signalling", TRACEPARENT[3:35])

    assert expected == (
        answer.ok,
        answer.refusal.code if answer.refusal else None,
        record.decision,
        record.processing_activity_id,
        record.trace_id,
    )


def test_a_signal_gives_its_signaller_the_key_sealed_to_its_own_key(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["bs-de-regenboog"]
    consume(app, signal_by(school.partner, uuid.uuid4()))

    answer = ask(app, school, Purpose.SIGNALLING)
    data_key = receive_key(answer.key or "", school.encryption)

    assert f"{CHILD}/signalling/bs-de-regenboog/1" == data_key.kid
    assert len(data_key.key) == 32


def test_a_withdrawn_signal_ends_the_relation_and_the_refusal_says_so(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["bs-de-regenboog"]
    signal_id = uuid.uuid4()
    withdrawn = SignalWithdrawn.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=SignalWithdrawnData(signal_id=signal_id, withdrawn_on=date(2026, 12, 1)),
    )
    consume(app, signal_by(school.partner, signal_id), withdrawn)

    answer = ask(app, school, Purpose.SIGNALLING)

    assert "relation-ended" == (answer.refusal.code if answer.refusal else None)


def test_a_relation_does_not_open_a_purpose_the_role_may_not_hold(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["bs-de-regenboog"]
    consume(app, signal_by(school.partner, uuid.uuid4()))

    answer = ask(app, school, Purpose.YOUTH_CARE)

    assert "role-not-permitted" == (answer.refusal.code if answer.refusal else None)


def test_kluis_seals_for_a_first_signaller_and_the_key_opens_it_after_the_relation(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    jgz = keys["jgz-gelderland-zuid"]
    event_id = uuid.uuid4()
    request = SealRequest(
        partner=jgz.partner,
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope=jgz.partner,
        event_id=event_id,
        section=encrypt_to({"concern": "groeiachterstand"}, keys["kluis"].public().encryption),
    )
    sealed = app.answer(sign_request(request, jgz.signing))
    consume(app, signal_by(jgz.partner, uuid.uuid4()))
    data_key = receive_key(ask(app, jgz, Purpose.SIGNALLING).key or "", jgz.encryption)

    expected = {"concern": "groeiachterstand"}
    assert expected == open_section(sealed.token or "", key=data_key.key, event_id=event_id)


def test_a_rotated_key_seals_anew_and_the_old_version_still_opens_old_sections(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["bs-de-regenboog"]
    consume(app, signal_by(school.partner, uuid.uuid4()))
    old = receive_key(ask(app, school, Purpose.SIGNALLING).key or "", school.encryption)
    event_id = uuid.uuid4()
    token = seal({"n": 1}, key=old.key, kid=old.kid, event_id=event_id)

    new_kid = app.rotate(CHILD, Purpose.SIGNALLING, school.partner)
    current = receive_key(ask(app, school, Purpose.SIGNALLING).key or "", school.encryption)
    again = receive_key(ask(app, school, Purpose.SIGNALLING, 1).key or "", school.encryption)

    assert (f"{CHILD}/signalling/bs-de-regenboog/2", new_kid) == (current.kid, new_kid)
    assert {"n": 1} == open_section(token, key=again.key, event_id=event_id)


def test_erasure_destroys_the_keys_and_refuses_every_later_request(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["bs-de-regenboog"]
    consume(app, signal_by(school.partner, uuid.uuid4()))
    ask(app, school, Purpose.SIGNALLING)

    deleted = app.erase(CHILD)
    answers = [ask(app, school, Purpose.SIGNALLING, v) for v in (None, 1)]

    assert 1 == deleted
    assert ["child-erased", "child-erased"] == [a.refusal.code for a in answers if a.refusal]
    assert [] == app.keystore.versions(CHILD, Purpose.SIGNALLING, school.partner)


def test_a_plan_service_rebinds_a_section_to_its_own_event_without_seeing_the_key(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school, plan = keys["bs-de-regenboog"], keys["integral-plan"]
    consume(app, signal_by(school.partner, uuid.uuid4()))
    data_key = receive_key(ask(app, school, Purpose.SIGNALLING).key or "", school.encryption)
    inbound, outbound = uuid.uuid4(), uuid.uuid4()
    token = seal({"concern": "x"}, key=data_key.key, kid=data_key.kid, event_id=inbound)
    request = ResealRequest(
        partner=plan.partner,
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope=school.partner,
        token=token,
        from_event_id=inbound,
        to_event_id=outbound,
    )

    answer = app.answer(sign_request(request, plan.signing))

    assert (True, None) == (answer.ok, answer.key)
    assert kid_of(answer.token or "") == data_key.kid
    assert {"concern": "x"} == open_section(answer.token or "", key=data_key.key, event_id=outbound)


def test_a_request_signed_with_another_key_is_refused_as_bad_signature(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    impostor = PartnerKeys.generate("bs-de-regenboog")
    request = KeyRequest(
        partner="bs-de-regenboog", child=CHILD, purpose=Purpose.IDENTITY, scope="bs-de-regenboog"
    )

    answer = app.answer(sign_request(request, impostor.signing))

    assert "bad-signature" == (answer.refusal.code if answer.refusal else None)
    assert [] == app.processing_records()


def test_a_processing_record_has_the_logboek_dataverwerkingen_shape(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    ask(app, keys["wijkteam-lingewaard"], Purpose.YOUTH_CARE)
    [record] = app.processing_records(requester="wijkteam-lingewaard")
    ldv = record.as_ldv()
    expected = {
        "dpl.core.processing_activity_id": "pa-youth-care",
        "dpl.core.data_subject_id": CHILD,
        "dpl.core.data_subject_id_type": "ketenbus-child-pseudonym",
        "ketenbus.requester": "wijkteam-lingewaard",
        "ketenbus.purpose": "youth_care",
        "ketenbus.decision": "refused",
        "ketenbus.refusal_code": "no-relation",
        "ketenbus.kid": None,
        "ketenbus.scope": "wijkteam-lingewaard",
    }

    assert expected == ldv["attributes"]
    assert ("kluis.release", "b7ad6b7169203331") == (ldv["name"], ldv["parent_span_id"])


def refusal(answer: KluisAnswer) -> str | None:
    return answer.refusal.code if answer.refusal else None


def test_a_school_that_signals_itself_gets_no_key_to_the_jgz_signal_and_the_try_is_recorded(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    jgz, school = keys["jgz-gelderland-zuid"], keys["vo-het-lyceum"]
    consume(app, signal_by(jgz.partner, uuid.uuid4()), signal_by(school.partner, uuid.uuid4()))

    answers = [
        ask(app, school, purpose, scope=jgz.partner)
        for purpose in (Purpose.SIGNALLING, Purpose.IDENTITY)
    ]
    records = app.processing_records(data_subject=CHILD, requester=school.partner)

    assert ["scope-not-permitted", "scope-not-permitted"] == [refusal(a) for a in answers]
    assert [None, None] == [a.key for a in answers]
    assert [(Decision.REFUSED, "scope-not-permitted")] * 2 == [
        (r.decision, r.refusal_code) for r in records
    ]


def test_a_self_asserted_signal_still_opens_the_schools_own_signalling(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school = keys["vo-het-lyceum"]
    consume(app, signal_by(school.partner, uuid.uuid4()))

    assert ask(app, school, Purpose.SIGNALLING).ok


def test_a_school_with_only_an_enrolment_is_refused_the_signalling_key(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    jgz, school = keys["jgz-gelderland-zuid"], keys["bs-de-regenboog"]
    enrolled = PupilEnrolled.create(
        source=school.partner,
        subject=CHILD,
        data=PupilEnrolledData(
            school=school.partner, brin="06XX", region="lingewaard", enrolled_on=date(2026, 8, 1)
        ),
    )
    consume(app, enrolled, signal_by(jgz.partner, uuid.uuid4()))

    answers = [ask(app, school, Purpose.SIGNALLING, scope=s) for s in (jgz.partner, None)]

    assert ["no-relation", "no-relation"] == [refusal(a) for a in answers]
    assert ask(app, school, Purpose.ATTENDANCE).ok


def test_the_receiver_of_one_handover_cannot_open_an_earlier_handover_of_the_child(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    po, vo, mbo = (keys[p] for p in ("bs-de-regenboog", "vo-het-lyceum", "mbo-rijn-ijssel"))
    earlier, later = str(uuid.uuid4()), str(uuid.uuid4())
    app.add_relation(CHILD, po.partner, basis="handover-sender", basis_id=earlier)
    app.add_relation(CHILD, vo.partner, basis="handover-receiver", basis_id=earlier)
    app.add_relation(CHILD, vo.partner, basis="handover-sender", basis_id=later)
    app.add_relation(CHILD, mbo.partner, basis="handover-receiver", basis_id=later)

    opened = ask(app, mbo, Purpose.HANDOVER, scope=later)
    refused = ask(app, mbo, Purpose.HANDOVER, scope=earlier)

    assert (True, f"{CHILD}/handover/{later}/1") == (opened.ok, opened.kid)
    assert "scope-not-permitted" == refusal(refused)
    assert ask(app, vo, Purpose.HANDOVER, scope=earlier).ok


def test_a_writer_may_not_have_kluis_seal_under_another_writers_scope(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school, jgz = keys["vo-het-lyceum"], keys["jgz-gelderland-zuid"]
    request = SealRequest(
        partner=school.partner,
        child=CHILD,
        purpose=Purpose.SIGNALLING,
        scope=jgz.partner,
        event_id=uuid.uuid4(),
        section=encrypt_to({"concern": "x"}, keys["kluis"].public().encryption),
    )

    answer = app.answer(sign_request(request, school.signing))

    assert "scope-not-permitted" == refusal(answer)


def test_a_regie_change_ends_the_previous_holders_relation_and_the_school_keeps_its_own(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school, swv, wijkteam = (
        keys[p] for p in ("bs-de-regenboog", "swv-po-lingewaard", "wijkteam-lingewaard")
    )
    opp_id = uuid.uuid4()
    scope = f"opp/{opp_id}"
    drawn_up = OppDrawnUp.create(
        source="ketenbus.arrangements",
        subject=CHILD,
        data=OppDrawnUpData(
            opp_id=opp_id,
            school=school.partner,
            regie=Party(partner=swv.partner, role="consulent", contact="swv, 0481-1"),
            drawn_up_on=date(2026, 9, 1),
            review_dates=[date(2027, 1, 1)],
        ),
    )
    moved = RegieChanged.create(
        source="ketenbus.arrangements",
        subject=CHILD,
        data=RegieChangedData(
            domain="opp",
            ref_id=opp_id,
            regie=Party(partner=wijkteam.partner, role="regisseur", contact="wijkteam"),
            changed_on=date(2026, 10, 1),
        ),
    )
    consume(app, drawn_up)
    before = refusal(ask(app, swv, Purpose.SUPPORT, scope=scope))
    consume(app, moved)

    after = [refusal(ask(app, k, Purpose.SUPPORT, scope=scope)) for k in (swv, wijkteam, school)]

    assert (None, ["relation-ended", None, None]) == (before, after)


def test_a_refusal_record_names_the_scope_that_was_refused(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    jgz, school = keys["jgz-gelderland-zuid"], keys["vo-het-lyceum"]
    consume(app, signal_by(jgz.partner, uuid.uuid4()), signal_by(school.partner, uuid.uuid4()))
    ask(app, school, Purpose.SIGNALLING, scope=jgz.partner)
    ask(app, school, Purpose.SIGNALLING)

    records = app.processing_records(requester=school.partner)

    assert [
        (Decision.REFUSED, jgz.partner, None),
        (Decision.RELEASED, school.partner, f"{CHILD}/signalling/{school.partner}/1"),
    ] == [(r.decision, r.scope, r.kid) for r in records]


def test_records_written_before_records_named_the_scope_still_verify_in_the_audit_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kluis.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE kluis_processing_records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, "
        "operation TEXT NOT NULL, processing_activity_id TEXT NOT NULL, "
        "data_subject TEXT NOT NULL, requester TEXT NOT NULL, purpose TEXT NOT NULL, "
        "decision TEXT NOT NULL, refusal_code TEXT, kid TEXT, at TEXT NOT NULL, "
        "register_version TEXT NOT NULL)"
    )
    row = (1, "t", "s", None, "release", "pa-plan", CHILD, "bs-de-regenboog", "plan")
    row += ("refused", "no-relation", None, "2026-11-01T00:00:00+00:00", "2026.1")
    old.execute(f"INSERT INTO kluis_processing_records VALUES ({', '.join('?' * len(row))})", row)
    old.commit()
    old.close()
    witnessed = fields_digest(row)  # what the chain recorded for it then

    keystore = Keystore.sqlite(path, StaticMasterKey(os.urandom(32)))
    try:
        [(row_id, digest)] = table_digests(keystore.processing_record_rows)(1, 10)
        [record] = keystore.records()
    finally:
        keystore.close()

    assert (1, witnessed, None) == (row_id, digest, record.scope)


class Loopback:
    """A NATS connection whose requests kluis answers in this process."""

    def __init__(self, app: KluisApplication) -> None:
        self.app = app

    async def request(self, subject: str, payload: bytes, timeout: float) -> SimpleNamespace:
        return SimpleNamespace(data=self.app.answer(payload).model_dump_json().encode())


def test_a_partners_keyring_obeys_an_ended_relation_within_its_ttl_when_sealing_and_opening(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    school, signal_id = keys["bs-de-regenboog"], uuid.uuid4()
    withdrawn = SignalWithdrawn.create(
        source="ketenbus.signalling",
        subject=CHILD,
        data=SignalWithdrawnData(signal_id=signal_id, withdrawn_on=date(2026, 12, 1)),
    )
    now = [1000.0]
    keyring = Keyring(school, Loopback(app), ttl=60.0, refusal_ttl=5.0, clock=lambda: now[0])  # type: ignore[arg-type]

    async def both(kid: str) -> list[str]:
        outcomes = []
        for ask_for in (keyring.sealing_key(CHILD, Purpose.SIGNALLING), keyring.key(kid)):
            try:
                outcomes.append((await ask_for).kid)
            except KeyRefusedError as refused:
                outcomes.append(refused.code)
        return outcomes

    consume(app, signal_by(school.partner, signal_id))
    kid = asyncio.run(keyring.sealing_key(CHILD, Purpose.SIGNALLING)).kid
    consume(app, withdrawn)
    now[0] += 59.0
    within_ttl = asyncio.run(both(kid))
    now[0] += 2.0
    after_ttl = asyncio.run(both(kid))
    records = app.processing_records(requester=school.partner)

    assert ([kid, kid], ["relation-ended", "relation-ended"]) == (within_ttl, after_ttl)
    assert [None, "relation-ended", "relation-ended"] == [r.refusal_code for r in records]


def test_a_parent_linked_by_the_school_opens_the_plan_and_the_handovers_until_unlinked(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    parent = keys[PARENT]
    link = parent_linked("bs-de-regenboog", consent_on=date(2026, 9, 1), child=CHILD)
    unlinked = ParentUnlinked.create(
        source="ketenbus.integral-plan",
        subject=CHILD,
        data=ParentUnlinkedData(
            link_id=link.data.link_id,
            parent=PARENT,
            recorded_by="bs-de-regenboog",
            unlinked_on=date(2026, 10, 1),
        ),
    )
    wanted = [(Purpose.PLAN, "child"), (Purpose.HANDOVER, str(uuid.uuid4()))]
    wanted += [(Purpose.SIGNALLING, "jgz-gelderland-zuid")]

    before = [refusal(ask(app, parent, p, scope=s)) for p, s in wanted]
    consume(app, link)
    linked = [refusal(ask(app, parent, p, scope=s)) for p, s in wanted]
    consume(app, unlinked)
    after = [refusal(ask(app, parent, p, scope=s)) for p, s in wanted[:2]]

    assert ["no-relation", "no-relation", "role-not-permitted"] == before
    assert [None, None, "role-not-permitted"] == linked
    assert ["relation-ended", "relation-ended"] == after


def test_leerplicht_gets_the_reporting_schools_attendance_key_and_no_other_schools(
    app: KluisApplication, keys: dict[str, PartnerKeys]
) -> None:
    leerplicht, school = keys["leerplicht-lingewaard"], "bs-de-regenboog"
    report = VerzuimReportDue.create(
        source="ketenbus.truancy",
        subject=CHILD,
        data=VerzuimReportDueData(
            report_id=uuid.uuid4(), school=school, brin="99ZZ", region="lingewaard",
            leerplicht=leerplicht.partner, begin_on=date(2026, 9, 1),
            end_on=date(2026, 9, 25), kind="16-uur", hours_unauthorised=16, hours_absent=16,
            lessons_missed=16, action_taken="gesprek", municipal_action_wanted=True,
            contact="ib", absence_ids=[],
        ),
    )  # fmt: skip
    consume(app, report)
    scopes = [school, "vo-het-lyceum"]

    answers = [refusal(ask(app, leerplicht, Purpose.ATTENDANCE, scope=s)) for s in scopes]

    assert [None, "scope-not-permitted"] == answers

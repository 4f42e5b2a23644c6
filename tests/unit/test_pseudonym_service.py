"""The pseudonym service's rules and its request/reply protocol, in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ketenbus_contracts.pseudonym import (
    PSEUDONYM_REQUEST_TYP,
    ChildBsn,
    HouseholdKey,
    PseudonymRequest,
    PupilKey,
    SecretPseudonymiser,
    child_pseudonym,
    identifiers_of,
)
from ketenbus_contracts.sealing import PartnerKeys, encrypt_to, sign_request
from ketenbus_partner.keys import load_or_create_partner_keys
from services.pseudonym.application import PseudonymApplication
from services.pseudonym.domain import (
    InvalidPolicyError,
    Limits,
    PseudonymPolicy,
    RateLimiter,
    Requester,
    pseudonymise,
)
from services.pseudonym.policy import POLICY_PATH, RequesterDirectory, load_policy
from services.runtime.partners import PartnerRegistry

SECRET = b"unit-secret"
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SCHOOL = Requester("bs-de-regenboog", "school", frozenset({"99ZZ"}))
LYCEUM = Requester("vo-het-lyceum", "school", frozenset({"99YY00"}))


def policy(burst: int = 10, per_minute: int = 60, per_day: int = 100) -> PseudonymPolicy:
    return PseudonymPolicy(
        version="test",
        activity_id="pa-pseudonymisation",
        purpose=load_policy().purpose,
        roles=frozenset({"school", "jgz"}),
        default=Limits(burst, per_minute, per_day),
    )


# rules


def test_a_bsn_failing_the_eleven_check_gets_invalid_bsn() -> None:
    result = pseudonymise(SecretPseudonymiser(SECRET), SCHOOL, ChildBsn(bsn="123456789"))

    assert (None, "invalid-bsn") == (result.pseudonym, result.code)


def test_a_valid_bsn_gets_the_child_pseudonym_of_the_secret() -> None:
    result = pseudonymise(SecretPseudonymiser(SECRET), SCHOOL, ChildBsn(bsn="939909169"))

    assert child_pseudonym(SECRET, "939909169") == result.pseudonym


def test_a_school_may_name_only_pupil_keys_under_its_own_brin() -> None:
    own = pseudonymise(SecretPseudonymiser(SECRET), SCHOOL, PupilKey(brin="99zz", pupil_key="1"))
    other = pseudonymise(SecretPseudonymiser(SECRET), SCHOOL, PupilKey(brin="99YY", pupil_key="1"))

    assert (True, "not-own-brin") == (own.pseudonym is not None, other.code)


def test_a_school_registered_by_vestiging_owns_its_brin4() -> None:
    assert (True, True, False) == (
        LYCEUM.owns_brin("99YY"),
        LYCEUM.owns_brin("99YY01"),
        LYCEUM.owns_brin("99ZZ"),
    )


def test_a_burst_is_taken_whole_or_not_at_all_and_refills_per_minute() -> None:
    limiter = RateLimiter(policy(burst=10, per_minute=60))

    taken = [
        limiter.take(SCHOOL, 8, NOW),
        limiter.take(SCHOOL, 3, NOW),  # 2 left: refused, nothing taken
        limiter.take(SCHOOL, 2, NOW),
        limiter.take(SCHOOL, 1, NOW),
        limiter.take(SCHOOL, 5, NOW + timedelta(seconds=5)),  # one a second back in
    ]

    assert [True, False, True, False, True] == taken


def test_the_day_ceiling_holds_however_full_the_bucket_and_resets_the_next_day() -> None:
    limiter = RateLimiter(policy(burst=10, per_minute=600, per_day=15))

    taken = [
        limiter.take(SCHOOL, 10, NOW),
        limiter.take(SCHOOL, 6, NOW + timedelta(minutes=5)),
        limiter.take(SCHOOL, 5, NOW + timedelta(minutes=5)),
        limiter.take(SCHOOL, 10, NOW + timedelta(days=1)),
    ]

    assert [True, False, True, True] == taken


def test_limits_are_per_partner() -> None:
    limiter = RateLimiter(policy(burst=5))

    assert [True, True] == [limiter.take(SCHOOL, 5, NOW), limiter.take(LYCEUM, 5, NOW)]


def test_a_limit_of_zero_is_refused_as_policy() -> None:
    with pytest.raises(InvalidPolicyError):
        Limits(0, 1, 1)


def test_the_policy_file_lets_a_school_import_two_thousand_pupils_at_once() -> None:
    loaded = load_policy(POLICY_PATH)

    assert 4000 <= loaded.limits_for("bs-de-regenboog", "school").burst


# the protocol


@pytest.fixture
def app(tmp_path: Path) -> PseudonymApplication:
    clock = iter(NOW + timedelta(milliseconds=i) for i in range(10_000))
    return PseudonymApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        policy=policy(burst=5),
        directory=RequesterDirectory(PartnerRegistry.load(tmp_path)),
        pseudonymiser=SecretPseudonymiser(SECRET),
        own_keys=load_or_create_partner_keys(tmp_path, "pseudonym"),
        clock=lambda: next(clock),
    )


def request(
    app: PseudonymApplication,
    keys: PartnerKeys,
    identifiers: list[ChildBsn | PupilKey | HouseholdKey],
) -> bytes:
    sealed = encrypt_to(identifiers_of(identifiers), app.own_keys.encryption)
    body = PseudonymRequest(
        partner=keys.partner,
        count=len(identifiers),
        identifiers=sealed,
        issued_at=int(NOW.timestamp()),
    )
    return sign_request(body, keys.signing, typ=PSEUDONYM_REQUEST_TYP)


def test_a_batch_gets_one_result_per_identifier_in_order(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    asked = [
        ChildBsn(bsn="939909169"),
        ChildBsn(bsn="111111111"),
        PupilKey(brin="99YY", pupil_key="7"),
    ]

    answer = app.answer(request(app, school, asked))

    assert [child_pseudonym(SECRET, "939909169"), None, None] == [
        r.pseudonym for r in answer.results
    ]
    assert [None, "invalid-bsn", "not-own-brin"] == [r.code for r in answer.results]


def test_each_answer_is_recorded_by_pseudonym_never_by_bsn(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")

    app.answer(request(app, school, [ChildBsn(bsn="939909169")]))

    records = app.processing_records(requester="bs-de-regenboog")
    ldv = records[0].as_ldv()
    assert child_pseudonym(SECRET, "939909169") == ldv["attributes"]["dpl.core.data_subject_id"]
    assert ("pseudonym.pseudonymise", "pa-pseudonymisation") == (
        ldv["name"],
        ldv["attributes"]["dpl.core.processing_activity_id"],
    )
    assert "939909169" not in repr(records)


def test_over_the_limit_the_request_is_refused_rate_limited_and_recorded(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    many = [HouseholdKey(household_key=f"6851AB{n}") for n in range(6)]

    answer = app.answer(request(app, school, many))

    assert ("rate-limited", []) == (answer.refusal and answer.refusal.code, answer.results)
    assert ["rate-limited"] == [r.refusal_code for r in app.processing_records()]


def test_a_count_that_lies_about_the_sealed_identifiers_is_refused(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    sealed = encrypt_to(
        identifiers_of([HouseholdKey(household_key=f"6851AB{n}") for n in range(50)]),
        app.own_keys.encryption,
    )
    body = PseudonymRequest(
        partner=school.partner, count=1, identifiers=sealed, issued_at=int(NOW.timestamp())
    )

    answer = app.answer(sign_request(body, school.signing, typ=PSEUDONYM_REQUEST_TYP))

    assert "invalid-request" == (answer.refusal and answer.refusal.code)


def test_a_role_the_policy_does_not_name_may_not_ask(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    plan_service = load_or_create_partner_keys(tmp_path, "integral-plan")

    answer = app.answer(request(app, plan_service, [HouseholdKey(household_key="6851AB1")]))

    assert "role-not-permitted" == (answer.refusal and answer.refusal.code)


def test_a_request_signed_by_another_key_is_refused_bad_signature(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    forger = PartnerKeys.generate("bs-de-regenboog")

    answer = app.answer(request(app, forger, [ChildBsn(bsn="939909169")]))

    assert ("bad-signature", []) == (answer.refusal and answer.refusal.code, answer.results)
    assert [] == app.processing_records()


def test_the_same_signed_request_is_answered_once_and_refused_replayed_after(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    raw = request(app, school, [ChildBsn(bsn="939909169")])

    first, again = app.answer(raw), app.answer(raw)

    assert (True, "replayed-request") == (first.ok, again.refusal and again.refusal.code)


def test_a_request_issued_long_ago_is_refused_stale(
    app: PseudonymApplication, tmp_path: Path
) -> None:
    school = load_or_create_partner_keys(tmp_path, "bs-de-regenboog")
    sealed = encrypt_to(identifiers_of([ChildBsn(bsn="939909169")]), app.own_keys.encryption)
    old = PseudonymRequest(
        partner=school.partner,
        count=1,
        identifiers=sealed,
        issued_at=int((NOW - timedelta(minutes=10)).timestamp()),
    )

    answer = app.answer(sign_request(old, school.signing, typ=PSEUDONYM_REQUEST_TYP))

    assert "stale-request" == (answer.refusal and answer.refusal.code)

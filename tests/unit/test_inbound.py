"""Admitting inbound messages: every bad message becomes a named refusal, none raises.

The fuzz runs mutations of a valid signed event (wrong types, missing and extra fields, huge
strings, deep nesting, random and broken bytes, re-signed or not) through the same decoder and
`admit` the signalling service uses, in memory.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketenbus_contracts.envelope import MAX_DEPTH, EventTooDeepError, check_depth, parse_event
from ketenbus_contracts.sealing import SECTION_REFUSALS, PartnerKeys
from ketenbus_contracts.signalling import Signaller, SignalRegistered
from ketenbus_contracts.signing import SIGNATURE_FIELD, sign_envelope, sign_event
from services.runtime.deadletter import Refused, deadletter_record
from services.runtime.inbound import Admission, Limits, Refusal, admit
from services.runtime.settings import Settings
from services.runtime.signatures import verifying
from services.signalling.handlers import decode_inbound
from tests import events

SCHOOL = "bs-de-regenboog"
KEYS = PartnerKeys.generate(SCHOOL)
LIMITS = Limits(max_bytes=256 * 1024, max_depth=MAX_DEPTH)
REFUSALS = {
    "too-large",
    "too-deep",
    "invalid-utf8",
    "invalid-json",
    "invalid-event",
    "unknown-type",
    "missing-signature",
    "forged-signature",
    "unknown-signer",
}
# Every value the fuzz puts into an event carries this, so a refusal quoting input shows.
MARK = "Jansen"


def signal() -> SignalRegistered:
    school = Signaller(partner=SCHOOL, role="ib-er", contact="ib")
    on, at = date(2026, 11, 24), datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return events.signal(
        school, on, "a" * 32, event_id=uuid.UUID(int=1), signal_id=uuid.UUID(int=2), at=at
    )


VALID = sign_event(signal(), KEYS).to_bytes()


@pytest.fixture(scope="module")
def decode(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The signalling service's decoder, verifying against the school's public key."""
    data_dir = tmp_path_factory.mktemp("data")
    return verifying(decode_inbound, Settings(data_dir=data_dir), public_keys={SCHOOL: KEYS})


def refused(admission: Admission) -> tuple[str, tuple[dict[str, Any], ...]]:
    assert admission.refusal is not None, "accepted"
    return admission.refusal.code, admission.refusal.details


def test_a_valid_signed_event_is_admitted(decode: Any) -> None:
    admission = admit(VALID, decode, LIMITS)

    assert (None, signal().id) == (admission.refusal, admission.event.id)


def test_the_poison_message_of_the_issue_is_refused_as_too_large_by_its_size_alone(
    decode: Any,
) -> None:
    poison = b"[" * 200_000 + b"]" * 200_000

    assert ("too-large", ({"size": 400_000, "limit": 262_144},)) == refused(
        admit(poison, decode, LIMITS)
    )


def test_deep_nesting_within_the_size_limit_is_refused_before_any_parser(decode: Any) -> None:
    poison = b"[" * 100_000 + b"]" * 100_000
    nested_field = VALID.replace(b'"subject":', b'"subject":' + b"[" * 40 + b"]" * 40 + b',"x":')

    assert [("too-deep", ()), ("too-deep", ())] == [
        refused(admit(raw, decode, LIMITS)) for raw in (poison, nested_field)
    ]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    check_depth(b'{"a": "' + b"[" * 1000 + b'\\"' + b"{" * 1000 + b'"}')
    with pytest.raises(EventTooDeepError):
        check_depth(b'{"a": "\\\\", "b": ' + b"[" * 40 + b"]" * 40 + b"}")


def test_parse_event_refuses_excessive_depth_with_a_named_error() -> None:
    with pytest.raises(EventTooDeepError) as deep:
        parse_event(b'{"type": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")

    assert "too-deep" == deep.value.code
    assert signal() == parse_event(signal().to_bytes())


def test_invalid_utf8_json_and_types_each_get_their_code(decode: Any) -> None:
    envelope = json.loads(VALID)
    envelope["type"] = "nl.ketenbus.signalling.no-such-thing.v1"
    unknown = envelope | {SIGNATURE_FIELD: sign_envelope(envelope, KEYS.signing, SCHOOL)}
    unsigned = json.loads(VALID)
    del unsigned[SIGNATURE_FIELD]
    cases = {
        "invalid-utf8": VALID.replace(b'"ib"', b'"\xff\xfe"'),
        "invalid-json": VALID[:-1],
        "unknown-type": json.dumps(unknown).encode(),
        "missing-signature": json.dumps(unsigned).encode(),
        "forged-signature": VALID.replace(b'"ib"', b'"jgz"'),
    }

    assert list(cases) == [refused(admit(raw, decode, LIMITS))[0] for raw in cases.values()]


def test_a_refusal_names_the_field_and_rule_never_the_value(decode: Any) -> None:
    envelope = json.loads(VALID)
    envelope["data"]["registered_on"] = f"{MARK} 12"
    envelope[f"{MARK} BSN 123456782"] = "x"
    envelope[SIGNATURE_FIELD] = sign_envelope(
        {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}, KEYS.signing, SCHOOL
    )

    code, details = refused(admit(json.dumps(envelope).encode(), decode, LIMITS))

    assert "invalid-event" == code
    assert [
        {"loc": "data.registered_on", "type": "date_from_datetime_parsing"},
        {"loc": "*", "type": "extra_forbidden"},
    ] == sorted(details, key=lambda d: d["loc"], reverse=True)
    assert MARK not in json.dumps(details)


def test_an_exception_nobody_named_is_refused_as_unexpected(decode: Any) -> None:
    def broken(raw: bytes) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    assert ("unexpected-error", ({"error": "RecursionError"},)) == refused(
        admit(VALID, broken, LIMITS)
    )


def test_reading_the_key_files_failing_is_infrastructure_and_raises() -> None:
    def unreadable(raw: bytes) -> Any:
        raise PermissionError("keys")

    with pytest.raises(PermissionError):
        admit(VALID, unreadable, LIMITS)


def test_an_oversized_dead_letter_keeps_size_and_digest_not_the_body() -> None:
    body = b'{"name": "' + MARK.encode() * 60_000 + b'"}'

    record = deadletter_record(
        Refused(
            "signalling",
            Refusal("too-large", ({"size": len(body), "limit": LIMITS.max_bytes},)),
            body,
            subject="in.bs-de-regenboog.signalling.signal-registered",
            stream_seq=7,
            seal=lambda raw: "sealed:" + raw.decode(),
        )
    )

    assert {
        "reason": "too-large",
        "partner": SCHOOL,
        "stream_seq": 7,
        "size": len(body),
        "original": {"withheld": "too large: kept as its size and sha256"},
    } == {k: record[k] for k in ("reason", "partner", "stream_seq", "size", "original")}
    assert 64 == len(record["sha256"])
    assert MARK not in json.dumps(record)


def test_a_dead_letter_whose_sealed_original_would_not_fit_leaves_it_out() -> None:
    body = b"x" * 200_000

    record = deadletter_record(
        Refused(
            "signalling",
            Refusal("invalid-json"),
            body,
            subject="in.bs-de-regenboog.x",
            stream_seq=1,
            seal=lambda raw: "s" * (2 * len(raw)),
        ),
        max_bytes=300_000,
    )

    assert len(json.dumps(record)) <= 300_000
    assert {"withheld": "the sealed original exceeds the dead letter's limit"} == record["original"]


# ---------------------------------------------------------------------------------------------
# the fuzz


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((*prefix, key))
            found += _paths(inner, (*prefix, key))
    return found


BASE = json.loads(VALID)
PATHS = _paths(BASE)
DEEP = "\x00deep\x00"  # replaced by raw nesting after serialising (json.dumps would recurse)

marked_text = st.text(max_size=40).map(lambda t: MARK + t)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | marked_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(marked_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _at(envelope: dict[str, Any], path: tuple[str, ...]) -> tuple[Any, str]:
    parent: Any = envelope
    for key in path[:-1]:
        parent = parent[key]
    return parent, path[-1]


def _serialised(envelope: dict[str, Any], resign: PartnerKeys | None, depth: int) -> bytes:
    if resign is not None:
        unsigned = {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}
        envelope[SIGNATURE_FIELD] = sign_envelope(unsigned, resign.signing, SCHOOL)
    raw = json.dumps(envelope).encode()
    return raw.replace(json.dumps(DEEP).encode(), b"[" * depth + b"]" * depth)


def _mutated(path: tuple[str, ...], kind: str, value: Any) -> dict[str, Any] | None:
    envelope = json.loads(VALID)
    parent, key = _at(envelope, path)
    if not isinstance(parent, dict) or key not in parent:
        return None
    if kind == "delete":
        del parent[key]
    elif kind == "extra":
        parent[MARK + key] = value
    elif kind == "type":
        envelope["type"] = value
    else:
        parent[key] = value
    return envelope


KINDS = ("value", "delete", "extra", "huge", "deep", "type", "bytes", "flip")


@st.composite
def envelopes(
    draw: st.DrawFn, keys: PartnerKeys = KEYS, kinds: Sequence[str] = KINDS
) -> list[bytes]:
    """Mutations of the valid signed event, as the bytes a partner could publish: one drawn
    change (a value of any JSON type, a deletion, an extra field, a huge string, deep nesting,
    another type) at every field of the event, re-signed with `keys` or not; or broken bytes."""
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return draw(st.lists(st.binary(max_size=2_000), min_size=len(PATHS), max_size=len(PATHS)))
    if kind == "flip":
        at = draw(st.integers(0, len(VALID) - 1))
        flips = draw(st.lists(st.integers(0, 255), min_size=len(PATHS), max_size=len(PATHS)))
        return [VALID[:at] + bytes([b]) + VALID[at + 1 :] for b in flips[:-1]] + [VALID[:at]]
    value: Any = {
        "value": lambda: draw(json_values),
        "delete": lambda: None,
        "extra": lambda: draw(json_values),
        # Around the size limit (43,691 marks) as often as anywhere below it.
        "huge": lambda: MARK * draw(st.integers(1, 60_000) | st.integers(43_000, 44_000)),
        "deep": lambda: DEEP,
        "type": lambda: draw(st.sampled_from(["nl.ketenbus.", ""])) + draw(marked_text),
    }[kind]()
    resign = keys if draw(st.booleans()) else None
    depth = draw(st.integers(1, 100_000))
    mutated = (_mutated(path, kind, value) for path in PATHS)
    return [_serialised(envelope, resign, depth) for envelope in mutated if envelope is not None]


# Each example is about 18 envelopes (one per field of the event): over 10,000 in all.
FUZZ_EXAMPLES = int(os.environ.get("KETENBUS_FUZZ_EXAMPLES", "600"))
FUZZ_ENVELOPES = 10_000


def test_no_generated_envelope_makes_admit_raise_or_quote_its_input(decode: Any) -> None:
    seen: dict[str, int] = {}

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(envelopes())
    def property_holds(batch: list[bytes]) -> None:
        for raw in batch:
            admission = admit(raw, decode, LIMITS)
            code = "accepted" if admission.refusal is None else admission.refusal.code
            seen[code] = seen.get(code, 0) + 1
            if admission.refusal is not None:
                assert code in REFUSALS or code in SECTION_REFUSALS
                assert MARK not in json.dumps(admission.refusal.details)
                assert "input_value" not in json.dumps(admission.refusal.details)

    property_holds()

    assert FUZZ_EXAMPLES < 600 or sum(seen.values()) >= FUZZ_ENVELOPES
    assert REFUSALS - {"unknown-signer"} <= set(seen), seen


def test_the_fuzz_corpus_for_the_integration_run_is_the_same_every_time() -> None:
    assert fuzz_corpus(3) == fuzz_corpus(3)


def fuzz_corpus(per_kind: int, keys: PartnerKeys = KEYS) -> list[bytes]:
    """Generated messages (deterministic), `per_kind` examples of each kind of mutation (about
    18 messages each), re-signed with `keys` where they are: for a run through a real service."""
    out: list[bytes] = []
    for kind in KINDS:

        @settings(
            max_examples=per_kind,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(envelopes(keys, (kind,)))
        def collect(batch: list[bytes]) -> None:
            out.extend(batch)

        collect()
    return out

"""The backbone admits an event's sealed sections without opening them: each is a `dir`/`A256GCM`
JWE whose protected header names this event's child and the section's purpose in `kid` and this
event's id in `eid`, under a purpose the event's type allows; anything else is refused at the
edge with its own reason code, through the same decoder and `admit` the services use.

The attack builders here (a fake token, a section replayed from another event, one sealed for
another child, one under a purpose the type does not carry, one under another `enc`) are the
integration test's too (tests/integration/test_sealed_admission.py)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date
from typing import Any

import pytest
from joserfc import jwe
from joserfc.jwk import OctKey
from joserfc.registry import HeaderParameter

from ketenbus_contracts.envelope import MAX_DEPTH
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import (
    SECTION_REFUSALS,
    PartnerKeys,
    SectionRefusedError,
    allowed_purposes,
    check_sealed,
    key_check_value,
    make_kid,
    seal,
)
from ketenbus_contracts.signalling import Signaller, SignalRegistered
from ketenbus_contracts.signing import sign_event
from services.handover.handlers import INBOUND as handover_inbound
from services.runtime.inbound import Limits, admit
from services.runtime.settings import Settings
from services.runtime.signatures import verifying
from services.signalling.handlers import decode_inbound
from tests import events
from tests.events import DATA_KEY, SCOPES, sealed_for, section_for
from tests.unit.test_handover_application import Story

SCHOOL = Signaller(partner="bs-de-regenboog", role="ib-er", contact="ib")
KEYS = PartnerKeys.generate(SCHOOL.partner)
LIMITS = Limits(max_bytes=256 * 1024, max_depth=MAX_DEPTH)
CHILD = "a" * 32
OTHER_CHILD = "b" * 32
ON = date(2026, 11, 24)


def school_signal(child: str, event_id: uuid.UUID, sealed: dict[Purpose, str]) -> SignalRegistered:
    """The school's signal about `child` with these sections (unsigned: the school signs it
    with its own key, so the signature is valid and only the section is wrong)."""
    return events.signal(SCHOOL, ON, child, sealed=sealed, event_id=event_id)


def valid(child: str) -> SignalRegistered:
    """The school's signal about `child` with its section sealed right."""
    event_id = uuid.uuid4()
    return school_signal(child, event_id, sealed_for(event_id, child, Purpose.SIGNALLING))


def signed(event: SignalRegistered) -> bytes:
    return sign_event(event, KEYS).to_bytes()


def under_enc(child: str, event_id: uuid.UUID, enc: str, key: bytes) -> str:
    """A real JWE section, `dir` under `enc` instead of A256GCM, its header as ours otherwise."""
    registry = jwe.JWERegistry(
        header_registry={
            "eid": HeaderParameter("event id", "str", True),
            "kcv": HeaderParameter("key check value", "str", True),
        },
        algorithms=["dir", enc],
    )
    header = {
        "alg": "dir",
        "enc": enc,
        "kid": make_kid(child, Purpose.SIGNALLING, SCOPES[Purpose.SIGNALLING], 1),
        "eid": str(event_id),
        "kcv": key_check_value(key),
        "cty": "application/json",
    }
    return jwe.encrypt_compact(header, b"{}", OctKey.import_key(key), registry=registry)


def attacks(child: str) -> dict[str, SignalRegistered]:
    """The school's signals about `child` whose one section the backbone must refuse, by the
    reason it refuses each with."""
    ids = {code: uuid.uuid4() for code in SECTION_REFUSALS}
    other_event = uuid.uuid4()
    signalling = Purpose.SIGNALLING

    def own(code: str, sealed: dict[Purpose, str]) -> SignalRegistered:
        return school_signal(child, ids[code], sealed)

    return {
        # Any string where a section belongs.
        "malformed-section": own("malformed-section", {signalling: "sealed-token"}),
        # A section copied from another event about the same child: sealed for that one.
        "section-of-another-event": own(
            "section-of-another-event", sealed_for(other_event, child, signalling)
        ),
        # A section sealed for another child, its eid made this event's.
        "section-of-another-child": own(
            "section-of-another-child",
            sealed_for(ids["section-of-another-child"], OTHER_CHILD, signalling),
        ),
        # A kid of another purpose under `signalling`.
        "section-of-another-purpose": own(
            "section-of-another-purpose",
            {
                signalling: sealed_for(ids["section-of-another-purpose"], child, Purpose.IDENTITY)[
                    Purpose.IDENTITY
                ]
            },
        ),
        # A purpose a signal carries no section of (the plan's), sealed right otherwise.
        "purpose-not-allowed": own(
            "purpose-not-allowed", sealed_for(ids["purpose-not-allowed"], child, Purpose.PLAN)
        ),
        # `dir` under A128GCM: a JWE any library opens, not a ketenbus section.
        "wrong-section-algorithm": own(
            "wrong-section-algorithm",
            {
                signalling: under_enc(
                    child, ids["wrong-section-algorithm"], "A128GCM", DATA_KEY[:16]
                )
            },
        ),
    }


@pytest.fixture(scope="module")
def decode(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The signalling service's decoder, verifying against the school's public key."""
    data_dir = tmp_path_factory.mktemp("data")
    return verifying(
        decode_inbound, Settings(data_dir=data_dir), public_keys={SCHOOL.partner: KEYS.public()}
    )


def test_every_builders_section_is_admitted() -> None:
    goal = events.goal(events.WIJKTEAM, ON)
    agreed = events.action(events.WIJKTEAM, events.JGZ, events.WIJKTEAM, ON, ON)
    built = [goal, agreed, events.done(events.JGZ, agreed, ON), *events.every_kind(ON)]

    for event in built:
        check_sealed(event)

    assert 10 == sum(1 for event in built if event.data.sealed)


def test_a_signal_with_both_its_sections_sealed_for_it_is_admitted(decode: Any) -> None:
    event_id = uuid.uuid4()
    sealed = sealed_for(event_id, CHILD, Purpose.IDENTITY, Purpose.SIGNALLING)
    raw = signed(school_signal(CHILD, event_id, sealed))

    admission = admit(raw, decode, LIMITS)

    assert (None, event_id) == (admission.refusal, admission.event.id)


def test_the_purposes_a_type_allows_are_those_of_its_sealed_models() -> None:
    assert {Purpose.IDENTITY, Purpose.SIGNALLING} == allowed_purposes(SignalRegistered)
    assert frozenset() == allowed_purposes(type(events.joined(events.SCHOOL, events.JGZ, ON)))


@pytest.mark.parametrize("code", SECTION_REFUSALS)
def test_a_bad_section_is_refused_at_admission_with_its_reason_and_place(
    decode: Any, code: str
) -> None:
    event = attacks(CHILD)[code]
    purpose = next(iter(event.data.sealed)).value

    admission = admit(signed(event), decode, LIMITS)

    assert admission.refusal is not None
    assert (code, ({"loc": f"data.sealed.{purpose}", "type": code},)) == (
        admission.refusal.code,
        admission.refusal.details,
    )


def test_a_refusal_names_the_purpose_never_the_kid_or_the_token(decode: Any) -> None:
    event = attacks(CHILD)["section-of-another-child"]

    admission = admit(signed(event), decode, LIMITS)

    told = json.dumps(admission.refusal.details if admission.refusal else None)
    assert OTHER_CHILD not in told and CHILD not in told
    assert OTHER_CHILD not in str(admission.error) and CHILD not in str(admission.error)


def _with_header(token: str, **members: Any) -> str:
    """`token` with its protected header's members changed (None: left out)."""
    head, rest = token.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header = {k: v for k, v in (header | members).items() if v is not None}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{rest}"


def _deep_header(token: str) -> str:
    """A header of nested arrays as deep as fits the header's length limit."""
    encoded = base64.urlsafe_b64encode(b"[" * 768 + b"]" * 768).rstrip(b"=").decode()
    return f"{encoded}.{token.split('.', 1)[1]}"


MALFORMED = {
    "four parts": lambda t: t.rsplit(".", 1)[0],
    "not base64url": lambda t: t.replace(".", ".+", 1),
    "header not JSON": lambda t: "bm90IGpzb24." + t.split(".", 1)[1],
    "header a list": lambda t: "W10." + t.split(".", 1)[1],
    "header nested deep": _deep_header,
    "header too long": lambda t: "e" * 4000 + "." + t.split(".", 1)[1],
    "an encrypted key under dir": lambda t: t.replace("..", ".AAAA.", 1),
    "a short IV": lambda t: ".".join(p[:8] if i == 2 else p for i, p in enumerate(t.split("."))),
    "no ciphertext": lambda t: ".".join("" if i == 3 else p for i, p in enumerate(t.split("."))),
    "a short tag": lambda t: t[:-4],
    "no kcv": lambda t: _with_header(t, kcv=None),
    "a kcv of another length": lambda t: _with_header(t, kcv="abc"),
    "no kid": lambda t: _with_header(t, kid=None),
    "a kid not of the form": lambda t: _with_header(t, kid="some-key"),
    "no eid": lambda t: _with_header(t, eid=None),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_section_not_formed_as_a_ketenbus_jwe_is_malformed(case: str) -> None:
    event_id = uuid.uuid4()
    token = sealed_for(event_id, CHILD, Purpose.SIGNALLING)[Purpose.SIGNALLING]
    event = events.signal(
        SCHOOL, ON, CHILD, sealed={Purpose.SIGNALLING: MALFORMED[case](token)}, event_id=event_id
    )

    with pytest.raises(SectionRefusedError) as refused:
        check_sealed(event)

    assert ("malformed-section", "signalling") == (refused.value.code, refused.value.purpose)


def test_alg_other_than_dir_is_a_wrong_section_algorithm() -> None:
    event_id = uuid.uuid4()
    token = sealed_for(event_id, CHILD, Purpose.SIGNALLING)[Purpose.SIGNALLING]
    event = events.signal(
        SCHOOL,
        ON,
        CHILD,
        sealed={Purpose.SIGNALLING: _with_header(token, alg="A256KW")},
        event_id=event_id,
    )

    with pytest.raises(SectionRefusedError) as refused:
        check_sealed(event)

    assert "wrong-section-algorithm" == refused.value.code


def test_a_section_sealed_with_kluis_header_for_this_event_passes_whatever_its_key() -> None:
    """What only the data key tells (a wrong key, a changed ciphertext) is found on opening."""
    event_id = uuid.uuid4()
    kid = make_kid(CHILD, Purpose.SIGNALLING, "bs-de-regenboog", 3)
    token = seal({"concern": ["x"]}, key=bytes(32), kid=kid, event_id=event_id)

    check_sealed(
        events.signal(SCHOOL, ON, CHILD, sealed={Purpose.SIGNALLING: token}, event_id=event_id)
    )


def test_a_dossiers_sections_are_admitted_bound_to_their_event_and_child() -> None:
    prepared = Story("po-vo").prepared({"leerling": "VERPLICHT", "verzuim": "OPT-UIT"})

    check_sealed(prepared)

    assert [
        ("data.sections.0.sealed", Purpose.HANDOVER),
        ("data.sections.1.sealed", Purpose.HANDOVER),
    ] == [(loc, purpose) for loc, purpose, _ in prepared.sealed_elsewhere()]


def test_a_dossier_section_of_another_event_is_refused_at_its_place(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prepared = Story("po-vo").prepared({"leerling": "VERPLICHT", "verzuim": "OPT-UIT"})
    copied = section_for(uuid.uuid4(), prepared.subject, Purpose.HANDOVER)
    sections = [
        prepared.data.sections[0],
        prepared.data.sections[1].model_copy(update={"sealed": copied}),
    ]
    moved = prepared.model_copy(
        update={"data": prepared.data.model_copy(update={"sections": sections})}
    )
    keys = PartnerKeys.generate(moved.source)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    decode = verifying(
        handover_inbound.decoder, settings, public_keys={moved.source: keys.public()}
    )

    admission = admit(sign_event(moved, keys).to_bytes(), decode, LIMITS)

    assert admission.refusal is not None
    assert (
        "section-of-another-event",
        ({"loc": "data.sections.1.sealed", "type": "section-of-another-event"},),
    ) == (admission.refusal.code, admission.refusal.details)

"""The processing register decides who may hold which purpose's key: a full matrix.

Expected holders are written out here from DESIGN.md §4, independently of the YAML, so a
change to `infra/processing-register.yaml` that widens or narrows access fails this test.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from services.kluis.domain import Decision, Operation, Relation, Verdict, decide
from services.policy.loading import load_register, load_relations
from services.policy.relations import Opens
from services.runtime.partners import PARTNERS_PATH, PartnerRegistry

ORGANISATION_ROLES = (
    "school",
    "childcare",
    "jgz",
    "wijkteam",
    "leerplicht",
    "swv",
    "youth-care-provider",
    "parent",
)
SERVICE_ROLES = ("plan-service", "signalling-service", "key-service")
ROLES = ORGANISATION_ROLES + SERVICE_ROLES

SIGNALLERS = {"school", "childcare", "jgz", "wijkteam", "leerplicht", "swv", "youth-care-provider"}
HOLDERS: dict[Purpose, set[str]] = {
    Purpose.IDENTITY: {"school", "leerplicht"},
    Purpose.SIGNALLING: SIGNALLERS,
    Purpose.HANDOVER: {"school", "childcare", "parent"},
    Purpose.SUPPORT: {"school", "swv", "youth-care-provider", "wijkteam"},
    Purpose.YOUTH_CARE: {"wijkteam", "youth-care-provider"},
    Purpose.ATTENDANCE: {"school", "leerplicht"},
    Purpose.PLAN: SIGNALLERS | {"parent"},
}
# Holders of a purpose through one basis only (the register's `holder_bases`).
ONLY_THROUGH: dict[tuple[Purpose, str], str] = {(Purpose.IDENTITY, "leerplicht"): "verzuimmelding"}


@pytest.fixture(scope="module")
def register() -> ProcessingRegister:
    return load_register()


RULES = load_relations()
PARTNER = "partner-under-test"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def verdict_for(
    register: ProcessingRegister,
    operation: Operation,
    role: str,
    purpose: Purpose,
    *,
    related: bool,
    erased: bool,
) -> Verdict:
    """The verdict for a partner of `role`, with (or without) the purpose's first granting
    relation, asking for the scope that relation opens (or writes, to seal)."""
    grant = RULES.purposes[purpose].grants[0]
    scope = RULES.writing_scope(purpose, PARTNER) or "record-1"
    if grant.opens is Opens.RECORD:
        scope = "record-1"
    relations = [Relation(PARTNER, grant.basis, scope, NOW)] if related else []
    return decide(
        register,
        RULES,
        operation=operation,
        partner=PARTNER,
        role=role,
        purpose=purpose,
        scope=scope,
        relations=relations,
        erased=erased,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("role", "purpose", "related"), list(itertools.product(ROLES, Purpose, (True, False)))
)
def test_a_key_is_released_only_to_a_holder_role_with_a_relation_that_opens_the_scope(
    register: ProcessingRegister, role: str, purpose: Purpose, related: bool
) -> None:
    basis = RULES.purposes[purpose].grants[0].basis
    through = ONLY_THROUGH.get((purpose, role), basis) == basis
    holds = role in HOLDERS[purpose] and related and through
    expected = Decision.RELEASED if holds else Decision.REFUSED

    verdict = verdict_for(
        register,
        Operation.RELEASE,
        role,
        purpose,
        related=related,
        erased=False,
    )

    assert expected == verdict.decision


@pytest.mark.parametrize(("role", "purpose"), list(itertools.product(ROLES, Purpose)))
def test_the_refusal_says_whether_the_role_or_the_relation_is_missing(
    register: ProcessingRegister, role: str, purpose: Purpose
) -> None:
    expected = "no-relation" if role in HOLDERS[purpose] else "role-not-permitted"

    verdict = verdict_for(
        register,
        Operation.RELEASE,
        role,
        purpose,
        related=False,
        erased=False,
    )

    assert expected == verdict.code


@pytest.mark.parametrize(("role", "purpose"), list(itertools.product(ROLES, Purpose)))
def test_nothing_is_released_for_an_erased_child(
    register: ProcessingRegister, role: str, purpose: Purpose
) -> None:
    expected = (Decision.REFUSED, "child-erased")

    verdict = verdict_for(
        register,
        Operation.RELEASE,
        role,
        purpose,
        related=True,
        erased=True,
    )

    assert expected == (verdict.decision, verdict.code)


def test_a_signaller_may_have_kluis_seal_a_first_signal_without_a_relation(
    register: ProcessingRegister,
) -> None:
    expected = {role: role in SIGNALLERS for role in ROLES}

    actual = {
        role: verdict_for(
            register,
            Operation.SEAL,
            role,
            Purpose.SIGNALLING,
            related=False,
            erased=False,
        ).released
        for role in ROLES
    }

    assert expected == actual


def test_only_backbone_services_may_relay_signalling_sections(
    register: ProcessingRegister,
) -> None:
    expected = {"signalling-service", "plan-service"}

    actual = {
        role
        for role in ROLES
        if verdict_for(
            register,
            Operation.RESEAL,
            role,
            Purpose.SIGNALLING,
            related=True,
            erased=False,
        ).released
    }

    assert expected == actual


def test_the_register_names_a_legal_basis_and_retention_for_every_purpose(
    register: ProcessingRegister,
) -> None:
    expected = set(Purpose)

    described = {
        purpose
        for purpose, activity in register.activities.items()
        if activity.legal_basis and activity.retention.startswith("P") and activity.name
    }

    assert expected == described


def test_every_registered_partner_has_a_role_the_register_knows(
    register: ProcessingRegister, tmp_path: object
) -> None:
    directory = PartnerRegistry.load(data_dir=tmp_path, path=PARTNERS_PATH)  # type: ignore[arg-type]
    expected: set[str] = set()

    # kluis itself and the feed service (it signs copies, it never opens a section) hold no key;
    # nor does a pupil's own account yet: whether a pupil from 16 opens sealed sections of the
    # plan or the dossier is for the register to decide (issue 17's note), so kluis refuses it.
    known = register.roles | {"key-service", "feed-service", "pupil"}

    unknown = {pid for pid in directory.ids if directory.role_of(pid) not in known}

    assert expected == unknown


def leerplicht_identity(register: ProcessingRegister, basis: str) -> Verdict:
    relations = [Relation(PARTNER, basis, "bs-de-regenboog", NOW)]
    return decide(
        register, RULES, operation=Operation.RELEASE, partner=PARTNER, role="leerplicht",
        purpose=Purpose.IDENTITY, scope="bs-de-regenboog", relations=relations, erased=False,
        now=NOW,
    )  # fmt: skip


def test_leerplicht_gets_the_pupils_identity_for_a_verzuimmelding_on_its_legal_basis(
    register: ProcessingRegister,
) -> None:
    activity = register.activity(Purpose.IDENTITY)

    verdict = leerplicht_identity(register, "verzuimmelding")

    assert (Decision.RELEASED, "pa-identity") == (verdict.decision, verdict.activity_id)
    assert "Besluit verzuimmelding" in activity.legal_basis
    assert {"leerplicht": frozenset({"verzuimmelding"})} == activity.holder_bases


def test_leerplicht_gets_no_identity_through_any_other_relation(
    register: ProcessingRegister,
) -> None:
    assert Decision.REFUSED == leerplicht_identity(register, "plan-party").decision

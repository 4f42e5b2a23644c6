"""Pseudonyms on request, as a partner with its own credentials under registry authorization.

The pseudonym service runs as its own NATS user under the generated permissions; partners ask
it over their own connections, signed with their own keys. It answers what the backbone's
secret gives, refuses what is not the partner's to ask, limits how much, records every call
(witnessed by the audit chain), and no byte written outside the sealed request holds a BSN.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.edexml.importer import plan_import, state_path
from adapters.edexml.reader import SAMPLE
from ketenbus_contracts.pseudonym import (
    MAX_BATCH,
    PSEUDONYM_REQUEST_TYP,
    PSEUDONYM_SUBJECT,
    HouseholdKey,
    PseudonymAnswer,
    PseudonymRequest,
    SecretPseudonymiser,
    child_pseudonym,
    identifiers_of,
    school_pupil_pseudonym,
)
from ketenbus_contracts.sealing import PartnerKeys, encrypt_to, sign_request
from ketenbus_partner.keys import load_or_create_partner_keys, load_public_keys
from ketenbus_partner.pseudonyms import PseudonymClient, PseudonymRefusedError
from services.audit.verify import verify_stores
from services.pseudonym.bootstrap import create_application, secret_path
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings, server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend

pytestmark = pytest.mark.integration

SCHOOL = "bs-de-regenboog"  # brin 99ZZ
OTHER_SCHOOL = "vo-het-lyceum"  # brin 99YY00
BSN = "939909169"  # passes the eleven-check; a canary: found nowhere it should not be
T = TypeVar("T")


def as_partner(
    backbone: Backbone, partner: str, work: Callable[[NatsClient], Coroutine[Any, Any, T]]
) -> T:
    """Run `work` over the partner's own NATS connection (its user, its inbox)."""

    async def run() -> T:
        nc = await partner_connect(backbone.settings, partner, backbone.url)
        try:
            return await work(nc)
        finally:
            await nc.close()

    return asyncio.run(run())


class PseudonymCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, ["pseudonym"])

    def client(self, backbone: Backbone, nc: NatsClient, partner: str) -> PseudonymClient:
        return PseudonymClient.for_partner(backbone.settings.data_dir, partner, nc)

    def secret(self, backbone: Backbone) -> bytes:
        return secret_path(backbone.settings.data_dir).read_bytes()

    def test_a_partner_gets_the_pseudonym_the_backbone_secret_gives(
        self, backbone: Backbone
    ) -> None:
        async def ask(nc: NatsClient) -> tuple[str, str]:
            client = self.client(backbone, nc, SCHOOL)
            return await client.child(BSN), await client.pupil("99ZZ", "00042")

        by_bsn, by_key = as_partner(backbone, SCHOOL, ask)

        secret = self.secret(backbone)
        assert (child_pseudonym(secret, BSN), school_pupil_pseudonym(secret, "99ZZ", "00042")) == (
            by_bsn,
            by_key,
        )

    def test_a_bsn_failing_the_eleven_check_is_refused_invalid_bsn(
        self, backbone: Backbone
    ) -> None:
        async def ask(nc: NatsClient) -> str:
            with pytest.raises(PseudonymRefusedError) as refused:
                await self.client(backbone, nc, SCHOOL).child("123456789")
            return refused.value.code

        assert "invalid-bsn" == as_partner(backbone, SCHOOL, ask)

    def test_a_school_asking_for_another_schools_pupil_key_is_refused(
        self, backbone: Backbone
    ) -> None:
        async def ask(nc: NatsClient) -> tuple[str, str]:
            client = self.client(backbone, nc, OTHER_SCHOOL)
            with pytest.raises(PseudonymRefusedError) as refused:
                await client.pupil("99ZZ", "00042")  # bs-de-regenboog's pupil
            return refused.value.code, await client.pupil("99YY", "00042")  # its own

        code, own = as_partner(backbone, OTHER_SCHOOL, ask)

        assert "not-own-brin" == code
        assert school_pupil_pseudonym(self.secret(backbone), "99YY", "00042") == own
        records = self.records(backbone, OTHER_SCHOOL)
        assert ["not-own-brin", None] == [r.refusal_code for r in records]

    def test_the_rate_limit_refuses_with_rate_limited_and_records_it(
        self, backbone: Backbone
    ) -> None:
        # A school's burst (infra/pseudonym/policy.yaml) takes two full batches (an import of
        # thousands of pupils) but not a third at once.
        batches = [
            [HouseholdKey(household_key=f"6851AB{n}-{b}") for n in range(MAX_BATCH)]
            for b in range(3)
        ]

        async def ask(nc: NatsClient) -> list[str]:
            client, outcomes = self.client(backbone, nc, SCHOOL), []
            for batch in batches:
                try:
                    outcomes.append(f"{len(await client.ask(batch))} pseudonyms")
                except PseudonymRefusedError as refused:
                    outcomes.append(refused.code)
            return outcomes

        outcomes = as_partner(backbone, SCHOOL, ask)

        assert [f"{MAX_BATCH} pseudonyms", f"{MAX_BATCH} pseudonyms", "rate-limited"] == outcomes
        refused = [r for r in self.records(backbone, SCHOOL) if r.refusal_code]
        assert [("rate-limited", "")] == [(r.refusal_code, r.data_subject) for r in refused]

    def test_an_unsigned_or_forged_request_is_refused_and_nothing_is_given(
        self, backbone: Backbone
    ) -> None:
        data_dir = backbone.settings.data_dir
        school = load_or_create_partner_keys(data_dir, SCHOOL)
        forger = PartnerKeys.generate(SCHOOL)  # claims to be the school, with its own key

        async def ask(nc: NatsClient) -> list[str | None]:
            service = await self.client(backbone, nc, SCHOOL).service_key()
            request = PseudonymRequest(
                partner=SCHOOL,
                count=1,
                identifiers=encrypt_to(
                    identifiers_of([HouseholdKey(household_key="6851AB1")]), service
                ),
            )
            bodies = [
                request.model_dump_json().encode(),  # unsigned
                sign_request(request, forger.signing, typ=PSEUDONYM_REQUEST_TYP),  # forged
                sign_request(request, school.signing, typ=PSEUDONYM_REQUEST_TYP)[:-4]
                + b"AAAA",  # tampered
            ]
            answers = []
            for body in bodies:
                reply = await nc.request(PSEUDONYM_SUBJECT, body, timeout=10)
                answer = PseudonymAnswer.model_validate_json(reply.data)
                assert [] == answer.results
                answers.append(answer.refusal.code if answer.refusal else None)
            return answers

        codes = as_partner(backbone, SCHOOL, ask)

        assert ["invalid-request", "bad-signature", "bad-signature"] == codes

    def test_the_bsn_is_in_no_byte_written_and_the_calls_are_witnessed(
        self, settings: Settings, tmp_path: Path, start_backbone: StartBackbone
    ) -> None:
        wire: list[bytes] = []
        # No backbone user may listen to every subject any more (least privilege), so the wire
        # tap needs a server without authorization: what crosses the wire is the same. A
        # process logging to its file and a server in the data directory: every byte written
        # is searched.
        settings = settings.model_copy(update={"nats_auth": "none"})
        backbone = start_backbone(settings, ["pseudonym"], processes=True, own_server=True)

        async def ask(nc: NatsClient) -> str:
            tap = await nats.connect(server_list(backbone.url))

            async def keep(msg: Any) -> None:
                wire.append(msg.subject.encode() + repr(msg.headers).encode() + msg.data)

            await tap.subscribe(">", cb=keep)
            try:
                return await self.client(backbone, nc, SCHOOL).child(BSN)
            finally:
                await tap.flush()
                await tap.close()

        as_partner(backbone, SCHOOL, ask)
        backbone.stop()

        assert wire and [] == [m for m in wire if BSN.encode() in m]
        written = [
            str(path.relative_to(tmp_path))
            for path in tmp_path.rglob("*")
            if path.is_file() and BSN.encode() in path.read_bytes()
        ]
        assert [] == written
        reports = verify_stores(settings, ["pseudonym"])
        assert [] == [finding for report in reports for finding in report.findings]
        assert 1 <= sum(report.checked for report in reports)

    def records(self, backbone: Backbone, partner: str) -> list[Any]:
        application = create_application(backbone.settings)
        try:
            return application.processing_records(requester=partner)
        finally:
            application.close()


class TestPseudonymSqlite(PseudonymCase):
    store = "sqlite"


def test_the_service_publishes_its_key_where_partners_find_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_auth="none")
    create_application(settings).close()

    assert load_public_keys(tmp_path, "pseudonym") is not None


EDEXML = SAMPLE
KETENBUS = Path(sys.executable).parent / "ketenbus"
PARTNER_SIDE = ("services", "adapters")


def test_no_partner_side_module_reads_the_pseudonym_secret() -> None:
    root = Path(__file__).parents[2]
    readers = sorted(
        str(path.relative_to(root))
        for side in PARTNER_SIDE
        for path in (root / side).rglob("*.py")
        if "pseudonym.key" in path.read_text(encoding="utf-8")
    )

    assert ["services/pseudonym/bootstrap.py"] == readers


class TestImportWithoutTheSecret(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, ["pseudonym", "truancy", "kluis"])

    def test_a_school_imports_its_edexml_with_the_secret_absent_from_its_side(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        settings = backbone.settings

        async def service_up(nc: NatsClient) -> str:
            return await PseudonymClient.for_partner(settings.data_dir, SCHOOL, nc).child(BSN)

        as_partner(backbone, SCHOOL, service_up)
        # The service read it when it started; the partner's side of the data dir lacks it.
        secret_file = secret_path(settings.data_dir)
        secret = secret_file.read_bytes()
        secret_file.rename(tmp_path / "elsewhere.key")
        env = {
            **os.environ,
            "KETENBUS_NATS_URL": backbone.url,
            "KETENBUS_DATA_DIR": str(settings.data_dir),
            "KETENBUS_NATS_AUTH": "registry",
        }

        imported = subprocess.run(
            [str(KETENBUS), "truancy", "import-edexml", str(EDEXML), "--as", SCHOOL],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert 0 == imported.returncode, imported.stderr
        assert not secret_file.exists()  # nobody made (or read) one
        expected = plan_import(EDEXML, SecretPseudonymiser(secret), {}).keys
        assert expected == json.loads(state_path(settings.data_dir, SCHOOL).read_text())["keys"]

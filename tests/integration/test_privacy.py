"""Purpose limitation in the bytes: canary values from an EDEXML file go through the whole demo
story (enrolments, signals, plan, handover, arrangement, absences) and are found nowhere in
clear, on the wire or at rest; erasure makes them unreadable.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest

from demo.story import SCHOOL, Story, run_scenario
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.plan import query_plan
from services.kluis.erasure import announce_erasure, destroy_keys
from services.registry import SERVICES
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import EDEXML_SAMPLE, StoreBackend
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration

# Values that cannot occur by chance: if any of them shows up in clear, something leaked.
CANARY_BSN = "939909169"
CANARIES = {
    "given name": "Kanariepietje",
    "surname": "Vogelzangstra",
    "second pupil": "Parkietmans",
    "birth date": "2014-03-17",
    "bsn": CANARY_BSN,
    "concern notes": "Spreekt weinig in de klas",
}


def canary_edexml(path: Path) -> Path:
    """The EDEXML sample with the first pupils' identities replaced by canaries."""
    text = EDEXML_SAMPLE.read_text(encoding="utf-8")
    text = text.replace("<roepnaam>Wimpie</roepnaam>", "<roepnaam>Kanariepietje</roepnaam>")
    text = text.replace("<achternaam>ie</achternaam>", "<achternaam>Vogelzangstra</achternaam>")
    text = text.replace(
        "<geboortedatum>2006-06-21</geboortedatum>", "<geboortedatum>2014-03-17</geboortedatum>", 1
    )
    # where the XSD wants it (after vestiging/land): the EDEXML import validates the file
    first_pupil_end = "<mutatiedatum>2014-09-07T08:47:34</mutatiedatum>"
    text = text.replace(first_pupil_end, f"<bsn>{CANARY_BSN}</bsn>{first_pupil_end}", 1)
    text = text.replace("<achternaam>Hof</achternaam>", "<achternaam>Parkietmans</achternaam>")
    path.write_text(text, encoding="utf-8")
    return path


def postgres_dump(schema: str) -> bytes:
    """Every row of every table in the schema, as text."""
    from tests.conftest import _pg_connect

    with _pg_connect() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        assert tables
        return b"\n".join(
            repr(row).encode()
            for table in tables
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"')
        )


def leaks(blob: bytes) -> list[str]:
    return [what for what, value in CANARIES.items() if value.encode() in blob]


# Processes, each logging to its file, and a server of its own: every byte written is searched.
@pytest.mark.backbone(*SERVICES, processes=True, own_server=True)
class PrivacyCase(StoreBackend):
    def run_with_wiretap(self, backbone: Backbone, pupils: Path) -> tuple[Story, list[bytes]]:
        """The demo scenario, with a raw subscriber on `>` keeping every message it sees."""
        seen: list[bytes] = []

        async def scenario() -> Story:
            tap = await nats.connect(server_list(backbone.url))

            async def keep(msg: Any) -> None:
                headers = repr(msg.headers or {}).encode()
                seen.append(msg.subject.encode() + b"\n" + headers + b"\n" + msg.data)

            await tap.subscribe(">", cb=keep)
            try:
                return await run_scenario(
                    backbone.url,
                    backbone.settings.data_dir,
                    pupils_file=pupils,
                )
            finally:
                await tap.flush()
                await tap.close()

        return asyncio.run(scenario()), seen

    def test_no_canary_is_in_clear_on_the_wire_or_at_rest_and_the_school_reads_them(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        story, wire = self.run_with_wiretap(backbone, canary_edexml(tmp_path / "pupils.xml"))

        school = story.views[0]
        identity = school["signals"][0]["opened"]["identity"]
        expected = ("Kanariepietje imp Vogelzangstra", CANARY_BSN)
        assert expected == (identity["name"], identity["bsn"])
        assert [] == [leak for message in wire for leak in leaks(message)]
        backbone.stop()  # flush and close every store and the JetStream files
        # Everything the system wrote: the data directory with its nats-server's store.
        written = {
            str(path.relative_to(tmp_path)): leaks(path.read_bytes())
            for path in tmp_path.rglob("*")
            if path.is_file() and path.name != "pupils.xml"
        }
        assert {} == {path: found for path, found in written.items() if found}
        assert any(path.startswith("data/nats/jetstream") for path in written)
        assert any(path.startswith("data/logs/") for path in written)
        if self.store == "sqlite":
            assert any(path.startswith("data/stores/") for path in written)
        else:
            assert [] == leaks(postgres_dump(backbone.settings.postgres_schema))

    def test_after_erasure_nothing_of_the_child_opens_and_its_plan_is_gone(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        story, _ = self.run_with_wiretap(backbone, canary_edexml(tmp_path / "pupils.xml"))
        child = story.child
        signal = story.views[0]["signals"][0]
        url, data_dir = backbone.url, backbone.settings.data_dir
        as_school = load_or_create_partner_keys(data_dir, SCHOOL.partner)

        async def sealed_tokens() -> dict[str, str]:
            nc = await nats.connect(server_list(url))
            try:
                plan = await query_plan(nc, child, as_school)
                assert plan is not None
                return dict(plan["signals"][0]["sealed"])
            finally:
                await nc.close()

        tokens = asyncio.run(sealed_tokens())
        assert 0 < destroy_keys(backbone.settings, child)
        asyncio.run(announce_erasure(url, child))

        async def plan_of_child() -> dict[str, Any] | None:
            nc = await nats.connect(server_list(url))
            try:
                return await query_plan(nc, child, as_school)
            finally:
                await nc.close()

        wait_until(lambda: asyncio.run(plan_of_child()) is None, what="the plan to be dropped")

        async def open_as_school() -> list[str]:
            nc = await nats.connect(server_list(url))
            refusals = []
            try:
                keyring = Keyring.for_partner(data_dir, "bs-de-regenboog", nc)
                for token in tokens.values():
                    try:
                        await keyring.open_token(token, event_id=uuid.UUID(signal["event_id"]))
                    except KeyRefusedError as refused:
                        refusals.append(refused.code)
            finally:
                await nc.close()
            return refusals

        assert ["child-erased", "child-erased"] == asyncio.run(open_as_school())


class TestPrivacyOnSQLite(PrivacyCase):
    store = "sqlite"


@pytest.mark.postgres
class TestPrivacyOnPostgres(PrivacyCase):
    store = "postgres"

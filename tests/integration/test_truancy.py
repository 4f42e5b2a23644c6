"""Truancy end to end: EDEXML and absence imports through a real nats-server, the truancy,
kluis and monitor services on SQLite and PostgreSQL, sealed sections opened by who may."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from typer.testing import CliRunner

from adapters.edexml.reader import SAMPLE
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import SignalRegistered
from ketenbus_contracts.truancy import AbsenceRecorded, PupilEnrolled, VerzuimReportDue
from ketenbus_partner.keyring import KeyRefusedError, Keyring, KluisUnavailableError
from services.cli import app
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.integration.helpers import consumer_idle, read_stream, stream_events, wait_until

pytestmark = pytest.mark.integration

FIXTURE = SAMPLE
SCHOOL = "bs-de-regenboog"
LEERPLICHT = "leerplicht-lingewaard"
MONDAY = date(2026, 9, 7)


def absences_csv(path: Path, rows: list[tuple[str, date, float, str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pupil_key", "date", "hours", "lessons", "authorised", "reason_code"])
        for key, day, hours, authorised, reason in rows:
            writer.writerow([key, day.isoformat(), hours, "", authorised, reason])
    return path


def truancy_events(url: str, name: str) -> list[Any]:
    return [e for e in stream_events(url, "TRUANCY") if e.type.endswith(f".{name}.v1")]


def open_as(
    url: str, data_dir: Path, partner: str, event: Any, purpose: Purpose, refused: bool = False
) -> Any:
    """The opened section (or, with `refused`, the refusal code), once kluis has caught up:
    relations come from kluis's own reading of the streams, and under load it answers late."""

    async def attempt() -> Any:
        nc = await nats.connect(server_list(url))
        try:
            keyring = Keyring.for_partner(data_dir, partner, nc, refusal_ttl=0)
            try:
                opened = await keyring.open_section(event, purpose)
            except KeyRefusedError as refusal:
                return refusal.code if refused else None
            except KluisUnavailableError:
                return None
            return None if refused else opened
        finally:
            await nc.close()

    return wait_until(lambda: asyncio.run(attempt()), what=f"{partner} to open {purpose}")


@pytest.mark.backbone("truancy", "kluis", "monitor", "signalling", "pseudonym", "feed")
class TruancyCase(StoreBackend):
    @pytest.fixture
    def ketenbus(self, backbone: Backbone) -> Callable[..., Any]:
        runner = CliRunner()
        settings = backbone.settings
        env = {
            "KETENBUS_NATS_URL": backbone.url,
            "KETENBUS_DATA_DIR": str(settings.data_dir),
            "KETENBUS_STORE": settings.store,
            "KETENBUS_POSTGRES_SCHEMA": settings.postgres_schema,
            "KETENBUS_POSTGRES_HOST": settings.postgres_host,
            "KETENBUS_POSTGRES_PORT": str(settings.postgres_port),
            "KETENBUS_POSTGRES_DBNAME": settings.postgres_dbname,
            "KETENBUS_POSTGRES_USER": settings.postgres_user,
            "KETENBUS_POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        }

        def run(*args: str) -> Any:
            return runner.invoke(app, list(args), env=env)

        return run

    def test_edexml_enrols_quarantines_and_the_next_export_de_enrols(
        self, backbone: Backbone, ketenbus: Callable[..., Any], tmp_path: Path
    ) -> None:
        first = ketenbus("truancy", "import-edexml", str(FIXTURE), "--as", SCHOOL)

        assert 0 == first.exit_code, first.output
        assert "quarantined pupil key 00002" in first.output
        assert "133456785" not in first.output and "Assati" not in first.output
        enrolled = wait_until(
            lambda: len(e := truancy_events(backbone.url, "pupil-enrolled")) == 2 and e,
            what="two enrolments relayed",
        )
        # The school holds the identity key by its enrolment relation; leerplicht only through a
        # verzuimmelding (Besluit verzuimmelding), and there is none yet.
        data_dir = backbone.settings.data_dir
        names = sorted(
            open_as(backbone.url, data_dir, SCHOOL, e, Purpose.IDENTITY)["name"] for e in enrolled
        )
        assert ["Gradje van 't Hof", "Wimpie imp ie"] == names
        assert "no-relation" == open_as(
            backbone.url, data_dir, LEERPLICHT, enrolled[0], Purpose.IDENTITY, refused=True
        )

        second = tmp_path / "second.xml"
        text = FIXTURE.read_text().replace('<leerling key="00001"', '<leerling key="00009"')
        second.write_text(text.replace("id.school/LL_", "id.school/LX_"))
        again = ketenbus("truancy", "import-edexml", str(second), "--as", SCHOOL)

        assert 0 == again.exit_code, again.output
        assert "enrolled 1, de-enrolled 1, unchanged 1, quarantined 1" in again.output
        wait_until(
            lambda: len(truancy_events(backbone.url, "pupil-de-enrolled")) == 1,
            what="a de-enrolment relayed",
        )

    def test_a_file_failing_the_schema_or_strict_is_refused_with_what_and_where(
        self, ketenbus: Callable[..., Any], tmp_path: Path
    ) -> None:
        bad = tmp_path / "bad.xml"
        bad.write_text(
            FIXTURE.read_text().replace("<achternaam>Hof</achternaam>", "<naam>H</naam>")
        )

        refused = ketenbus("truancy", "import-edexml", str(bad), "--as", SCHOOL)
        strict = ketenbus("truancy", "import-edexml", str(FIXTURE), "--as", SCHOOL, "--strict")

        assert (2, 2) == (refused.exit_code, strict.exit_code)
        assert "line 109, <leerling[3]/naam>" in refused.output
        assert "00002" in strict.output

    def test_sixteen_hours_make_a_report_leerplicht_can_read_and_a_thuiszitter_is_counted(
        self, backbone: Backbone, ketenbus: Callable[..., Any], tmp_path: Path
    ) -> None:
        assert 0 == ketenbus("truancy", "import-edexml", str(FIXTURE), "--as", SCHOOL).exit_code
        wait_until(
            lambda: len(truancy_events(backbone.url, "pupil-enrolled")) == 2, what="enrolled"
        )
        # the school's relation (its attendance key) comes from kluis's reading of the enrolments
        wait_until(lambda: consumer_idle(backbone.url, "TRUANCY", "kluis"), what="kluis up to date")
        rows = [("00001", MONDAY + timedelta(weeks=w), 4.0, "nee", "spijbelen") for w in range(4)]
        rows += [
            ("12345", MONDAY + timedelta(weeks=w, days=d), 3.0, "ja", "ziek")
            for w in range(5) for d in range(5)
        ]  # fmt: skip
        rows.append(("77777", MONDAY, 1.0, "nee", "spijbelen"))
        result = ketenbus(
            "truancy",
            "import-absences",
            str(absences_csv(tmp_path / "a.csv", rows)),
            "--as",
            SCHOOL,
        )

        assert 0 == result.exit_code, result.output
        assert "published 29 absence(s)" in result.output
        assert "pupil key not in the last EDEXML export" in result.output
        # The pupil ill for five weeks goes to the JGZ (MAZL), not to leerplicht.
        [referral] = wait_until(
            lambda: truancy_events(backbone.url, "jgz-referral-due"), what="a JGZ referral"
        )
        assert ["jgz-gelderland-zuid"] == referral.data.notify
        reports = truancy_events(backbone.url, "verzuim-report-due")
        assert ["16-uur"] == [r.data.kind for r in reports]
        report = reports[0]
        assert isinstance(report, VerzuimReportDue)
        # The report gives leerplicht a relation: it opens the reported absences' reasons.
        absences = {
            e.data.absence_id: e
            for e in (AbsenceRecorded.model_validate_json(d) for _, d, _ in read_stream(
                backbone.url, "INBOUND", "in.*.truancy.absence-recorded"))
        }  # fmt: skip
        opened = open_as(
            backbone.url, backbone.settings.data_dir, LEERPLICHT,
            absences[report.data.absence_ids[0]], Purpose.ATTENDANCE,
        )  # fmt: skip
        assert {"reason_code": "spijbelen", "notes": ""} == opened
        # ... and who the pupil is, on the legal basis of the verzuimmelding.
        enrolment = next(
            e for e in truancy_events(backbone.url, "pupil-enrolled") if e.subject == report.subject
        )
        who = open_as(
            backbone.url, backbone.settings.data_dir, LEERPLICHT, enrolment, Purpose.IDENTITY
        )
        assert {"name", "pupil_key"} <= set(who)

        wait_until(
            lambda: len(truancy_events(backbone.url, "thuiszitter-registered")) == 1,
            what="a category-2 thuiszitter",
        )

        def figures() -> dict[str, Any] | None:
            shown = ketenbus("monitor", "report", "--quarter", "2026Q3", "--json")
            regions = json.loads(shown.output)["regions"]["lingewaard"]
            return regions if regions["categorie_2_thuiszitters"] == "<5" else None

        assert {"onbekend": "<5"} == wait_until(figures, what="the monitor")["redenen"]
        enrolled = truancy_events(backbone.url, "pupil-enrolled")
        assert all(isinstance(e, PupilEnrolled) for e in enrolled)

        # leerplicht decides on a signal per report of its own feed (its judgement, not an
        # automatic one): listed first, registered only when named; signalling matches on it
        wait_until(lambda: consumer_idle(backbone.url, "TRUANCY", "feed"), what="feed copied")
        listed = ketenbus("truancy", "forward-signals", "--as", LEERPLICHT)
        ref = str(report.data.report_id)
        assert f"to decide: {ref} verzuimmelding 16-uur" in listed.output, listed.output
        assert "registered 0 attendance signal(s), 0 without, 1 to decide" in listed.output
        assert [] == [e for e in stream_events(backbone.url, "SIGNALLING")
                      if isinstance(e, SignalRegistered)]  # fmt: skip
        forwarded = wait_until(
            lambda: "registered 1" in (
                r := ketenbus(
                    "truancy", "forward-signals", "--as", LEERPLICHT, "--signal", ref,
                    "--age-band", "4-11",
                )
            ).output and r,
            what="the signal leerplicht decided on",
        )  # fmt: skip
        assert "0 to decide" in forwarded.output, forwarded.output
        signals = wait_until(
            lambda: len(s := [e for e in stream_events(backbone.url, "SIGNALLING")
                              if isinstance(e, SignalRegistered)]) == 1 and s,
            what="the signal registered by leerplicht",
        )  # fmt: skip
        assert {LEERPLICHT} == {s.data.signaller.partner for s in signals}
        concern = open_as(
            backbone.url, backbone.settings.data_dir, LEERPLICHT, signals[0], Purpose.SIGNALLING
        )
        assert ["attendance"] == concern["concern"]


class TestTruancyOnSQLite(TruancyCase):
    store = "sqlite"


@pytest.mark.postgres
class TestTruancyOnPostgres(TruancyCase):
    store = "postgres"

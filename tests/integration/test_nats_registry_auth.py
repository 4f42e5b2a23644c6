"""The backbone under `KETENBUS_NATS_AUTH=registry`: the generated permissions carry the real flow.

The embedded nats-server runs the authorization generated from the partner registry; every
service process connects as its own NATS user, and two partners, each on its own connection
as its own user, seal their signals with keys from kluis (as the demo's partners do), publish
them signed, and ask for the plan and their worklist: the match reaches the plan, each partner
gets it, and the school opens its own signal's concern with keys from kluis (the JGZ's stays
with the JGZ).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from typer.testing import CliRunner

from demo.story import (
    READERS,
    RECEIVER,
    details,
    pupils_with_pseudonyms,
    run_scenario,
    sealed_signal,
)
from ketenbus_contracts.pseudonym import SecretPseudonymiser
from ketenbus_partner.keyring import Keyring
from ketenbus_partner.plan import open_plan, query_plan, query_worklist
from ketenbus_partner.publish import publish_signed
from services import registry
from services.audit.replay import read_streams, stream_totals
from services.cli import app
from services.runtime.nats_auth import credential_source, partner_connect, secrets_dir
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import signal
from tests.integration.helpers import JGZ, SCHOOL, child, eventually, wait_until

pytestmark = pytest.mark.integration

SERVICES = list(registry.SERVICES)  # all that `ketenbus up` runs, each as its own user
ON = date(2026, 11, 1)


async def plan_with_match(nc: NatsClient, kid: str, keyring: Keyring) -> dict[str, Any]:
    """The child's plan over the partner's own connection, once it shows the match."""

    async def matched() -> dict[str, Any] | None:
        plan = await query_plan(nc, kid, keyring.keys)
        return plan if plan and plan.get("match") else None

    return await eventually(matched, "the match in the plan")


class RegistryAuthCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        registry = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(registry, SERVICES)

    def test_partners_on_their_own_users_signal_and_each_gets_the_plan_with_the_match(
        self, backbone: Backbone
    ) -> None:
        settings = backbone.settings
        pupil = pupils_with_pseudonyms(SecretPseudonymiser(b"test-secret"))[0][0]
        kid = pupil.pseudonym

        async def scenario() -> tuple[list[Any], list[str], list[str]]:
            connections = {
                s.partner: await partner_connect(settings, s.partner, backbone.url)
                for s in (SCHOOL, JGZ)
            }
            try:
                keyrings = {
                    p: Keyring.for_partner(settings.data_dir, p, nc)
                    for p, nc in connections.items()
                }
                for signaller, concern in ((SCHOOL, "taalontwikkeling"), (JGZ, "thuissituatie")):
                    nc, keyring = connections[signaller.partner], keyrings[signaller.partner]
                    about = details(pupil.pupil, [concern], "test")
                    event = await sealed_signal(keyring, signaller, pupil, about, ON)
                    await publish_signed(nc.jetstream(), event, keyring.keys)
                plans = [
                    await plan_with_match(nc, kid, keyrings[p]) for p, nc in connections.items()
                ]
                opened = await open_plan(plans[0], keyrings[SCHOOL.partner])
                worklists = [
                    (await query_worklist(nc, keyrings[p].keys))["partner"]
                    for p, nc in connections.items()
                ]
                return [p["match"]["partners"] for p in plans], worklists, opened_concerns(opened)
            finally:
                for nc in connections.values():
                    await nc.close()

        matches, worklists, concerns = asyncio.run(scenario())

        both = [SCHOOL.partner, JGZ.partner]
        assert [both, both] == matches
        assert both == worklists
        assert ["taalontwikkeling"] == concerns  # the JGZ's concern stays with the JGZ

    def test_without_credentials_nothing_connects(self, backbone: Backbone) -> None:
        async def anonymous() -> None:
            nc = await nats.connect(backbone.url, allow_reconnect=False, connect_timeout=2)
            await nc.close()

        with pytest.raises(nats.errors.Error):
            asyncio.run(anonymous())
        secrets = secrets_dir(backbone.settings)
        assert {f"{s}" for s in SERVICES} <= {p.name for p in secrets.iterdir()}
        assert {0o600} == {p.stat().st_mode & 0o777 for p in secrets.iterdir()}

    def test_the_operators_status_and_a_partners_plan_show_connect_as_their_users(
        self, backbone: Backbone
    ) -> None:
        runner = CliRunner()

        status = runner.invoke(app, ["status"], env=env(backbone))
        shown = runner.invoke(
            app, ["plan", "show", child(3), "--as", SCHOOL.partner], env=env(backbone)
        )

        assert (0, True) == (status.exit_code, "SIGNALLING/integral-plan" in status.stdout)
        assert (1, "error: no plan for this pseudonym\n") == (shown.exit_code, shown.stderr)

    def test_the_demo_story_runs_with_every_partner_on_its_own_user(
        self, backbone: Backbone
    ) -> None:
        settings = backbone.settings

        story = asyncio.run(
            run_scenario(backbone.url, settings.data_dir, credentials=credential_source(settings))
        )

        assert list(READERS) == [view["reader"] for view in story.views]
        assert ("16-uur", "leerplicht-lingewaard") == (
            story.truancy["kind"],
            story.truancy["leerplicht"],
        )
        assert (RECEIVER.partner, True) == (story.handover["to"], story.handover["opened"] > 0)
        assert "gemeente-lingewaard" == story.arrangement["decided"]["by"]

    def test_publish_goes_out_as_the_partner_and_a_refusal_is_dead_lettered_by_the_backbone(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        settings, runner = backbone.settings, CliRunner()
        good, bad = tmp_path / "signal.json", tmp_path / "bad.json"
        good.write_bytes(signal(SCHOOL, child=child(21)).to_bytes())
        raw = json.loads(signal(SCHOOL, child=child(22)).to_bytes())
        raw["data"]["name"] = "Kanariepietje"
        bad.write_text(json.dumps(raw))

        published = runner.invoke(
            app, ["publish", "--as", SCHOOL.partner, str(good)], env=env(backbone)
        )
        refused = runner.invoke(
            app, ["publish", "--as", SCHOOL.partner, str(bad)], env=env(backbone)
        )

        assert (0, "published on in.bs-de-regenboog.signalling.signal-registered\n") == (
            published.exit_code,
            published.stdout,
        )
        assert 2 == refused.exit_code
        plan = wait_until(lambda: school_plan(backbone, child(21)), what="the plan")
        assert [SCHOOL.partner] == [p["partner"] for p in plan["parties"]]
        assert ["invalid-event"] == [
            json.loads(m.data)["reason"] for m in audited(settings, backbone.url, "DEADLETTER")
        ]

    def test_erase_announces_child_erased_as_kluis_and_the_plan_goes(
        self, backbone: Backbone, tmp_path: Path
    ) -> None:
        runner, kid = CliRunner(), child(23)
        event = tmp_path / "signal.json"
        event.write_bytes(signal(SCHOOL, child=kid).to_bytes())
        runner.invoke(app, ["publish", "--as", SCHOOL.partner, str(event)], env=env(backbone))
        wait_until(lambda: school_plan(backbone, kid), what="the plan")

        erased = runner.invoke(app, ["erase", kid, "--yes"], env=env(backbone))

        assert (0, True) == (erased.exit_code, "announced child-erased" in erased.stdout)
        wait_until(lambda: school_plan(backbone, kid) is None, what="the plan to go")
        assert [kid] == [
            json.loads(m.data)["subject"]
            for m in audited(backbone.settings, backbone.url, "PRIVACY")
        ]

    def test_a_signal_registered_with_the_cli_is_sealed_and_published_as_the_partner(
        self, backbone: Backbone
    ) -> None:
        registered = CliRunner().invoke(
            app,
            ["signal", "register", "--as", SCHOOL.partner, "--role", "ib-er", "--contact", "IB",
             "--concern", "taalontwikkeling", "--bsn", "123456782", "--birth-date", "2019-03-04",
             "--municipality", "1705"],
            env=env(backbone),
        )  # fmt: skip

        assert 0 == registered.exit_code, registered.stderr
        kid = registered.stdout.split()[3]
        plan = wait_until(lambda: school_plan(backbone, kid), what="the plan")
        assert [SCHOOL.partner] == [p["partner"] for p in plan["parties"]]


def env(backbone: Backbone) -> dict[str, str]:
    """The environment of a CLI process on this backbone, under registry authorization: the
    backbone's own settings (its store too: `erase` reads kluis's store), on its NATS."""
    return backbone.settings.to_env() | {
        "KETENBUS_NATS_URL": backbone.url,
        "KETENBUS_NATS_AUTH": "registry",
    }


def school_plan(backbone: Backbone, kid: str) -> dict[str, Any] | None:
    """The child's plan as the school receives it, over the school's own connection."""

    async def ask() -> dict[str, Any] | None:
        nc = await partner_connect(backbone.settings, SCHOOL.partner, backbone.url)
        try:
            keyring = Keyring.for_partner(backbone.settings.data_dir, SCHOOL.partner, nc)
            return await query_plan(nc, kid, keyring.keys)
        finally:
            await nc.close()

    return asyncio.run(ask())


def audited(settings: Settings, url: str, stream: str) -> list[Any]:
    """A stream's messages as the auditors' user reads them (read-only replay)."""

    async def read() -> list[Any]:
        totals = await stream_totals(url, settings=settings)
        return await read_streams(url, {stream: totals.get(stream, 0)}, settings=settings)

    return asyncio.run(read())


def opened_concerns(plan: dict[str, Any]) -> list[str]:
    """The concern codes of the plan's signals, as the partner opened them."""
    sections = [s.get("opened", {}).get("signalling", {}) for s in plan["signals"]]
    return sorted(c for section in sections for c in section.get("concern", []))


class TestRegistryAuthOnSQLite(RegistryAuthCase):
    store = "sqlite"


class TestRegistryAuthOnPostgres(RegistryAuthCase):
    store = "postgres"

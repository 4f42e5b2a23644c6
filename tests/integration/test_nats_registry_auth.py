"""The backbone under `KETENBUS_NATS_AUTH=registry`: the generated permissions carry the real flow.

The embedded nats-server runs the authorization generated from the partner registry; every
service process connects as its own NATS user, and two partners, each on its own connection
as its own user, seal their signals with keys from kluis (as the demo's partners do), publish
them signed, and ask for the plan and their worklist: the match reaches the plan, each partner
gets it, and the school opens both signals' concerns with keys from kluis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from typer.testing import CliRunner

from services import registry
from services.cli import app
from services.demo import details, publish, pupils_with_pseudonyms, sealed_signal
from services.integral_plan.client import query_plan, query_worklist
from services.integral_plan.reader import open_plan
from services.runtime.keyring import Keyring
from services.runtime.nats_auth import partner_connect, secrets_dir
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.integration.helpers import JGZ, SCHOOL, child

pytestmark = pytest.mark.integration

SERVICES = list(registry.SERVICES)  # all that `ketenbus up` runs, each as its own user
ON = date(2026, 11, 1)


async def plan_with_match(nc: NatsClient, kid: str, keyring: Keyring) -> dict[str, Any]:
    """The child's plan over the partner's own connection, once it shows the match."""
    for _ in range(600):
        try:
            plan = await query_plan(nc, kid, keyring.keys)
        except nats.errors.NoRespondersError:
            plan = None
        if plan and plan.get("match"):
            return plan
        await asyncio.sleep(0.1)
    raise AssertionError("no match in the plan")


class RegistryAuthCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings) -> Iterator[Backbone]:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        with Backbone(settings, SERVICES) as backbone:
            yield backbone

    def test_partners_on_their_own_users_signal_and_each_gets_the_plan_with_the_match(
        self, backbone: Backbone
    ) -> None:
        settings = backbone.settings
        pupil = pupils_with_pseudonyms(b"test-secret")[0][0]
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
                    await publish(nc, event)  # signed by the partner already
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
        assert ["taalontwikkeling", "thuissituatie"] == concerns

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
        env = {
            "KETENBUS_NATS_URL": backbone.url,
            "KETENBUS_DATA_DIR": str(backbone.settings.data_dir),
            "KETENBUS_NATS_AUTH": "registry",
        }
        runner = CliRunner()

        status = runner.invoke(app, ["status"], env=env)
        shown = runner.invoke(app, ["plan", "show", child(3), "--as", SCHOOL.partner], env=env)

        assert (0, True) == (status.exit_code, "SIGNALLING/integral-plan" in status.stdout)
        assert (1, "error: no plan for this pseudonym\n") == (shown.exit_code, shown.stderr)


def opened_concerns(plan: dict[str, Any]) -> list[str]:
    """The concern codes of the plan's signals, as the partner opened them."""
    sections = [s.get("opened", {}).get("signalling", {}) for s in plan["signals"]]
    return sorted(c for section in sections for c in section.get("concern", []))


class TestRegistryAuthOnSQLite(RegistryAuthCase):
    store = "sqlite"


class TestRegistryAuthOnPostgres(RegistryAuthCase):
    store = "postgres"

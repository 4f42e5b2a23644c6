"""What became of a form, over a real nats-server under the registry's authorization
(`KETENBUS_NATS_AUTH=registry`): the wijkteam's web app publishes as the web app does (its
portal, on the wijkteam's own NATS user, sealed by kluis) and reads the receipts the plan
service gives on the wijkteam's feed through `receipts-<id>`, the consumer the backbone declares
for it: a goal accepted, a regie naming an organisation not on the plan refused (`not-a-party`).
The wijkteam's feed consumer is left to its own system: the receipts are still pending there.

The attack: the wijkteam cannot read the school's receipts, by its receipts consumer, its feed
consumer, a consumer of its own on them or a subscription to their subject.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from ketenbus_contracts.plan import Party
from ketenbus_partner.feed import feed_durable
from ketenbus_partner.keys import load_or_create_partner_keys
from ketenbus_partner.publish import publish_signed
from services.integral_plan.portal import NatsPortal
from services.integral_plan.web_forms import Draft, OnPlan, goal_form, publish_draft
from services.integral_plan.web_receipts import outcome
from services.runtime import nats_auth
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.streams import receipts_consumer
from services.runtime.supervisor import Backbone as RunningBackbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import joined, regie
from tests.integration.helpers import child, eventually
from tests.integration.test_wire_attacks import Backbone

pytestmark = pytest.mark.integration

WIJKTEAM = Party(partner="wijkteam-lingewaard", role="regisseur", contact="team@example")
JGZ = Party(partner="jgz-gelderland-zuid", role="jeugdarts", contact="jgz@ggd.example")
SCHOOL = Party(partner="bs-de-regenboog", role="ib-er", contact="ib@regenboog.example")
ACTOR = "mw-" + "7" * 24


async def _pending(nc: Any, durable: str) -> int:
    return int((await nc.jetstream().consumer_info("FEED", durable)).num_pending)


class WebReceiptsCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> RunningBackbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["integral-plan", "kluis"])

    def test_the_web_app_hears_what_became_of_its_forms_and_nothing_of_others(
        self, backbone: RunningBackbone
    ) -> None:
        settings, url = backbone.settings, backbone.url
        kid, schools_kid = child(7101), child(7102)

        async def story() -> tuple[list[Any], list[bool], int, int, bool]:
            errors: list[str] = []

            async def error_cb(exc: Exception) -> None:
                errors.append(str(exc))

            wijkteam_nc = await partner_connect(settings, WIJKTEAM.partner, url, error_cb=error_cb)
            school_nc = await partner_connect(settings, SCHOOL.partner, url)
            operator = await nats_auth.connect(settings, nats_auth.SUPERVISOR_USER, url)
            portal = NatsPortal(wijkteam_nc, settings.data_dir, WIJKTEAM.partner)
            try:
                # The wijkteam starts the child's plan; the school one of its own.
                wijkteam_keys = load_or_create_partner_keys(settings.data_dir, WIJKTEAM.partner)
                school_keys = load_or_create_partner_keys(settings.data_dir, SCHOOL.partner)
                today = date.today()
                await publish_signed(
                    wijkteam_nc.jetstream(), joined(WIJKTEAM, WIJKTEAM, today, kid), wijkteam_keys
                )
                await publish_signed(
                    school_nc.jetstream(), joined(SCHOOL, SCHOOL, today, schools_kid), school_keys
                )
                plan = await eventually(lambda: portal.plan(kid), "the wijkteam's plan")

                # The web app's forms: a goal (sealed by kluis), a regie for the JGZ (no party).
                on = OnPlan(plan, today, WIJKTEAM.partner, ACTOR)
                _, goal = goal_form({"domein": "gezin", "tekst": "Vast dagritme"}, on)
                assert goal is not None
                sent_goal = await publish_draft(portal, goal, kid)
                wrong = Draft(None, lambda _id, _sealed: regie(WIJKTEAM, JGZ, today, kid), "x")
                sent_regie = await publish_draft(portal, wrong, kid)
                outcomes = []
                for sent in (sent_goal, sent_regie):
                    ids = [e.id for e in sent]
                    outcomes.append(outcome("Het", ids, await portal.receipts(ids, 30)))

                # The school's receipt is on its feed; the wijkteam tries to read it.
                school_receipts = receipts_consumer(SCHOOL.partner).durable
                await eventually(
                    lambda: _at_least(operator, school_receipts, 1), "the school's receipt"
                )
                js = wijkteam_nc.jetstream(timeout=1.0)

                refused = Backbone(operator, wijkteam_nc, errors).refused

                async def pull(durable: str) -> None:
                    sub = await js.pull_subscribe_bind(durable, stream="FEED")
                    await sub.fetch(1, timeout=1)

                async def own_consumer() -> None:
                    config = ConsumerConfig(
                        name=WIJKTEAM.partner,
                        filter_subject=f"feed.{SCHOOL.partner}.receipt",
                        deliver_policy=DeliverPolicy.ALL,
                    )
                    await js.add_consumer("FEED", config)

                async def listen() -> None:
                    sub = await wijkteam_nc.subscribe(f"feed.{SCHOOL.partner}.receipt")
                    await wijkteam_nc.flush()
                    await sub.next_msg(timeout=1)

                attacks = [
                    await refused(lambda: pull(school_receipts)),
                    await refused(lambda: pull(feed_durable(SCHOOL.partner))),
                    await refused(lambda: js.consumer_info("FEED", school_receipts)),
                    await refused(own_consumer),
                    await refused(listen),
                ]
                return (
                    outcomes,
                    attacks,
                    await _pending(operator, school_receipts),
                    await _pending(operator, feed_durable(WIJKTEAM.partner)),
                    await eventually(
                        lambda: _all_read(operator, receipts_consumer(WIJKTEAM.partner).durable),
                        "the web app to have read its receipts",
                    ),
                )
            finally:
                await portal.close()
                for nc in (wijkteam_nc, school_nc, operator):
                    await nc.close()

        outcomes, attacks, schools_unread, wijkteams_feed, wijkteams_receipts = asyncio.run(story())

        assert [("verwerkt", ()), ("geweigerd", ("not-a-party",))] == [
            (o.verdict, tuple(code for code, _ in o.reasons)) for o in outcomes
        ]
        assert [True, True, True, True, True] == attacks
        assert 1 == schools_unread  # the school's receipt, untouched by the wijkteam
        # The web app read its receipts; the wijkteam's feed still has them for its own system.
        assert (3, True) == (wijkteams_feed, wijkteams_receipts)


async def _all_read(nc: Any, durable: str) -> bool:
    info = await nc.jetstream().consumer_info("FEED", durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _at_least(nc: Any, durable: str, count: int) -> bool:
    return await _pending(nc, durable) >= count


class TestWebReceiptsOnSQLite(WebReceiptsCase):
    pass

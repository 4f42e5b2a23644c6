"""A parent's relation with a child comes from a link the school or the municipality records.

Under the registry's authorization (`KETENBUS_NATS_AUTH=registry`) the parent's account and the
school each connect with their own credentials. The parent publishes a signed `parent-linked`
naming itself, about a child: the plan service refuses it (the parent's receipt says
`not-a-recorder`) and kluis refuses the parent the child's plan key, recording the try. The
school records a link with the parent's consent for another child: kluis opens that child's plan
and handover keys to the parent, as the relation table says (`child`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest

from ketenbus_contracts.purposes import Purpose
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from ketenbus_partner.plan import query_plan, query_worklist
from ketenbus_partner.publish import publish_signed
from services.integral_plan.portal import NatsPortal
from services.kluis.domain import Decision
from services.kluis.keystore import Keystore
from services.runtime.nats_auth import partner_connect
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.conftest import StartBackbone, StoreBackend
from tests.events import PARENT, objection, parent_linked
from tests.integration.helpers import SCHOOL, child, eventually, feed_items

pytestmark = pytest.mark.integration

CONSENT = date(2026, 9, 1)


async def _outcome(keyring: Keyring, kid: str, purpose: Purpose, scope: str) -> str:
    try:
        await keyring.sealing_key(kid, purpose, scope={purpose: scope})
    except KeyRefusedError as refused:
        return refused.code
    return "released"


async def _released(keyring: Keyring, kid: str, purpose: Purpose, scope: str) -> bool:
    return await _outcome(keyring, kid, purpose, scope) == "released"


class ParentLinkCase(StoreBackend):
    @pytest.fixture
    def backbone(self, settings: Settings, start_backbone: StartBackbone) -> Backbone:
        settings = settings.model_copy(update={"nats_auth": "registry"})
        return start_backbone(settings, ["integral-plan", "kluis"])

    def test_a_parent_linking_itself_is_refused_and_a_link_the_school_records_opens(
        self, backbone: Backbone
    ) -> None:
        settings, claimed, linked = backbone.settings, child(51), child(52)

        async def story() -> tuple[list[str], list[str], list[Any], list[Any], list[Any]]:
            parent_nc = await partner_connect(settings, PARENT, backbone.url)
            school_nc = await partner_connect(settings, SCHOOL.partner, backbone.url)
            try:
                parent = Keyring.for_partner(
                    settings.data_dir, PARENT, parent_nc, ttl=0.0, refusal_ttl=0.0
                )
                school = Keyring.for_partner(settings.data_dir, SCHOOL.partner, school_nc)
                # The attack: the parent's own signed link, with a consent date and all.
                own = parent_linked(PARENT, consent_on=CONSENT, child=claimed)
                await publish_signed(parent_nc.jetstream(), own, parent.keys)
                # The plan service takes the inbound plan events in order: once the school's
                # later link opens, the parent's own was decided.
                by_school = parent_linked(SCHOOL.partner, consent_on=CONSENT, child=linked)
                await publish_signed(school_nc.jetstream(), by_school, school.keys)
                await eventually(
                    lambda: _released(parent, linked, Purpose.PLAN, "child"), "the link to open"
                )
                handover = str(uuid.uuid4())
                opened = [
                    await _outcome(parent, linked, Purpose.PLAN, "child"),
                    await _outcome(parent, linked, Purpose.HANDOVER, handover),
                ]
                refused = [
                    await _outcome(parent, claimed, Purpose.PLAN, "child"),
                    await _outcome(parent, claimed, Purpose.HANDOVER, handover),
                ]
                # The web app publishes for the logged-in parent over the parent's own NATS
                # user (its own connection holds only the school's `in.<school>.>`): an
                # objection against an organisation not on the plan, refused on its receipt.
                portal = NatsPortal(
                    school_nc,
                    settings.data_dir,
                    SCHOOL.partner,
                    connect_as=lambda p: partner_connect(settings, p, backbone.url),
                )
                await portal.publish_as_parent(objection(SCHOOL.partner, child=linked), PARENT)
                receipts = [
                    item.body
                    for item in await feed_items(parent_nc, PARENT, 2, lambda item: item.is_receipt)
                ]
                # The parents' view of the plan (the web app asks it so, as the parent's
                # account): the linked child's, never the other's.
                views = [
                    await query_plan(parent_nc, linked, parent.keys),
                    await query_plan(parent_nc, claimed, parent.keys),
                ]
                # The children the web app's /ouders lists for this account: the linked one.
                children = (await query_worklist(parent_nc, parent.keys))["children"]
                return opened, refused, receipts, views, children
            finally:
                await parent_nc.close()
                await school_nc.close()

        opened, refused, receipts, (seen, unseen), children = asyncio.run(story())
        keystore = Keystore.open(settings)
        try:
            records = keystore.records(data_subject=claimed, requester=PARENT)
        finally:
            keystore.close()

        assert (linked, [], None) == (seen["child"], seen["signals"], unseen)
        assert [(linked, SCHOOL.partner)] == [(c["child"], c["recorded_by"]) for c in children]
        assert ["released", "released"] == opened
        assert ["no-relation", "no-relation"] == refused
        assert [("refused", "not-a-recorder"), ("refused", "not-a-party")] == [
            (r["status"], r["reason"]) for r in receipts
        ]
        assert {(Purpose.PLAN, "no-relation"), (Purpose.HANDOVER, "no-relation")} <= {
            (r.purpose, r.refusal_code) for r in records if r.decision is Decision.REFUSED
        }


class TestParentLinkOnSQLite(ParentLinkCase):
    store = "sqlite"


class TestParentLinkOnPostgres(ParentLinkCase):
    store = "postgres"

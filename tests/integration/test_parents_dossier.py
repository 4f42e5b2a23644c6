"""The parents' inzage of the handover dossier before it goes, end to end over a real
nats-server: the school imports its OSO dossier and links the parent's account (with consent);
the handover service tells the prepared dossier still sealed (`dossier-prepared-info.v2`), the
plan keeps it for the linked parent, and the portal opens it with the parent account's keys
through kluis. The attacks closed: the parent asking of a child not linked to them gets
nothing, and another organisation (the receiving school, before the release) that holds the
sealed sections opens none of them."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import nats
import pytest

from ketenbus_contracts.handover import DossierPreparedInfoV2
from ketenbus_partner.keyring import KeyRefusedError, Keyring
from services.integral_plan.portal import NatsPortal
from services.runtime.settings import server_list
from services.runtime.supervisor import Backbone
from tests.conftest import StoreBackend
from tests.events import PARENT, parent_linked
from tests.integration.helpers import child, publish_events, stream_events, wait_until
from tests.integration.test_handover import POVO, RECEIVER, SENDER, _import

pytestmark = pytest.mark.integration


async def _dossiers(url: str, backbone: Backbone, kid: str) -> list[dict[str, Any]] | None:
    nc = await nats.connect(server_list(url))
    try:
        portal = NatsPortal(nc, backbone.settings.data_dir, SENDER)
        return await portal.parents_dossier(kid, PARENT)
    finally:
        await nc.close()


async def _refusals(url: str, backbone: Backbone, event: DossierPreparedInfoV2) -> list[str]:
    nc = await nats.connect(server_list(url))
    refused = []
    try:
        keyring = Keyring.for_partner(backbone.settings.data_dir, RECEIVER, nc, refusal_ttl=0)
        for section in event.data.sections:
            try:
                await keyring.open_token(section.sealed, event_id=section.sealed_in)
            except KeyRefusedError as exc:
                refused.append(exc.code)
    finally:
        await nc.close()
    return refused


@pytest.mark.backbone("handover", "kluis", "pseudonym", "integral-plan")
class TestParentsDossierOnSQLite(StoreBackend):
    def test_the_linked_parent_opens_the_dossier_and_no_one_else_does(
        self, backbone: Backbone
    ) -> None:
        url, data_dir = backbone.url, backbone.settings.data_dir
        done, _ = asyncio.run(_import(url, data_dir, POVO))
        publish_events(
            url, [parent_linked(SENDER, consent_on=date(2026, 9, 1), child=done.child)], data_dir
        )

        def opened() -> list[dict[str, Any]] | None:
            found = asyncio.run(_dossiers(url, backbone, done.child))
            sections = [s for d in found or [] for s in d["sections"]]
            return found if sections and all("opened" in s for s in sections) else None

        [dossier] = wait_until(opened, what="the parent's opened dossier")
        [told] = [e for e in stream_events(url, "HANDOVER") if isinstance(e, DossierPreparedInfoV2)]

        assert (str(done.handover_id), SENDER) == (dossier["handover_id"], dossier["from"])
        assert done.sections == len(dossier["sections"])
        assert None is asyncio.run(_dossiers(url, backbone, child(61)))
        refused = asyncio.run(_refusals(url, backbone, told))
        assert [done.sections, {"no-relation"}] == [len(refused), set(refused)]

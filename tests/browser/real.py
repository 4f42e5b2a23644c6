"""The web app against the real backbone: an embedded nats-server under the registry's
authorization, every service `ketenbus up` runs (as tasks of this process, tests/backbone.py),
a real OpenID provider, and each organisation's web app as `ketenbus web` builds it
(`site_for`: the portal over NATS as the organisation's own user, its keys from kluis).

The story before the forms, told as the partners' systems tell it (demo/story.py's steps,
signed and sealed, each partner over its own connection): the school imports its pupils; the
school and the JGZ signal about the first and are matched; the wijkteam joins with regie; the
school's OSO dossier is prepared and the vo school requests it (not yet released; the file
records the parents' view); a second pupil's dossier likewise, its file without the parents'
view (the school records it in the browser, and releases in the same post); an
arrangement's funding is disputed by the SWV and escalated to the holders of
doorzettingsmacht (the SWV and the gemeente, not yet decided); absences bring a verzuim
report to leerplicht; the second pupil, sick more than half of each of five school weeks, is
registered a thuiszitter (category 2, no offer yet). Then people act in the browser and see
what the services made of it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adapters.edexml.importer import ImportPlan
from adapters.edexml.reader import SAMPLE
from demo import arrangements as arr
from demo.story import (
    SCHOOL,
    DemoPupil,
    build_plan,
    dossier_requested,
    enrol_pupils,
    publish_absence_rows,
    pupils_with_pseudonyms,
    report_truancy,
    school_days_before,
    send,
    signal_and_match,
    wait_for_relations,
)
from ketenbus_partner.connect import Connections, CredentialSource
from ketenbus_partner.keys import load_or_create_partner_keys
from services.cli.demo_web import serving
from services.integral_plan.web_auth import WebSettings
from services.policy.regions import RegionRules, load_regions, school_region, week_of
from services.registry import SERVICES
from services.runtime.nats_auth import credential_source
from services.runtime.settings import Settings
from services.runtime.streams import TRUANCY
from tests.backbone import InProcessBackbone
from tests.browser.site import running_provider
from tests.oidc import OidcProvider, free_port

WIJKTEAM = "wijkteam-lingewaard"
LEERPLICHT = "leerplicht-lingewaard"
GEMEENTE = arr.MUNICIPALITY
# The organisations whose people act here, each with its web app.
PARTNERS = (SCHOOL.partner, WIJKTEAM, LEERPLICHT, GEMEENTE)


@dataclass
class Story:
    """What the partners' systems did before anyone logged in."""

    child: str
    handover_id: str = ""
    unviewed_child: str = ""  # the second pupil, whose OSO file records no parents' view
    unviewed_handover_id: str = ""
    thuiszitter: str = ""  # the second pupil again, a thuiszitter without an offer
    dispute_id: str = ""
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # the story's poison


@dataclass
class RealBackbone:
    settings: Settings
    url: str
    story: Story
    provider: OidcProvider
    sites: dict[str, str] = field(default_factory=dict)  # partner -> its web app's address


async def tell_the_story(
    url: str, data_dir: Path, credentials: CredentialSource, today: date
) -> Story:
    rules = school_region(load_regions(), SCHOOL.partner)
    assert rules is not None
    async with Connections(url, credentials) as conns:
        enrolled, pseudonyms = await enrol_pupils(conns, data_dir, SAMPLE, rules)
        pupils, _ = pupils_with_pseudonyms(pseudonyms, SAMPLE)
        first = pupils[0]
        story = Story(child=first.pseudonym)
        await signal_and_match(conns, data_dir, pupils, today)
        await build_plan(conns, data_dir, first.pseudonym, today)
        # Prepared and requested, not released: the school releases it in the browser.
        story.handover_id = str(
            (await dossier_requested(conns, data_dir, first, today)).handover_id
        )
        second = pupils[1]
        unviewed = await dossier_requested(conns, data_dir, second, today, parents_viewed=False)
        story.unviewed_child, story.unviewed_handover_id = (
            second.pseudonym,
            str(unviewed.handover_id),
        )
        story.dispute_id = await _dispute_escalated(conns, data_dir, first.pseudonym, today)
        await report_truancy(conns, data_dir, rules, enrolled, first, today)
        story.thuiszitter = await _thuiszitter(conns, data_dir, rules, enrolled, second, today)
        await wait_for_relations(await conns.user(arr.SUPERVISOR_USER))
    return story


async def _dispute_escalated(conns: Connections, data_dir: Path, child: str, today: date) -> str:
    """An arrangement whose funding the SWV disputes, escalated by the arrangements service to
    the region's holders of doorzettingsmacht: the gemeente decides it in the browser."""
    keys = {p: load_or_create_partner_keys(data_dir, p) for p in (SCHOOL.partner, arr.SWV.partner)}
    arrangement_id, dispute_id = uuid.uuid4(), uuid.uuid4()
    ends = today + timedelta(days=180)
    agreed = arr.arrangement(child, today, ends, arrangement_id=arrangement_id)
    await send(conns, agreed, keys[SCHOOL.partner])
    disputed = arr.dispute(
        child, arrangement_id, today, proposed=arr.split(municipality=100), dispute_id=dispute_id
    )
    await send(conns, disputed, keys[arr.SWV.partner])
    await arr.wait_for(
        await conns.user(arr.SUPERVISOR_USER),
        "dispute-escalated",
        lambda e: e.data.dispute_id == dispute_id,
    )
    return str(dispute_id)


async def _thuiszitter(
    conns: Connections,
    data_dir: Path,
    rules: RegionRules,
    enrolled: ImportPlan,
    pupil: DemoPupil,
    today: date,
) -> str:
    """The school reports a pupil sick (authorised: no verzuimmelding) every school day of the
    six school weeks before this one, so the truancy service registers a thuiszitter
    (category 2: more than half absent in each of more than four consecutive school weeks)."""
    days = school_days_before(rules, week_of(today), 30)
    hours = rules.weekly_hours(SCHOOL.partner) / 5
    rows = [(pupil.pupil.key, day, hours, True, "ziek") for day in days]
    await publish_absence_rows(conns, data_dir, rules, enrolled, rows)
    await arr.wait_for(
        await conns.user(arr.SUPERVISOR_USER),
        "thuiszitter-registered",
        lambda e: e.subject == pupil.pseudonym,
        stream=TRUANCY,
    )
    return pupil.pseudonym


async def dead_letters(settings: Settings, url: str) -> list[dict[str, Any]]:
    """What was dead-lettered, read as the backbone's own user (message by message)."""
    async with Connections(url, credential_source(settings)) as conns:
        js = (await conns.user(arr.SUPERVISOR_USER)).jetstream()
        state = (await js.stream_info("DEADLETTER")).state
        if not state.messages:
            return []
        seqs = range(state.first_seq, state.last_seq + 1)
        return [json.loads((await js.get_msg("DEADLETTER", seq)).data or b"{}") for seq in seqs]


@contextmanager
def running_backbone(tmp: Path) -> Iterator[RealBackbone]:
    """The backbone under the registry's authorization with the story told, the provider and
    the web apps of `PARTNERS`, until the block ends."""
    settings = Settings(data_dir=tmp / "data", store="sqlite", nats_auth="registry")
    backbone = InProcessBackbone(settings, list(SERVICES))
    backbone.start()
    try:
        credentials = credential_source(settings)
        story = asyncio.run(tell_the_story(backbone.url, settings.data_dir, credentials, today()))
        story.dead_letters = asyncio.run(dead_letters(settings, backbone.url))
        ports = {partner: free_port() for partner in PARTNERS}
        (tmp / "oidc").mkdir()
        with running_provider(tmp / "oidc", ports) as provider:
            web = WebSettings(oidc_issuer=provider.issuer, parents_issuer=provider.issuer)
            real = RealBackbone(settings, backbone.url, story, provider)
            with serving(settings, backbone.url, ports, web, stop_seconds=30) as sites:
                real.sites = sites
                yield real
    finally:
        backbone.stop()


def today() -> date:
    """The day the services and the web app take as today (their clocks are the real one)."""
    return date.fromtimestamp(time.time())

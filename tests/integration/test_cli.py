"""The `ketenbus` command against a running backbone: publish, plan show, status, erase."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from typer.testing import CliRunner

from ketenbus_contracts.signalling import Signaller
from ketenbus_contracts.signing import verify_raw
from ketenbus_partner.keys import load_or_create_partner_keys
from services.cli import app
from services.runtime.supervisor import Backbone
from tests.events import signal
from tests.integration.helpers import (
    JGZ,
    SCHOOL,
    child,
    query_plan,
    read_stream,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.backbone("signalling", "integral-plan", "kluis"),
]


@pytest.fixture
def ketenbus(backbone: Backbone):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"KETENBUS_NATS_URL": backbone.url, "KETENBUS_DATA_DIR": str(backbone.settings.data_dir)}

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env)

    return run


def test_publish_validates_and_publishes_a_partners_event(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    kid = child(7)
    event = tmp_path / "signal.json"
    event.write_bytes(signal(SCHOOL, child=kid).to_bytes())

    result = ketenbus("publish", "--as", "bs-de-regenboog", str(event))

    assert (0, "published on in.bs-de-regenboog.signalling.signal-registered\n") == (
        result.exit_code,
        result.stdout,
    )
    plan = wait_until(lambda: query_plan(backbone, kid), what="the plan")
    assert ["bs-de-regenboog"] == [p["partner"] for p in plan["parties"]]


def test_publish_refuses_invalid_input_with_the_reason_and_dead_letters_it_sealed(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    raw = json.loads(signal(SCHOOL, child=child(8)).to_bytes())
    raw["data"]["name"] = "Kanariepietje"
    event = tmp_path / "bad.json"
    event.write_text(json.dumps(raw))

    result = ketenbus("publish", "--as", "bs-de-regenboog", str(event))

    assert 2 == result.exit_code
    assert "refused: invalid-event: data.name: Extra inputs are not permitted" in result.stderr
    [(_, payload, _)] = read_stream(backbone.url, "DEADLETTER")
    assert b"Kanariepietje" not in payload
    assert "invalid-event" == json.loads(payload)["reason"]
    assert {"sealed_to", "jwe"} == set(json.loads(payload)["original"])
    assert 0 == sum(1 for _ in read_stream(backbone.url, "INBOUND"))


def test_publish_refuses_an_event_in_another_partners_name(ketenbus, tmp_path: Path) -> None:
    event = tmp_path / "signal.json"
    event.write_bytes(signal(JGZ, child=child(9)).to_bytes())

    result = ketenbus("publish", "--as", "bs-de-regenboog", str(event))

    assert 2 == result.exit_code
    assert "is not the publishing partner" in result.stderr


def test_publish_signs_for_a_demo_partner_whose_keys_are_in_the_data_dir(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    event = tmp_path / "signal.json"
    event.write_bytes(signal(SCHOOL, child=child(13)).to_bytes())

    result = ketenbus("publish", "--as", "bs-de-regenboog", str(event))

    assert 0 == result.exit_code, result.output
    [(_, payload, _)] = read_stream(backbone.url, "INBOUND")
    keys = load_or_create_partner_keys(backbone.settings.data_dir, SCHOOL.partner)
    assert SCHOOL.partner == verify_raw(payload, {SCHOOL.partner: keys})


def test_publish_refuses_an_unsigned_event_it_cannot_sign_and_dead_letters_it(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    stranger = Signaller(partner="bs-onbekend", role="ib-er", contact="ib")
    event = tmp_path / "signal.json"
    event.write_bytes(signal(stranger, child=child(14)).to_bytes())

    result = ketenbus("publish", "--as", stranger.partner, str(event))

    assert 2 == result.exit_code
    assert "refused: missing-signature: the event is not signed" in result.stderr
    assert "the partner signs the envelope itself" in result.stderr
    [(_, payload, _)] = read_stream(backbone.url, "DEADLETTER")
    assert "missing-signature" == json.loads(payload)["reason"]
    assert 0 == sum(1 for _ in read_stream(backbone.url, "INBOUND"))


def signalled(ketenbus: Callable[..., Any], backbone: Backbone, tmp_path: Path, kid: str) -> str:
    """`kid`, once the school's signal about it, published with the CLI, made its plan."""
    event = tmp_path / "signal.json"
    event.write_bytes(signal(SCHOOL, child=kid).to_bytes())
    ketenbus("publish", "--as", "bs-de-regenboog", str(event))
    wait_until(lambda: query_plan(backbone, kid), what="the plan")
    return kid


def test_plan_show_prints_the_plan_and_says_when_there_is_none(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    kid = signalled(ketenbus, backbone, tmp_path, child(10))

    shown = ketenbus("plan", "show", kid, "--json")
    missing = ketenbus("plan", "show", child(11))

    assert (0, kid) == (shown.exit_code, json.loads(shown.stdout)["child"])
    assert (1, "error: no plan for this pseudonym\n") == (missing.exit_code, missing.stderr)


def test_plan_show_asks_as_a_partner_and_an_unsigned_query_gets_a_refusal(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    kid = signalled(ketenbus, backbone, tmp_path, child(15))

    as_school = ketenbus("plan", "show", kid, "--as", "bs-de-regenboog")
    as_outsider = ketenbus("plan", "show", kid, "--as", "leerplicht-lingewaard")
    unsigned = asyncio.run(ask_unsigned(backbone.url, kid))

    assert (0, 1) == (as_school.exit_code, as_outsider.exit_code)
    assert "as bs-de-regenboog sees it" in as_school.stdout
    assert {"found": False, "plan": None, "refusal": "unsigned-query"} == unsigned


async def ask_unsigned(url: str, kid: str) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:
        body = json.dumps({"child": kid}).encode()
        return dict(json.loads((await nc.request("ketenbus.query.plan", body, 10)).data))
    finally:
        await nc.close()


def test_status_shows_streams_consumers_and_dead_letters(ketenbus, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    ketenbus("publish", "--as", "bs-de-regenboog", str(bad))

    result = ketenbus("status")

    assert 0 == result.exit_code
    for line in ("INBOUND", "SIGNALLING/integral-plan", "SIGNALLING/kluis", "ingress"):
        assert line in result.stdout


def test_erase_destroys_the_keys_and_drops_the_plan(
    ketenbus, backbone: Backbone, tmp_path: Path
) -> None:
    kid = signalled(ketenbus, backbone, tmp_path, child(12))

    result = ketenbus("erase", kid, "--yes")

    assert 0 == result.exit_code
    assert "announced child-erased" in result.stdout
    wait_until(lambda: query_plan(backbone, kid) is None, what="the plan to go")

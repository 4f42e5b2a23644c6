"""The committed AsyncAPI document: fresh, valid under the official parser, complete."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.nats import NatsBroker
from pydantic import BaseModel, Field

from ketenbus_contracts.envelope import registered_types
from services import asyncapi
from services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "validate-asyncapi.mjs"
PARSER_PACKAGE = ROOT / "node_modules" / "@asyncapi" / "parser" / "package.json"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the official @asyncapi/parser over `path`; fail (not skip) when it is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the AsyncAPI document is validated with Node >= 20")
    if not PARSER_PACKAGE.exists():
        pytest.fail(
            "@asyncapi/parser is not installed: run `make node_modules/.installed` "
            "(npm ci from package-lock.json); `make test` does this itself"
        )
    return subprocess.run(
        [node, str(VALIDATOR), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def walk(node: Any) -> Any:
    """Every mapping inside a YAML/JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_committed_document_is_fresh() -> None:
    committed = asyncapi.DOCUMENT.read_text(encoding="utf-8")
    fresh = asyncapi.render(asyncapi.generate())
    assert committed == fresh, (
        f"{asyncapi.DOCUMENT.relative_to(ROOT)} is stale: the faststream routers or contracts "
        "changed. Run `make asyncapi` and commit the result."
    )


def test_check_flag_reports_a_stale_document(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text("asyncapi: 3.0.0\n", encoding="utf-8")
    assert asyncapi.main(["--check", "--output", str(stale)]) == 1
    assert asyncapi.main(["--output", str(stale)]) == 0
    assert asyncapi.main(["--check", "--output", str(stale)]) == 0


def test_committed_document_is_valid_under_the_asyncapi_parser() -> None:
    result = validate(asyncapi.DOCUMENT)
    assert result.returncode == 0, f"@asyncapi/parser refused the document:\n{result.stdout}"
    assert "valid" in result.stdout


def test_every_registered_event_type_is_in_the_document() -> None:
    doc = yaml.safe_load(asyncapi.DOCUMENT.read_text(encoding="utf-8"))
    consts = {m["const"] for m in walk(doc["components"]["schemas"]) if "const" in m}
    addresses = {c["address"] for c in doc["channels"].values()}
    for event_type, cls in registered_types().items():
        assert event_type in consts, f"{event_type} has no schema in the AsyncAPI document"
        if any(cls in factory().publishes for factory in SERVICES.values()):
            assert cls.outbound_subject() in addresses


def test_every_relaying_service_declares_what_it_publishes() -> None:
    for name, factory in SERVICES.items():
        spec = factory()
        if spec.translate is not None:
            assert spec.publishes, (
                f"service {name!r} relays events: list them in its ServiceSpec(publishes=...)"
            )


@pytest.mark.parametrize(
    ("pattern", "subject", "covered"),
    [
        ("in.>", "in.*.signalling.>", True),
        ("ketenbus.signalling.>", "ketenbus.signalling.match-found.v1", True),
        ("ketenbus.signalling.>", "ketenbus.signalling", False),
        ("ketenbus.*.x", "ketenbus.signalling.x", True),
        ("ketenbus.signalling.*", "ketenbus.signalling.>", False),
        ("ketenbus.signalling.x", "ketenbus.*.x", False),
    ],
)
def test_subject_coverage(pattern: str, subject: str, covered: bool) -> None:
    assert asyncapi._covers(pattern, subject) is covered


class SealedFieldModel(BaseModel):
    """A tiny stand-in for a contract with sealed-field annotations."""

    child: str = Field(json_schema_extra={"x-purpose": "signalling"})


def test_templates_schema_extras_and_queue_groups_come_out_valid(tmp_path: Path) -> None:
    broker = NatsBroker()

    @broker.subscriber("in.{partner}.demo.{event}", queue="workers", title="demo/inbound")
    async def on_demo(body: SealedFieldModel) -> None: ...

    doc = asyncapi.generate(broker)

    channel = doc["channels"]["demo.inbound"]
    # faststream issue #3036: it leaves out the parameters of a templated address.
    assert set(channel["parameters"]) == {"partner", "event"}
    assert channel["x-ketenbus-streams"] == ["INBOUND"]
    assert "bindings" not in channel  # faststream's `bindingVersion: custom` channel binding
    operation = doc["operations"]["demo/inbound"]
    assert operation["bindings"]["nats"] == {"queue": "workers", "bindingVersion": "0.1.0"}
    # json_schema_extra (the `x-purpose` of sealed fields) survives into the document.
    child = doc["components"]["schemas"]["SealedFieldModel"]["properties"]["child"]
    assert child["x-purpose"] == "signalling"

    path = tmp_path / "asyncapi.yaml"
    path.write_text(asyncapi.render(doc), encoding="utf-8")
    result = validate(path)
    assert result.returncode == 0, f"@asyncapi/parser refused the document:\n{result.stdout}"

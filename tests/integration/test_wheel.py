"""The built wheels carry what the code reads: `infra/` (inside `services`), the EDEXML and OSO
schemas and samples; installed in a fresh environment, outside any checkout, they are found.
The partner kit (`ketenbus-partner`) is built and installed beside them, and with the
contracts alone it imports nothing of the backbone."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Run in the fresh environment: every data file is read from the installed packages.
CHECK = """
import services, services.infra as infra, ketenbus_partner
from adapters.edexml.reader import SAMPLE, read_pupils
from adapters.edexml.schema import validate
from adapters.oso.dossier import SAMPLES, XSD_PATH
from lxml import etree
from services.policy.handover import load_disclosure_rules, load_rules
from services.policy.loading import load_register, load_relations
from services.policy.regions import load_regions
from services.registry import service_specs
from services.runtime.nats_auth import AUTH_CONF_PATH
from services.runtime.partners import PartnerRegistry
from services.signalling.rules import load_rules as signalling_rules
installed = services.__file__.rsplit("/services/", 1)[0]
assert infra.INFRA_DIR.is_relative_to(installed), infra.INFRA_DIR
assert ketenbus_partner.__file__.startswith(installed), ketenbus_partner.__file__
from ketenbus_partner import Keyring, PseudonymClient, connect_partner, publish_signed, read_feed
PartnerRegistry.load(); load_register(); load_relations(); load_regions(); signalling_rules()
load_disclosure_rules(); load_rules(); service_specs(); AUTH_CONF_PATH.read_text()
validate(SAMPLE); list(read_pupils(SAMPLE))
etree.XMLSchema(etree.parse(str(XSD_PATH)))
assert (SAMPLES / "Voorbeelddossier_OV_POVO_full.xml").is_file()
print("found", infra.INFRA_DIR)
"""


UV = Path(sys.executable).parent / "uv"
ENV = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
# The third-party libraries from this environment: a PYTHONPATH entry runs no `.pth` file, so
# this checkout (an editable install) stays out of a fresh environment's path.
LIBRARIES = {**ENV, "PYTHONPATH": sysconfig.get_paths()["purelib"]}

# Run with the partner kit's and the contracts' wheels alone: the kit works without the backbone.
KIT_CHECK = """
import importlib.util, sys
import ketenbus_partner
from ketenbus_partner import attachments, connect, feed, keyring, keys, plan, pseudonyms
from ketenbus_partner import publish, reference
assert not [m for m in sys.modules if m.split(".")[0] in ("services", "adapters", "demo")]
assert importlib.util.find_spec("services.runtime") is None  # no backbone installed here
print("kit", ketenbus_partner.__file__)
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every workspace package built as a wheel, once for the module."""
    out = tmp_path_factory.mktemp("dist")
    build = [str(UV), "build", "--all-packages", "--wheel", "-o", str(out)]
    subprocess.run(build, cwd=ROOT, env=ENV, check=True, capture_output=True)
    return out


def fresh_python(venv: Path, wheels: list[Path]) -> Path:
    """A new environment with these wheels installed (their dependencies from LIBRARIES)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(UV), "pip", "install", "--python", str(python), "--no-deps"]
    subprocess.run([*install, *map(str, wheels)], env=ENV, check=True, capture_output=True)
    return python


def test_the_installed_wheel_finds_infra_schemas_and_samples_without_a_checkout(
    tmp_path: Path, dist: Path
) -> None:
    venv = tmp_path / "venv"
    python = fresh_python(venv, list(dist.glob("*.whl")))

    checked = subprocess.run(
        [str(python), "-c", CHECK], cwd=tmp_path, env=LIBRARIES, capture_output=True, text=True
    )

    assert (0, "") == (checked.returncode, checked.stderr)
    assert str(venv) in checked.stdout


def test_the_partner_kit_installs_with_the_contracts_alone_and_imports_nothing_of_the_backbone(
    tmp_path: Path, dist: Path
) -> None:
    venv = tmp_path / "venv"
    wheels = [*dist.glob("ketenbus_partner-*.whl"), *dist.glob("ketenbus_contracts-*.whl")]
    python = fresh_python(venv, wheels)

    checked = subprocess.run(
        [str(python), "-c", KIT_CHECK], cwd=tmp_path, env=LIBRARIES, capture_output=True,
        text=True,
    )  # fmt: skip

    assert (2, 0, "") == (len(wheels), checked.returncode, checked.stderr)
    assert str(venv) in checked.stdout

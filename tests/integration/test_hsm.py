"""Keys in a PKCS#11 token (SoftHSM, Debian's softhsm2; `make test` installs it where it is
missing and it may), chosen by the settings: kluis's master key, wrapping and unwrapping inside
the token, never extractable, bound to each key's kid, nothing of it in the data dir; and the
pseudonym secret, every pseudonym an HMAC inside the token, the same pseudonyms as the file's
secret it was imported from.

The attacks: reading a key's value out of the token, moving a wrapped key to another kid's
row, a wrong PIN, a label without a key (no new key is made silently).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ketenbus_contracts.pseudonym import MacPseudonymiser, SecretPseudonymiser
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.sealing import make_kid
from services.kluis.keystore import Keystore, MasterKeyError
from services.kluis.master_key import Pkcs11MasterKey, master_key
from services.pseudonym.bootstrap import create_application, pseudonymiser, secret_path
from services.runtime.hsm import TokenError
from services.runtime.secrets import load_or_create_secret
from services.runtime.settings import Settings
from tests.conftest import StartBackbone
from tests.events import signal
from tests.integration.helpers import SCHOOL, child, publish_events, wait_until
from tests.integration.test_kluis import CONCERN, _kluis_ready, outcome, with_keyring

pytestmark = pytest.mark.integration

SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
)
TOKEN, PIN = "ketenbus-kluis", "4711-test"
OPEN_MASTER_KEY = (
    "from services.kluis.master_key import master_key\n"
    "from services.runtime.settings import Settings\n"
    "master_key(Settings())\n"
)


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    token: str
    pin: str


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A SoftHSM token of this module's own. SoftHSM reads its config once per process, so the
    token directory is set before the library is first loaded and stays for the process."""
    module = next((m for m in SOFTHSM_MODULES if m.exists()), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.skip("softhsm2 is not installed (make test installs it where it may)")
    conf = os.environ.get("SOFTHSM2_CONF")
    if conf is None:
        root = tmp_path_factory.mktemp("softhsm")
        (root / "tokens").mkdir()
        conf = str(root / "softhsm2.conf")
        Path(conf).write_text(
            f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
            "log.level = ERROR\n"
        )
        os.environ["SOFTHSM2_CONF"] = conf
    label = f"{TOKEN}-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "so-" + PIN],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": conf},
    )
    yield SoftHsm(module, label, PIN)


def hsm_settings(tmp_path: Path, hsm: SoftHsm, **changes: object) -> Settings:
    given: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "store": "sqlite",
        "nats_auth": "none",
        "kluis_master_key": "pkcs11",
        "pkcs11_module": hsm.module,
        "pkcs11_token": hsm.token,
        "pkcs11_pin": hsm.pin,
    }
    return Settings(**(given | changes))  # type: ignore[arg-type]


def test_the_settings_put_the_master_key_in_the_token_and_nothing_in_the_data_dir(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    settings = hsm_settings(tmp_path, softhsm, kluis_pkcs11_create_key=True)
    keystore = Keystore.open(settings, master_key(settings))
    kid_key = keystore.sealing_key(child(1), Purpose.PLAN, "plan")
    keystore.close()

    # Another kluis (a restart, another host on the same token) opens the same key.
    again = Keystore.open(settings, master_key(hsm_settings(tmp_path, softhsm)))
    assert kid_key == again.key(child(1), Purpose.PLAN, "plan", 1)
    assert "pkcs11:ketenbus-master" == again.master.key_id
    again.close()
    assert not (settings.data_dir / "secrets" / "master.key").exists()


def test_kluis_on_the_hsm_releases_a_signallers_key_wrapped_in_the_token(
    tmp_path: Path, softhsm: SoftHsm, start_backbone: StartBackbone
) -> None:
    settings = hsm_settings(
        tmp_path, softhsm, kluis_pkcs11_key_label="service-master", kluis_pkcs11_create_key=True
    )
    backbone = start_backbone(settings, ["signalling", "kluis"])
    wait_until(lambda: asyncio.run(_kluis_ready(backbone.url, settings.data_dir)), what="kluis")
    kid, event_id = child(21), uuid.uuid4()

    async def seal_it(keyring: Any) -> str:
        sealed = await keyring.seal_sections(
            {Purpose.SIGNALLING: CONCERN}, child=kid, event_id=event_id
        )
        return str(sealed[Purpose.SIGNALLING])

    token = with_keyring(backbone, SCHOOL.partner, seal_it)
    publish_events(backbone.url, [signal(SCHOOL, child=kid)], settings.data_dir)
    opened = wait_until(
        lambda: isinstance(o := outcome(backbone, SCHOOL.partner, token, event_id), dict) and o,
        what="the signaller's key released",
    )

    with sqlite3.connect(settings.store_dir / "kluis-keys.sqlite") as db:
        masters = {row[0] for row in db.execute("SELECT master_key_id FROM kluis_scoped_keys")}
    assert CONCERN == opened
    assert {"pkcs11:service-master"} == masters
    assert not (settings.data_dir / "secrets" / "master.key").exists()


def test_the_master_key_cannot_be_read_out_of_the_token(tmp_path: Path, softhsm: SoftHsm) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    Pkcs11MasterKey(hsm_settings(tmp_path, softhsm), "extract-me", create=True)
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
    with token.open() as session:  # logged in already: the process's login is shared
        key = session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label="extract-me"
        )
        assert (False, True) == (key[Attribute.EXTRACTABLE], key[Attribute.SENSITIVE])
        with pytest.raises(pkcs11.PKCS11Error):
            key[Attribute.VALUE]


def test_a_wrapped_key_moved_to_another_kid_does_not_unwrap(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    master = Pkcs11MasterKey(hsm_settings(tmp_path, softhsm), "bound", create=True)
    kid = make_kid(child(2), Purpose.SUPPORT, "arrangement-1", 1).encode()
    other = make_kid(child(3), Purpose.SUPPORT, "arrangement-1", 1).encode()
    data_key = os.urandom(32)
    wrapped = master.wrap(data_key, aad=kid)

    assert data_key == master.unwrap(wrapped, aad=kid)
    with pytest.raises(MasterKeyError):
        master.unwrap(wrapped, aad=other)


def test_a_kluis_with_a_wrong_pin_opens_nothing(tmp_path: Path, softhsm: SoftHsm) -> None:
    # In a process of its own: a PKCS#11 login is the process's, and this one is logged in.
    settings = hsm_settings(tmp_path, softhsm, pkcs11_pin="0000")
    env = {**os.environ, **settings.to_env()}
    opened = subprocess.run(
        [sys.executable, "-c", OPEN_MASTER_KEY], env=env, capture_output=True, text=True
    )
    assert (1, True) == (opened.returncode, "does not open (PinIncorrect)" in opened.stderr)
    assert "0000" not in opened.stderr


def test_a_label_without_a_key_is_an_error_not_a_new_key(tmp_path: Path, softhsm: SoftHsm) -> None:
    settings = hsm_settings(tmp_path, softhsm, kluis_pkcs11_key_label="typo-master")
    with pytest.raises(MasterKeyError, match="no key 'typo-master' in the token"):
        master_key(settings)


def test_pseudonyms_from_the_token_are_those_of_the_file_secret_it_was_given(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    settings = hsm_settings(
        tmp_path,
        softhsm,
        pseudonym_key_store="pkcs11",
        pseudonym_pkcs11_key_label="pseudonym-imported",
        pseudonym_pkcs11_import=True,
    )
    from_file = SecretPseudonymiser(load_or_create_secret(secret_path(settings.data_dir)))
    imported = pseudonymiser(settings)
    # The next start finds it in the token, without importing again.
    found = pseudonymiser(settings.model_copy(update={"pseudonym_pkcs11_import": False}))

    def three(p: Any) -> tuple[str, str, str]:
        return (p.child("939909169"), p.pupil("99zz", "00042"), p.household("6671 AB 12"))

    assert isinstance(found, MacPseudonymiser)
    assert three(from_file) == three(imported) == three(found)


def test_the_pseudonym_service_runs_on_the_tokens_secret(tmp_path: Path, softhsm: SoftHsm) -> None:
    settings = hsm_settings(
        tmp_path,
        softhsm,
        pseudonym_key_store="pkcs11",
        pseudonym_pkcs11_key_label="pseudonym-new",
        pseudonym_pkcs11_import=True,
    )
    application = create_application(settings)
    try:
        assert isinstance(application.pseudonymiser, MacPseudonymiser)
        assert 32 == len(application.pseudonymiser.child("939909169"))
    finally:
        application.close()
    assert not secret_path(settings.data_dir).exists()


def test_a_missing_pseudonym_secret_is_an_error_not_a_new_one(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    settings = hsm_settings(
        tmp_path, softhsm, pseudonym_key_store="pkcs11", pseudonym_pkcs11_key_label="nowhere"
    )
    with pytest.raises(TokenError, match="no key 'nowhere' in the token"):
        pseudonymiser(settings)

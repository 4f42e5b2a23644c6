"""Every command in the README, run as a subprocess of the installed entry point.

The README's command list is parsed here: a command added to it without a case below fails
`test_every_readme_command_has_a_case`, and a command of the CLI missing from the README fails
`test_the_readme_lists_every_command`. One backbone serves the module: `ketenbus demo` fills a
data directory, then `ketenbus up` runs on it until the module ends (stopped with SIGTERM, as
systemd does, which must remove its url file). Without a backbone, the same commands say so in
one line. No command may print a traceback.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from services.cli import app
from tests.userenv import user_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KETENBUS = Path(sys.executable).parent / "ketenbus"
EXAMPLE = ROOT / "examples" / "signal-registered.json"
SCHOOL = "bs-de-regenboog"


def readme_commands() -> list[list[str]]:
    """The README's `.venv/bin/ketenbus …` lines (words, comment dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        shlex.split(line.split("ketenbus", 1)[1], comments=True)
        for line in text.splitlines()
        if line.startswith(".venv/bin/ketenbus ")
    ]


def command_path(words: list[str]) -> str:
    """`signal register`, `plan show`, `up`: the command a line runs, as the CLI resolves it."""
    group: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word not in getattr(group, "commands", {}):
            break
        path.append(word)
        group = group.commands[word]
    return " ".join(path)


# Subcommands that are another listed command under a second name: the README names the
# group (`handover --help`) or the command they stand for, not each alias.
ALIASES = {
    "handover import-oso": "import oso",
    "handover export-oso": "export oso",
    "truancy import-edexml": "import edexml",
    "truancy import-absences": "import absences",
}


def every_command() -> set[str]:
    """Each top-level command, and each subcommand of a group (an alias as what it stands for,
    a group of aliases only as the group)."""
    root: Any = typer.main.get_command(app)
    found = set()
    for name, command in root.commands.items():
        if not hasattr(command, "commands"):
            found.add(name)
            continue
        subcommands = {f"{name} {sub}" for sub in command.commands}
        found |= {ALIASES.get(path, path) for path in subcommands}
        if subcommands <= set(ALIASES):
            found.add(name)
    return found


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(data_dir: Path, *args: str, stdin: str = "", cwd: Path = ROOT) -> Run:
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [str(KETENBUS), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def one_line(result: Run) -> tuple[int, str]:
    """(exit code, the one error line); fails when stderr holds more than one line."""
    lines = result.err.strip().splitlines()
    assert 1 == len(lines), result.err
    return result.code, lines[0]


@dataclass
class Backbone:
    data_dir: Path
    child: str
    match: str
    handover: str


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backbone]:
    data_dir = tmp_path_factory.mktemp("ketenbus") / "data"
    demo = run(data_dir, "demo", "--data-dir", str(data_dir))
    assert 0 == demo.code, demo.err
    assert [] == [line for line in demo.out.splitlines() if line.startswith("{")]
    child = re.search(r"Matched pupil: ([a-z2-7]{32})", demo.out)
    match = re.search(r"^match ([0-9a-f-]{36}):", demo.out, re.M)
    assert child is not None and match is not None, demo.out
    plan = run(data_dir, "plan", "show", child[1], "--json")
    handover = json.loads(plan.out)["handovers"][0]["handover_id"]

    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(data_dir)
    up = subprocess.Popen(
        [str(KETENBUS), "up"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert up.stdout is not None
    ready = up.stdout.readline()  # blocks until up is up (or has failed)
    assert ready.startswith("ketenbus is up"), (ready, up.stderr.read() if up.stderr else "")
    try:
        yield Backbone(data_dir, child[1], match[1], handover)
    finally:
        up.send_signal(signal.SIGTERM)
        rest, errors = up.communicate(timeout=120)
    assert (0, "stopped (SIGTERM)") == (up.returncode, rest.strip()), errors
    assert not (data_dir / "nats" / "url").exists()


@pytest.fixture
def nothing(tmp_path: Path) -> Path:
    """A data directory without a running backbone."""
    return tmp_path / "empty"


# The README's commands, each against the running backbone ---------------------------------


def case_up(b: Backbone, tmp: Path) -> None:
    # The module's backbone is this `ketenbus up`: started by the fixture, which stops it with
    # SIGTERM and checks that it removed its url file.
    assert (b.data_dir / "nats" / "url").exists()


def case_service(b: Backbone, tmp: Path) -> None:
    unknown = run(b.data_dir, "service", "nosuchservice")
    assert 2 == one_line(unknown)[0]
    assert "unknown service" in unknown.err


def case_demo(b: Backbone, tmp: Path) -> None:
    assert b.child  # the fixture ran it, and checked its story has no log lines


def case_status(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "status")
    assert (0, True) == (result.code, "INBOUND" in result.out)


def case_declare(b: Backbone, tmp: Path) -> None:
    # On the running backbone's server again: declaring is idempotent.
    result = run(b.data_dir, "declare")
    assert (0, "declared the streams (replicas 1)") == (result.code, result.out.strip())


def case_publish(b: Backbone, tmp: Path) -> None:
    first = run(b.data_dir, "publish", "--as", SCHOOL, str(EXAMPLE))
    again = run(b.data_dir, "publish", "--as", SCHOOL, str(EXAMPLE))
    subject = "in.bs-de-regenboog.signalling.signal-registered"
    assert (0, f"published on {subject}") == (first.code, first.out.strip()), first.err
    assert (0, True) == (again.code, again.out.startswith("duplicate:"))


def case_plan_show(b: Backbone, tmp: Path) -> None:
    shown = run(b.data_dir, "plan", "show", b.child, "--as", SCHOOL)
    as_json = run(b.data_dir, "plan", "show", b.child, "--json")
    assert (0, True) == (shown.code, f"as {SCHOOL} sees it" in shown.out)
    assert b.child == json.loads(as_json.out)["child"]
    assert "\x1b" not in shown.out


def case_erase(b: Backbone, tmp: Path) -> None:
    # The real erasure is the module's last test; here what it refuses.
    unasked = run(b.data_dir, "erase", b.child)
    unknown = run(b.data_dir, "erase", "a" * 32, "--yes")
    assert (2, "error: erase cannot be undone: confirm with --yes") == one_line(unasked)
    assert (1, "error: no such child: kluis holds no keys and no erasure for it") == one_line(
        unknown
    )


def case_feed(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "feed", "--as", SCHOOL)
    assert 0 == result.code, result.err


def case_conformance(b: Backbone, tmp: Path) -> None:
    reference = [sys.executable, "-m", "ketenbus_partner.reference"]
    result = run(b.data_dir, "conformance", "--as", SCHOOL, "--", *reference)
    assert (0, True) == (result.code, "conformant: " in result.out), result.out


def started(b: Backbone, *args: str) -> tuple[subprocess.Popen[str], str]:
    """A long-running command in the background, and the first line it printed."""
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(b.data_dir)
    process = subprocess.Popen(
        [str(KETENBUS), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def case_web(b: Backbone, tmp: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web, first = started(b, "web", "--as", "wijkteam-lingewaard", "--port", str(port))
    web.terminate()
    web.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/werklijst" in first
    assert "Usage: ketenbus web [OPTIONS]" in run(b.data_dir, "web", "--help").out


def case_signal_register(b: Backbone, tmp: Path) -> None:
    result = register(b)
    assert (0, True) == (result.code, "published on in.bs-de-regenboog.signalling" in result.out)


def register(b: Backbone) -> Run:
    return run(
        b.data_dir,
        *("signal", "register", "--as", SCHOOL, "--role", "ib-er", "--contact", "ib-er"),
        *("--concern", "sociaal-emotioneel", "--age-band", "4-11", "--child", b.child),
    )


def case_signal_list(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "signal", "list", "--child", b.child)
    assert (0, True) == (result.code, f"signals on {b.child}:" in result.out)


def case_signal_withdraw(b: Backbone, tmp: Path) -> None:
    registered = re.search(r"signal ([0-9a-f-]{36})", register(b).out)
    assert registered is not None
    result = run(
        b.data_dir,
        *("signal", "withdraw", "--as", SCHOOL, "--child", b.child, "--signal", registered[1]),
    )
    assert (0, True) == (result.code, "withdrawal of" in result.out), result.err


def case_signal_contact(b: Backbone, tmp: Path) -> None:
    result = run(
        b.data_dir,
        *("signal", "contact", "--as", SCHOOL, "--child", b.child, "--match", b.match),
    )
    assert (0, "contact published on in.bs-de-regenboog.signalling.contact-made") == (
        result.code,
        result.out.strip(),
    ), result.err


def case_signal_vindplaats(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "signal", "vindplaats", "--kind", "school")
    assert (0, True) == (result.code, "[school]" in result.out)


def case_import_edexml(b: Backbone, tmp: Path) -> None:
    sample = "adapters/edexml/samples/EDEXML.Voorbeeld.2.1.xml"
    result = run(b.data_dir, "import", "edexml", "--as", SCHOOL, sample)
    assert (0, True) == (result.code, "published" in result.out), result.err


def case_import_absences(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "import", "absences", "--as", SCHOOL, "examples/absences.csv")
    assert (0, True) == (result.code, "absence(s)" in result.out), result.err


def case_import_oso(b: Backbone, tmp: Path) -> None:
    sample = "adapters/oso/samples/Voorbeelddossier_OV_POVO_full.xml"
    result = run(b.data_dir, "import", "oso", "--as", SCHOOL, sample)
    # The sample's pupil is not enrolled at the demo school: refused with one line, or taken.
    assert result.code == 0 or one_line(result)[0] in (1, 2), result.err


def case_export_oso(b: Backbone, tmp: Path) -> None:
    out = tmp / "dossier.xml"
    result = run(b.data_dir, "export", "oso", b.handover, "--as", "vo-het-lyceum", "-o", str(out))
    assert (0, 0o600) == (result.code, out.stat().st_mode & 0o777), result.err


def case_handover(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "handover", "--help")
    assert (0, True, True) == (result.code, "import-oso" in result.out, "export-oso" in result.out)


def case_truancy_forward_signals(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "truancy", "forward-signals", "--as", "leerplicht-lingewaard")
    assert 0 == result.code, result.err


def case_arrangements_scheme(b: Backbone, tmp: Path) -> None:
    assert 0 == run(b.data_dir, "arrangements", "scheme").code


def case_arrangements_monitor(b: Backbone, tmp: Path) -> None:
    assert 0 == run(b.data_dir, "arrangements", "monitor").code


def arrangements(b: Backbone, *args: str) -> Run:
    result = run(b.data_dir, "arrangements", *args)
    assert "published" in result.out, result.err
    return result


def case_arrangements_request_support(b: Backbone, tmp: Path) -> None:
    result = arrangements(
        b,
        *("request-support", b.child, "--as", SCHOOL, "--swv", "swv-lingewaard"),
        *("--kind", "extra-ondersteuning-school", "--role", "ib-er"),
    )
    printed = re.search(r"^request [0-9a-f-]{36}$", result.out, re.M) is not None
    assert (0, True) == (result.code, printed)


def case_arrangements_tlv(b: Backbone, tmp: Path) -> None:
    result = arrangements(
        b,
        *("tlv", b.child, "--as", "swv-lingewaard", "--number", "TLV-2026-001"),
        *("--category", "L", "--start", "2026-08-01", "--end", "2027-07-31"),
        *("--school", SCHOOL, "--expert", "orthopedagoog:2026-06-15"),
        *("--expert", "kinderarts:2026-06-20"),
    )
    assert (0, True) == (result.code, "tlv " in result.out)


def case_arrangements_opp(b: Backbone, tmp: Path) -> None:
    result = arrangements(
        b,
        *("opp", b.child, "--as", SCHOOL, "--review", "2027-01-15"),
        *("--goal", "leest op niveau E4", "--hours", "4"),
        *("--consulted-on", "2026-09-20", "--consent", "granted"),
    )
    assert (0, True) == (result.code, "opp " in result.out)


def case_arrangements_handelingsdeel(b: Backbone, tmp: Path) -> None:
    opp = arrangements(b, "opp", b.child, "--as", SCHOOL, "--review", "2027-01-15")
    opp_id = opp.out.strip().splitlines()[-1].split()[-1]
    result = arrangements(b, "handelingsdeel", b.child, opp_id, "--as", SCHOOL)
    assert 0 == result.code, result.err


def aangemeld(b: Backbone) -> str:
    """The id of a new aanmelding of the child at the secondary school."""
    result = arrangements(
        b, "aanmelding", b.child, "--as", "vo-het-lyceum", "--transition", "po-vo"
    )
    printed = re.search(r"^aanmelding ([0-9a-f-]{36})$", result.out, re.M)
    assert (0, True) == (result.code, printed is not None), result.err
    return printed.group(1) if printed else ""


def case_arrangements_aanmelding(b: Backbone, tmp: Path) -> None:
    aangemeld(b)


def case_arrangements_extend(b: Backbone, tmp: Path) -> None:
    result = arrangements(b, "extend", b.child, aangemeld(b), "--as", "vo-het-lyceum")
    assert 0 == result.code, result.err


def case_arrangements_place(b: Backbone, tmp: Path) -> None:
    placed = ("--as", "vo-het-lyceum", "--start", "2027-08-01")
    result = arrangements(b, "place", b.child, aangemeld(b), *placed)
    neither = run(b.data_dir, "arrangements", "place", b.child, aangemeld(b), "--as", SCHOOL)
    assert (0, 2) == (result.code, neither.code), result.err  # 2: bad input


def case_arrangements_youth_care(b: Backbone, tmp: Path) -> None:
    result = arrangements(
        b,
        *("youth-care", b.child, "--as", "wijkteam-lingewaard"),
        *("--provider", "jeugdhulp-de-linde", "--number", "JH-2026-001"),
        *("--start", "2026-09-01", "--end", "2027-08-31"),
    )
    assert (0, True) == (result.code, "youth-care decision " in result.out)


def agreed_and_disputed(b: Backbone) -> tuple[str, str]:
    """(arrangement id, dispute id) of a new arrangement of the child, disputed by the SWV."""
    agreed = arrangements(
        b,
        *("agree", b.child, "--as", SCHOOL, "--kind", "gedrag-op-school"),
        *("--party", "swv-lingewaard|tlv-commissie", "--party", "gemeente-lingewaard|consulent"),
        *("--start", "2026-09-01", "--end", "2027-07-31"),
    )
    arrangement = re.search(r"^arrangement ([0-9a-f-]{36})$", agreed.out, re.M)
    assert arrangement is not None, agreed.out
    disputed = arrangements(
        b,
        *("dispute", b.child, arrangement[1], "--as", "swv-lingewaard"),
        *("--split", "swv=30", "--split", "municipality=70"),
    )
    dispute = re.search(r"^dispute ([0-9a-f-]{36})$", disputed.out, re.M)
    assert dispute is not None, disputed.out
    return arrangement[1], dispute[1]


def case_arrangements_agree(b: Backbone, tmp: Path) -> None:
    agreed_and_disputed(b)


def case_arrangements_dispute(b: Backbone, tmp: Path) -> None:
    agreed_and_disputed(b)


def case_arrangements_decide(b: Backbone, tmp: Path) -> None:
    arrangement, dispute = agreed_and_disputed(b)
    result = arrangements(
        b,
        *("decide", b.child, dispute, arrangement, "--as", "gemeente-lingewaard"),
        *("--split", "swv=30", "--split", "municipality=70"),
    )
    assert 0 == result.code, result.err


def case_arrangements_tandem(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "arrangements", "tandem", SCHOOL)
    assert (0, True) == (result.code, result.out.startswith(f"{SCHOOL}: access team ")), result


def case_arrangements_scenario(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "arrangements", "scenario")
    assert 0 == result.code, result.err


ABONNEMENT = {
    "callbackUrl": "https://wijkteam.example/notificaties",
    "auth": "Bearer geheim",
    "kanalen": [{"naam": "plan"}],
    "partner": "wijkteam-lingewaard",
}


def case_notificaties_abonneer(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "notificaties", "abonneer", json.dumps(ABONNEMENT))
    listed = run(b.data_dir, "notificaties", "abonnementen")
    assert 0 == result.code, result.err
    assert (True, False) == (result.out.strip() in listed.out, "geheim" in listed.out)


def case_notificaties_run(b: Backbone, tmp: Path) -> None:
    bridge, first = started(b, "notificaties", "run")
    bridge.send_signal(signal.SIGINT)
    rest, errors = bridge.communicate(timeout=60)
    assert "notificaties bridge running" in first, errors
    assert (0, "stopping") == (bridge.returncode, rest.strip()), errors


def case_notificaties_fouten(b: Backbone, tmp: Path) -> None:
    assert 0 == run(b.data_dir, "notificaties", "fouten").code


def case_notificaties_opnieuw(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "notificaties", "opnieuw")
    assert (0, True) == (result.code, result.out.strip().endswith("queued again")), result.err


def case_monitor_report(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "monitor", "report", "--quarter", "2026Q4")
    bad = run(b.data_dir, "monitor", "report", "--quarter", "soon")
    assert (0, True) == (result.code, "Thuiszitters monitor 2026Q4" in result.out)
    assert (2, "error: --quarter must look like 2026Q3") == one_line(bad)
    table = run(b.data_dir, "monitor", "report", "--quarter", "2026Q4", "--export",
                str(tmp / "monitor.xlsx"))  # fmt: skip
    assert (0, True) == (table.code, (tmp / "monitor.xlsx").is_file())


def case_monitor_annual(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "monitor", "annual", "--school-year", "2026-2027")
    bad = run(b.data_dir, "monitor", "annual", "--school-year", "2026")
    assert (0, True) == (result.code, "Leerplichtcijfers 2026-2027" in result.out)
    assert (2, "error: --school-year must look like 2026-2027") == one_line(bad)


def case_audit_verify(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "audit", "verify")
    assert 0 == result.code, result.out + result.err


def case_audit_replay(b: Backbone, tmp: Path) -> None:
    out = tmp / "report"
    result = run(b.data_dir, "audit", "replay", "--out", str(out), "--child", b.child)
    written = (out.with_suffix(".json").exists(), out.with_suffix(".md").exists())
    assert (0, (True, True)) == (result.code, written), result.err


def case_audit_export_ldv(b: Backbone, tmp: Path) -> None:
    out = tmp / "ldv.json"
    result = run(b.data_dir, "audit", "export-ldv", "--out", str(out))
    assert (0, True) == (result.code, out.exists()), result.err


def case_audit_nats_config(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "audit", "nats-config", "--check")
    assert 0 == result.code, result.err


def case_notificaties_abonnementen(b: Backbone, tmp: Path) -> None:
    assert 0 == run(b.data_dir, "notificaties", "abonnementen").code


# A signal on a child new to the school: kluis seals its sections (the school holds no key).
REGISTER_NEW_CHILD = (
    *("signal", "register", "--as", SCHOOL, "--role", "ib-er", "--contact", "ib-er"),
    *("--concern", "sociaal-emotioneel", "--age-band", "4-11", "--child", "q" * 32),
)


def case_keys_rotate(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "keys", "rotate", "kluis")
    unknown = run(b.data_dir, "keys", "rotate", "school")
    assert (0, True) == (result.code, result.out.startswith("rotated kluis: current kluis#sig-")), (
        result.err
    )
    assert (2, "error: no signer 'school': one of kluis, feed, pseudonym") == one_line(unknown)
    # The running kluis opens what is sealed to its new key: a first signal sealed by kluis.
    registered = run(b.data_dir, *REGISTER_NEW_CHILD)
    assert 0 == registered.code, registered.err


def case_keys_retire(b: Backbone, tmp: Path) -> None:
    result = run(b.data_dir, "keys", "retire", "kluis")
    assert (0, True) == (
        result.code,
        result.out.startswith("retired the older keys of kluis: current kluis#sig"),
    ), result.err


CASES = {
    "up": case_up,
    "service": case_service,
    "demo": case_demo,
    "status": case_status,
    "declare": case_declare,
    "publish": case_publish,
    "plan show": case_plan_show,
    "erase": case_erase,
    "feed": case_feed,
    "conformance": case_conformance,
    "web": case_web,
    "signal register": case_signal_register,
    "signal list": case_signal_list,
    "signal withdraw": case_signal_withdraw,
    "signal contact": case_signal_contact,
    "signal vindplaats": case_signal_vindplaats,
    "import edexml": case_import_edexml,
    "import absences": case_import_absences,
    "import oso": case_import_oso,
    "export oso": case_export_oso,
    "handover": case_handover,
    "truancy forward-signals": case_truancy_forward_signals,
    "arrangements scheme": case_arrangements_scheme,
    "arrangements monitor": case_arrangements_monitor,
    "arrangements request-support": case_arrangements_request_support,
    "arrangements tlv": case_arrangements_tlv,
    "arrangements opp": case_arrangements_opp,
    "arrangements handelingsdeel": case_arrangements_handelingsdeel,
    "arrangements aanmelding": case_arrangements_aanmelding,
    "arrangements extend": case_arrangements_extend,
    "arrangements place": case_arrangements_place,
    "arrangements youth-care": case_arrangements_youth_care,
    "arrangements agree": case_arrangements_agree,
    "arrangements dispute": case_arrangements_dispute,
    "arrangements decide": case_arrangements_decide,
    "arrangements tandem": case_arrangements_tandem,
    "arrangements scenario": case_arrangements_scenario,
    "monitor report": case_monitor_report,
    "monitor annual": case_monitor_annual,
    "audit verify": case_audit_verify,
    "audit replay": case_audit_replay,
    "audit export-ldv": case_audit_export_ldv,
    "audit nats-config": case_audit_nats_config,
    "keys rotate": case_keys_rotate,
    "keys retire": case_keys_retire,
    "notificaties abonneer": case_notificaties_abonneer,
    "notificaties abonnementen": case_notificaties_abonnementen,
    "notificaties run": case_notificaties_run,
    "notificaties fouten": case_notificaties_fouten,
    "notificaties opnieuw": case_notificaties_opnieuw,
}


def test_every_readme_command_has_a_case() -> None:
    assert [] == [
        " ".join(words) for words in readme_commands() if command_path(words) not in CASES
    ]


def test_the_readme_lists_every_command() -> None:
    # Every subcommand by name: a group named once does not stand for all its subcommands.
    listed = {command_path(words) for words in readme_commands()}
    assert [] == sorted(every_command() - listed)


def test_the_command_list_check_sees_a_subcommand_missing_from_the_readme() -> None:
    listed = {command_path(words) for words in readme_commands()}
    assert {"arrangements tlv", "notificaties run"} <= every_command()
    assert "arrangements tlv" in listed


@pytest.mark.parametrize("command", sorted({command_path(w) for w in readme_commands()}))
def test_the_readme_command_works_on_a_running_backbone(
    command: str, backbone: Backbone, tmp_path: Path
) -> None:
    CASES[command](backbone, tmp_path)


# Without a backbone, and with bad input: one line each ----------------------------------


def test_without_a_backbone_commands_say_so_in_one_line(nothing: Path) -> None:
    publish = run(nothing, "publish", "--as", SCHOOL, str(EXAMPLE))
    feed = run(nothing, "feed", "--as", SCHOOL)
    service = run(nothing, "service", "signalling")
    declare = run(nothing, "declare")
    expected = "error: no running backbone: start `ketenbus up` (or set KETENBUS_NATS_URL) and "
    assert (1, expected + "try again") == one_line(publish)
    assert (1, expected + "try again") == one_line(feed)
    assert (1, expected + "try again") == one_line(declare)
    assert 1 == one_line(service)[0]


def test_a_url_left_by_a_killed_backbone_is_no_running_backbone(nothing: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    (nothing / "nats").mkdir(parents=True)
    (nothing / "nats" / "url").write_text(f"nats://127.0.0.1:{port}")

    result = run(nothing, "publish", "--as", SCHOOL, str(EXAMPLE))

    assert 1 == one_line(result)[0]
    assert "no running backbone" in result.err


def test_bad_input_is_refused_with_one_line_and_exit_code_2(nothing: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"a": "' + b"x" * 20_000_000 + b'"}')
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)

    assert (2, "error: PSEUDONYM is not a pseudonym (32 characters a-z, 2-7)") == one_line(
        run(nothing, "plan", "show", "nosuchchild")
    )
    assert (2, "error: --as: 'nonexistent' is not in the partner registry") == one_line(
        run(nothing, "plan", "show", "a" * 32, "--as", "nonexistent")
    )
    assert (2, "error: PSEUDONYM is not a pseudonym (32 characters a-z, 2-7)") == one_line(
        run(nothing, "erase", "not-a-pseudonym")
    )
    assert (2, "error: --on: not a date (YYYY-MM-DD)") == one_line(
        run(
            nothing,
            *("signal", "register", "--as", SCHOOL, "--role", "r", "--contact", "c"),
            *("--concern", "x", "--child", "a" * 32, "--on", "not-a-date"),
        )
    )
    too_large = one_line(run(nothing, "publish", "--as", SCHOOL, str(big)))
    assert (2, True) == (too_large[0], too_large[1].startswith("error: too-large: the file is"))
    too_deep = one_line(run(nothing, "publish", "--as", SCHOOL, str(deep)))
    assert (2, True) == (too_deep[0], too_deep[1].startswith("error: too-deep:"))


def test_an_invalid_event_names_the_field_and_the_rule_never_the_value(
    backbone: Backbone, tmp_path: Path
) -> None:
    event = json.loads(EXAMPLE.read_text())
    event["id"] = "Jan-Jansen-geheim"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(event))

    code, line = one_line(run(backbone.data_dir, "publish", "--as", SCHOOL, str(bad)))

    assert (2, True, False) == (code, "id:" in line, "Jan-Jansen-geheim" in line)
    assert "input_value" not in line


def test_a_background_up_that_started_with_sigint_ignored_stops_on_sigint(
    tmp_path: Path,
) -> None:
    # A shell starts a background job with SIGINT ignored; `up` must still stop on it.
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(tmp_path / "data")
    up = subprocess.Popen(
        [str(KETENBUS), "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert up.stdout is not None
    ready = up.stdout.readline()
    up.send_signal(signal.SIGINT)
    rest, errors = up.communicate(timeout=120)

    assert (True, 0, "stopped (SIGINT)") == (
        ready.startswith("ketenbus is up"),
        up.returncode,
        rest.strip(),
    ), errors
    assert not (tmp_path / "data" / "nats" / "url").exists()


def test_debug_shows_the_traceback(nothing: Path) -> None:
    env = user_env()
    env["KETENBUS_DATA_DIR"] = str(nothing)
    done = subprocess.run(
        [
            *(str(KETENBUS), "--debug", "signal", "register", "--as", SCHOOL, "--role", "r"),
            *("--contact", "c", "--concern", "x", "--child", "a" * 32, "--on", "not-a-date"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (1, True) == (done.returncode, "Traceback" in done.stderr)


def test_erase_with_yes_destroys_the_keys_and_announces_it_last_in_this_module(
    backbone: Backbone,
) -> None:
    result = run(backbone.data_dir, "erase", backbone.child, "--yes")

    assert (0, True) == (result.code, "announced child-erased" in result.out), result.err

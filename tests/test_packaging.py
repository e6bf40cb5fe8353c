"""The systemd units in packaging/systemd: each ExecStart is a command ``jaga`` accepts, the
store's key arrives as a credential, the hub's secrets from an environment file, and the
services are sandboxed; ``systemd-analyze verify`` passes where it is installed.

A unit naming an option ``jaga`` never had would fail only on the device, at boot, so each
ExecStart is parsed by the real parser (``main.build_parser``) with systemd's placeholders
filled in as systemd fills them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from main import build_parser

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "packaging" / "systemd"
SERVICES = ("jaga-kiosk.service", "jaga-sync.service", "jaga-hub.service", "jaga-hub-purge.service")
DEVICE_SERVICES = ("jaga-kiosk.service", "jaga-sync.service")  # the store and its key
UNIT_FILES = (*SERVICES, "jaga-sync.timer", "jaga-hub-purge.timer")

Unit = dict[str, list[tuple[str, str]]]  # section -> its settings in file order


class UnitCommandError(ValueError):
    """An ExecStart that is not a ``jaga`` command its parser accepts."""


def parse_unit(text: str) -> Unit:
    """Sections and ``Key=value`` settings, keeping repeated keys (systemd's syntax, without
    the line continuations these units do not use)."""
    unit: Unit = {}
    section: list[tuple[str, str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], [])
        elif "=" in line and section is not None:
            key, value = line.split("=", 1)
            section.append((key.strip(), value.strip()))
        else:
            raise ValueError(f"line {number} is no section or setting: {raw!r}")
    return unit


def load_unit(name: str) -> Unit:
    return parse_unit((UNITS / name).read_text(encoding="utf-8"))


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [value for k, value in unit.get(section, []) if k == key]


def setting(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= is set {len(found)} times, not once"
    return found[0]


def environment(unit: Unit) -> dict[str, str]:
    """The variables its Environment= lines set (each may set several, quoted as a shell would)."""
    assignments = [
        word for line in values(unit, "Service", "Environment") for word in shlex.split(line)
    ]
    return dict(assignment.split("=", 1) for assignment in assignments)


def expand(word: str, name: str, unit: Unit) -> str:
    """``word`` as systemd passes it: the unit's directories and specifiers filled in."""
    credentials = f"/run/credentials/{name}"
    state = values(unit, "Service", "StateDirectory")
    filled = {
        "${CREDENTIALS_DIRECTORY}": credentials,
        "%d": credentials,
        "%S": "/var/lib",
        "%C": "/var/cache",
        "%t": "/run",
    }
    if state:
        filled["${STATE_DIRECTORY}"] = f"/var/lib/{state[0]}"
    for placeholder, value in filled.items():
        word = word.replace(placeholder, value)
    if "${" in word or "%" in word:
        raise UnitCommandError(f"{name}: {word!r} holds a placeholder systemd would not fill")
    return word


def jaga_arguments(exec_start: str, name: str, unit: Unit) -> list[str]:
    """The arguments after the ``jaga`` executable (behind a compositor such as cage)."""
    words = [expand(word, name, unit) for word in shlex.split(exec_start)]
    for index, word in enumerate(words):
        if Path(word).name == "jaga":
            return words[index + 1 :]
    raise UnitCommandError(f"{name}: ExecStart runs no jaga: {exec_start!r}")


def without_abbreviations(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` and its subcommands' parsers taking full option names only: an abbreviation
    in a unit works until ``jaga`` gains a second option it abbreviates."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                without_abbreviations(subparser)
    return parser


def parse_jaga(arguments: list[str]) -> argparse.Namespace:
    """``jaga``'s own parser on ``arguments``; its complaint becomes the error's message."""
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):
            return without_abbreviations(build_parser()).parse_args(arguments)
    except SystemExit:
        raise UnitCommandError(f"jaga {shlex.join(arguments)}: {complaint.getvalue()}") from None


def service_command(name: str) -> argparse.Namespace:
    unit = load_unit(name)
    return parse_jaga(jaga_arguments(setting(unit, "Service", "ExecStart"), name, unit))


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("jaga-kiosk.service", ["app"]),
        ("jaga-sync.service", ["sync", "now"]),
        ("jaga-hub.service", ["hub", "run"]),
        ("jaga-hub-purge.service", ["hub", "purge-expired"]),
    ],
)
def test_each_service_runs_a_jaga_command_its_parser_accepts(name: str, command: list[str]) -> None:
    args = service_command(name)
    chosen = [args.command]
    if args.command != "app":
        chosen.append(getattr(args, f"{args.command}_command"))
    assert chosen == command
    assert callable(args.handler)


@pytest.mark.parametrize("option", ["--keyfile", "--key"])  # misspelt; abbreviated
def test_the_check_refuses_an_option_jaga_does_not_take_whole(option: str) -> None:
    unit = load_unit("jaga-sync.service")
    line = f"/opt/jaga/jaga sync now --db /var/lib/jaga/jaga.db {option} /etc/jaga/store.key"
    with pytest.raises(UnitCommandError, match=f"unrecognized arguments: {option} "):
        parse_jaga(jaga_arguments(line, "jaga-sync.service", unit))


def test_the_check_refuses_a_placeholder_systemd_would_not_fill() -> None:
    unit = load_unit("jaga-sync.service")
    with pytest.raises(UnitCommandError, match="STATE_DIR"):
        jaga_arguments("/opt/jaga/jaga sync now --db ${STATE_DIR}/jaga.db", "x.service", unit)


@pytest.mark.parametrize("name", DEVICE_SERVICES)
def test_the_store_is_in_the_state_folder_and_its_key_a_credential(name: str) -> None:
    unit = load_unit(name)
    args = service_command(name)
    credential, source = setting(unit, "Service", "LoadCredential").split(":", 1)
    assert args.db == Path("/var/lib/jaga/jaga.db")
    assert args.key_file == Path(f"/run/credentials/{name}") / credential
    assert source == "/etc/jaga/store.key"
    assert setting(unit, "Service", "StateDirectory") == "jaga"
    settings = "\n".join(value for entries in unit.values() for _, value in entries)
    assert "JAGA_STORE_PASSPHRASE" not in settings  # never a passphrase in the unit
    assert not values(unit, "Service", "EnvironmentFile")
    assert environment(unit)["JAGA_MODELS_DIR"] == "%S/jaga/models"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_sandboxed(name: str) -> None:
    unit = load_unit(name)
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "UMask": "0077",
        "StateDirectoryMode": "0700",
    }
    for key, value in expected.items():
        assert setting(unit, "Service", key) == value, key
    dynamic = values(unit, "Service", "DynamicUser") == ["yes"]
    assert values(unit, "Service", "User") == ["jaga"] or dynamic, "never root"


def test_the_kiosk_user_is_the_one_sysusers_creates() -> None:
    sysusers = (UNITS / "jaga.sysusers").read_text(encoding="utf-8").splitlines()
    users = [line.split()[1] for line in sysusers if line.startswith("u ")]
    for name in DEVICE_SERVICES:
        assert setting(load_unit(name), "Service", "User") in users


def test_the_kiosk_keeps_the_devices_and_memory_qt_needs() -> None:
    unit = load_unit("jaga-kiosk.service")
    assert not values(unit, "Service", "PrivateDevices")  # would hide /dev/dri, input, camera
    assert not values(unit, "Service", "MemoryDenyWriteExecute")  # GPU shader compilers
    assert setting(unit, "Service", "Restart") == "always"  # cage 0.1.4 exits 0 on a crash
    assert (UNITS / f"{setting(unit, 'Service', 'PAMName')}.pam").is_file()
    assert environment(unit)["QT_QPA_PLATFORM"].split(";") == ["wayland", "xcb"]
    assert setting(unit, "Install", "WantedBy") == "graphical.target"


def test_the_kiosk_stops_the_app_first_and_gives_its_shutdown_time() -> None:
    """systemd kills what outlives TimeoutStopSec: the app's shutdown bound fits in it, with
    room for the process to exit. The app is sent SIGTERM before cage, whose own SIGTERM
    would close the display under the app's shutdown."""
    from desktop.app import SHUTDOWN_BOUND_S  # Qt, for this test only

    unit = load_unit("jaga-kiosk.service")
    timeout_s = float(setting(unit, "Service", "TimeoutStopSec").removesuffix("s"))
    assert timeout_s >= SHUTDOWN_BOUND_S + 10
    stop = shlex.split(setting(unit, "Service", "ExecStop"))
    assert stop[:2] == ["/bin/sh", "-c"]
    assert "pkill --signal TERM --parent $$MAINPID --exact jaga" in stop[2]


def test_the_hub_reads_its_secrets_from_an_environment_file() -> None:
    unit = load_unit("jaga-hub.service")
    args = service_command("jaga-hub.service")
    assert setting(unit, "Service", "EnvironmentFile") == "/etc/jaga/hub.env"
    assert "DATABASE_URL" not in environment(unit)
    assert "JAGA_HUB_METRICS_TOKEN" not in environment(unit)
    example = (UNITS / "hub.env.example").read_text(encoding="utf-8")
    assert "\nDATABASE_URL=" in example
    assert "\nJAGA_HUB_METRICS_TOKEN=" in example
    assert "\nJAGA_HUB_ALLOWED_HOSTS=" in example  # `jaga hub run` will not start without it
    assert "\nJAGA_HUB_HTTPS=1\n" in example  # behind the TLS proxy: Secure cookies, HSTS
    assert args.data == Path("/var/lib/jaga-hub")
    assert args.host == "127.0.0.1"  # behind a TLS proxy
    assert setting(unit, "Service", "Restart") == "on-failure"


def test_the_retention_purge_runs_daily_as_the_hub_on_its_data() -> None:
    timer = load_unit("jaga-hub-purge.timer")
    service = load_unit("jaga-hub-purge.service")
    hub = load_unit("jaga-hub.service")
    assert setting(timer, "Timer", "Unit") == "jaga-hub-purge.service"
    assert setting(timer, "Timer", "OnCalendar") == "daily"
    assert setting(timer, "Timer", "Persistent") == "true"  # a day missed runs at boot
    assert setting(timer, "Install", "WantedBy") == "timers.target"
    assert setting(service, "Service", "Type") == "oneshot"
    assert "Install" not in service  # the timer starts it
    # Persistent= fires it at boot: not before NTP set the clock, or the clock check compares
    # the next run with one made on a clock behind (sync.hub.clock_check). A passive target:
    # ordered after, not pulled in (the NTP client does).
    assert "time-sync.target" in setting(service, "Unit", "After").split()
    # The hub's dynamic user (named after its unit), data folder and environment: another
    # user would have systemd chown the running hub's data folder to it.
    assert setting(service, "Service", "User") == "jaga-hub"
    for key in ("DynamicUser", "StateDirectory", "EnvironmentFile"):
        assert setting(service, "Service", key) == setting(hub, "Service", key), key
    assert not values(hub, "Service", "User")
    assert service_command("jaga-hub-purge.service").data == Path("/var/lib/jaga-hub")


def test_the_timer_starts_the_sync_after_each_run_ends() -> None:
    timer = load_unit("jaga-sync.timer")
    service = load_unit("jaga-sync.service")
    assert setting(timer, "Timer", "Unit") == "jaga-sync.service"
    assert values(timer, "Timer", "OnUnitInactiveSec")  # never a second run behind a slow one
    assert setting(timer, "Install", "WantedBy") == "timers.target"
    assert setting(service, "Service", "Type") == "oneshot"
    assert "Install" not in service  # the timer starts it


def verify(units: dict[str, str], folder: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on ``units`` (name -> text), each ExecStart's program
    replaced by a stub: the check wants it to exist, and /opt/jaga is not installed here."""
    stub = folder / "program"
    stub.write_text("#!/bin/sh\n", encoding="utf-8")
    stub.chmod(0o755)
    paths = []
    for name, text in units.items():
        unit = parse_unit(text)
        program = shlex.split(setting(unit, "Service", "ExecStart"))[0] if "Service" in unit else ""
        path = folder / name
        path.write_text(text.replace(program, str(stub)) if program else text, encoding="utf-8")
        paths.append(str(path))
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)


@needs_systemd_analyze
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path: Path) -> None:
    units = {name: (UNITS / name).read_text(encoding="utf-8") for name in UNIT_FILES}
    result = verify(units, tmp_path)
    # A setting systemd cannot parse is only a warning (exit 0): the output must be empty.
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


@needs_systemd_analyze
def test_the_verify_check_catches_a_misspelt_setting(tmp_path: Path) -> None:
    text = (UNITS / "jaga-sync.service").read_text(encoding="utf-8")
    result = verify({"jaga-sync.service": text.replace("ProtectHome=", "ProtectHom=")}, tmp_path)
    assert "Unknown key 'ProtectHom'" in result.stdout + result.stderr


def test_ci_installs_the_debian_packages_the_readme_names() -> None:
    """A fresh CI machine lacks nginx, Xvfb and two libraries of Qt's X11 plugin: without
    them the proxy test and the frozen app's X11 run skip, and the README's claims of what
    was checked go unchecked. CI installs the README's list, no more and no less."""
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    listed = re.search(r"^DEBIAN_PACKAGES=\(([^)]*)\)", ci, re.MULTILINE)
    assert listed, ".ci/run installs no Debian packages"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (line,) = re.findall(
        r"^ {4}apt-get install --no-install-recommends (.+)$", readme, re.MULTILINE
    )
    assert listed.group(1).split() == line.split()
    assert {"nginx-light", "xvfb"} <= set(line.split())


def test_each_hub_command_the_readme_runs_by_hand_runs_as_the_hubs_user() -> None:
    """``systemd-run -p DynamicUser=yes -p StateDirectory=jaga-hub`` without the hub's user
    name runs as a new dynamic user, and systemd hands it the data folder, the running hub's
    embedded database included: the hub can no longer read its own files."""
    readme = (UNITS / "README.md").read_text(encoding="utf-8")
    hub = load_unit("jaga-hub-purge.service")
    runs = [
        shlex.split(line.strip().strip("`").removesuffix("`."))
        for line in readme.splitlines()
        if "systemd-run" in line and "StateDirectory=jaga-hub" in line
    ]
    assert runs, "the README runs no hub command by hand"
    for words in runs:
        properties = [words[i + 1] for i, word in enumerate(words) if word == "-p"]
        assert f"User={setting(hub, 'Service', 'User')}" in properties, shlex.join(words)
        assert "DynamicUser=yes" in properties
        assert f"EnvironmentFile={setting(hub, 'Service', 'EnvironmentFile')}" in properties

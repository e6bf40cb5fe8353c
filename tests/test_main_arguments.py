"""``jaga`` given bytes that are not UTF-8 on its command line (a Latin-1 terminal, or a file
named on one): text is refused before any work, with the argument named; a file name is used
as it is, and the work done under it is reported done."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from main import PATH_VARIABLES, TEXT_VARIABLES, main
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST

REPO = Path(__file__).resolve().parents[1]
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    return path


def latin1(text: bytes) -> str:
    """The argument Python hands ``main`` for these bytes typed on a Latin-1 terminal."""
    return os.fsdecode(text)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["kiosk", "enrol", "p.jpg", "--id", "A1", "--name", latin1(b"Jos\xe9"),
          "--consent-version", "v1", "--operator", "op", "--retain-days", "30"],
         "argument --name: 'Jos\\xe9'"),
        (["kiosk", "enrol", "p.jpg", "--id", "A1", "--name", "Jo", "--consent-version", "v1",
          latin1(b"--operator=op\xe9"), "--retain-days", "30"],
         "argument --operator: 'op\\xe9'"),
        (["store", "confirm", latin1(b"u\xff"), "cod", "--officer", "o"], "argument 'u\\xff'"),
        (["hub", "manage", "createsuperuser", "--username", latin1(b"Jos\xe9")],
         "argument --username: 'Jos\\xe9'"),  # Django's arguments, passed on as they are
    ],
)  # fmt: skip
def test_text_that_is_not_utf8_is_refused_before_the_store_is_opened(
    db: Path, arguments: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a UnicodeEncodeError traceback from SQLite."""
    before = db.read_bytes()
    with pytest.raises(SystemExit) as usage:
        main([*arguments, "--db", str(db)])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert f"{named} is not UTF-8 text" in err
    assert db.read_bytes() == before


def test_a_backup_to_a_file_name_not_in_utf8_is_reported_done_and_audited(
    db: Path, tmp_path: Path
) -> None:
    """It was written, then its audit entry and its "wrote" line failed: exit 1, no entry.
    Run as a process, with stdout strict about UTF-8 as under an en_US.UTF-8 locale."""
    name = b"saved-\xe9t\xe9.db"
    copy = tmp_path / os.fsdecode(name)
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "store", "backup", "--db", str(db),
         str(copy)],
        capture_output=True, timeout=120, check=False,
        env=os.environ | {"PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"wrote " in done.stdout and name in done.stdout  # the name as the file has it
    assert copy.exists()
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        entry = store.audit.entries()[-1]
    assert (entry.action, entry.subject) == ("store.backed_up", "saved-\\xe9t\\xe9.db")


@pytest.mark.parametrize(
    ("variable", "arguments"),
    [
        ("JAGA_STORE_PASSPHRASE", ["store", "info"]),
        ("JAGA_STORE_NEW_PASSPHRASE", ["store", "rekey"]),
        ("JAGA_SYNC_SITE", ["sync", "status"]),
        ("DATABASE_URL", ["store", "info"]),  # the hub's: psycopg's 78-line traceback
    ],
)
def test_an_environment_variable_that_is_not_utf8_is_refused_in_one_line(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, arguments: list[str],
) -> None:  # fmt: skip
    """Set from a Latin-1 terminal (or a unit file written in one), Python hands the value
    over with surrogates: each of these was a UnicodeEncodeError traceback. Refused like
    an argument, naming the variable and never its value (it may be a passphrase)."""
    monkeypatch.setenv(variable, latin1(b"\xe9t\xe9 secret"))
    before = db.read_bytes()
    with pytest.raises(SystemExit) as usage:
        main([*arguments, "--db", str(db)])
    assert usage.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()[-1:]
    assert line == f"jaga: error: ${variable} is not UTF-8 text: set it again in UTF-8"
    assert db.read_bytes() == before


def test_a_store_path_in_the_environment_may_hold_any_bytes(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:  # fmt: skip
    """A file name, as on the command line: used as it is, and printed with its bytes."""
    folder = tmp_path / latin1(b"caf\xe9")
    folder.mkdir()
    for file in tmp_path.glob("jaga.db*"):
        file.rename(folder / file.name)
    monkeypatch.setenv("JAGA_STORE_PATH", str(folder / "jaga.db"))
    assert main(["store", "info"]) == 0
    out = capsysbinary.readouterr().out
    assert b"caf\xe9/jaga.db" in out and b"people       0" in out


@pytest.mark.parametrize(
    "variable",
    ["JAGA_SMOKE_PHOTO", "JAGA_FROZEN_DIR", "JAGA_SCREENSHOT_DIR", "JAGA_UNRELATED_TOOL"],
)
def test_a_variable_jaga_does_not_read_may_hold_any_bytes(
    db: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The packaging scripts' paths (which the frozen jaga inherits), the tests' and another
    tool's: each refused every command."""
    monkeypatch.setenv(variable, latin1(b"/tmp/caf\xe9"))
    assert main(["store", "info", "--db", str(db)]) == 0


def test_the_checked_variables_are_the_ones_the_code_reads() -> None:
    """Every ``JAGA_*`` name in the code jaga runs is a text or a path variable, and no more."""
    named: set[str] = set()
    for folder in ("desktop", "inference", "sync"):
        for source in (REPO / folder).rglob("*.py"):
            named |= set(re.findall(r"JAGA_[A-Z0-9_]+", source.read_text()))
    assert named == (TEXT_VARIABLES - {"DATABASE_URL"}) | PATH_VARIABLES
    assert '"DATABASE_URL"' in (REPO / "sync" / "hub" / "bootstrap.py").read_text()


def test_the_path_variables_are_the_ones_the_code_reads() -> None:
    from inference.fish.features import ENV_CACHE_DIR
    from inference.pack.installed import ENV_MODELS_DIR
    from sync.client.packs import PACKS_DIR_ENV
    from sync.hub.erasure_journal import DATA_DIR_ENV
    from sync.hub.metrics_process import PARENT_ENV
    from sync.store.cli import STORE_PATH_ENV

    named = {ENV_CACHE_DIR, ENV_MODELS_DIR, PACKS_DIR_ENV, PARENT_ENV, STORE_PATH_ENV, DATA_DIR_ENV}
    assert named == PATH_VARIABLES


def test_a_login_name_not_in_utf8_is_audited_as_its_bytes(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$USER names who ran a command in the audit trail; not UTF-8 (a Latin-1 login), the
    backup was written and then a UnicodeEncodeError traceback, unaudited. A login name is
    not the operator's to change: it is written as ``\\xNN``, as a file name is, marked
    ``bytes:`` (no login holds a colon), so that the login ``jos\\xe9``, typed in ASCII,
    is not taken for it."""
    actors = []
    for copy, user in enumerate([latin1(b"jos\xe9"), "jos\\xe9"]):
        monkeypatch.setenv("USER", user)
        assert main(["store", "backup", "--db", str(db), str(tmp_path / f"{copy}.db")]) == 0
        with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
            entry = store.audit.entries()[-1]
        assert entry.action == "store.backed_up"
        actors.append(entry.actor)
    assert actors == ["cli:bytes:jos\\xe9", "cli:jos\\xe9"]

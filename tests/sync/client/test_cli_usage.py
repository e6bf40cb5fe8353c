"""``jaga sync`` as an operator meets it before anything syncs: the variables its ``--help``
names, a ``--hub`` that is no URL (a usage error, exit status 2, before the code is asked
for or the store opened), and a store never registered (the command to run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from main import main
from sync.client.cli_usage import CODE_ENV
from sync.client.cli_usage import PACKS_DIR_ENV as NAMED_PACKS_DIR_ENV
from sync.client.config import (
    DEVICE_ID_ENV,
    FACE_IMAGES_ENV,
    HUB_URL_ENV,
    SITE_ENV,
    TOKEN_ENV,
)
from sync.client.packs import PACKS_DIR_ENV
from sync.store.cli import STORE_PATH_ENV
from sync.store.key_sources import PASSPHRASE_ENV

REPO = Path(__file__).resolve().parents[3]
# Every variable a `jaga sync` command reads.
READ = (STORE_PATH_ENV, PASSPHRASE_ENV, HUB_URL_ENV, SITE_ENV, DEVICE_ID_ENV, TOKEN_ENV,
        FACE_IMAGES_ENV, CODE_ENV, PACKS_DIR_ENV)  # fmt: skip


def jaga(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    kept = {name: value for name, value in os.environ.items() if not name.startswith("JAGA_")}
    return subprocess.run([sys.executable, "-m", "main", *argv], cwd=REPO, env=kept | env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_the_packs_folder_variable_is_named_as_packs_reads_it() -> None:
    assert NAMED_PACKS_DIR_ENV == PACKS_DIR_ENV


@pytest.mark.parametrize("command", [(), ("now",), ("status",), ("register",), ("requeue",)])
def test_help_names_every_variable_sync_reads(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sync", *command, "--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    missing = [name for name in READ if name not in shown]
    assert not missing, shown


@pytest.mark.parametrize(
    "url", ["localhost:8000", "http//x", "hub.example:8000", "ftp://hub", "http://", "http://[::1"]
)
def test_a_hub_that_is_no_url_is_a_usage_error(
    db: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(CODE_ENV, raising=False)  # it is not asked for
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "register", "--hub", url, "--db", str(db)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "error:" in line]
    assert said == [f"jaga sync register: error: argument --hub: the hub URL must be"
                    f" http(s)://host[:port], not {url!r}"], err  # fmt: skip


def test_a_hub_without_its_scheme_is_one_line_from_the_command(tmp_path: Path) -> None:
    """Run as an operator runs it: the store is not even looked for."""
    done = jaga("sync", "register", "--hub", "localhost:8000", "--db", str(tmp_path / "no.db"))
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "error:" in line] == [
        "jaga sync register: error: argument --hub: the hub URL must be http(s)://host[:port],"
        " not 'localhost:8000'"
    ], done.stderr


def test_a_store_never_registered_is_told_what_to_run(db: Path) -> None:
    for command in ("now", "status"):
        done = jaga("sync", command, "--db", str(db),
                    **{PASSPHRASE_ENV: os.environ[PASSPHRASE_ENV]})  # fmt: skip
        assert "run `jaga sync register --hub URL`" in done.stdout + done.stderr, done

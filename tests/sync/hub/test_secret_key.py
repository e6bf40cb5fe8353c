"""The hub's signing key: a bare ``gunicorn sync.hub.wsgi:application`` (a scaled-out
worker, DESIGN) refuses to start without ``JAGA_HUB_SECRET_KEY`` rather than sign with a
public one; commands that sign nothing still run without it. ``jaga hub run`` keeps one in
its data folder, and stops (never hangs) when that key or a worker's boot fails."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync.hub.bootstrap import SecretKeyError, kept_secret_key
from tests.sync.hub.hubkit import REPO, HubProcess, django_admin, free_port


def test_a_bare_gunicorn_without_the_secret_key_refuses_to_start() -> None:
    """The WSGI entry point would sign sessions, CSRF tokens and messages with a key anyone
    can read in this repository."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
            "sync.hub.wsgi:application",
        ],
        env={"PATH": "/usr/bin:/bin", "JAGA_HUB_ALLOWED_HOSTS": "hub.example.org"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "JAGA_HUB_SECRET_KEY" in done.stderr


def test_commands_that_sign_nothing_run_without_the_secret_key(hub_database: str) -> None:
    for command in (["check"], ["makemigrations", "hub", "--check", "--dry-run"]):
        done = django_admin(*command, env={"DATABASE_URL": hub_database})
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_the_kept_key_is_written_whole_once_and_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    key = kept_secret_key(tmp_path)
    assert len(key) >= 50
    assert kept_secret_key(tmp_path) == key
    assert [path.name for path in tmp_path.iterdir()] == ["secret_key"]  # no temporary left
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


@pytest.mark.parametrize("content", ["", " \n"])
def test_an_empty_kept_key_is_refused_by_name_and_never_replaced(
    tmp_path: Path, content: str
) -> None:
    """What a write that failed (a full disk) left: a new key would silently sign out every
    admin and void what the old one signed, so the operator decides."""
    path = tmp_path / "secret_key"
    path.write_text(content)
    with pytest.raises(SecretKeyError, match=re.escape(str(path))):
        kept_secret_key(tmp_path)
    assert path.read_text() == content


def test_jaga_hub_run_with_an_empty_kept_key_exits_saying_which_file(
    hub_database: str, tmp_path: Path
) -> None:
    """It hung before: the master stayed up, listening, while every worker failed to boot,
    and systemd saw the unit active."""
    data = tmp_path / "hub"
    data.mkdir()
    (data / "secret_key").touch(mode=0o600)
    hub = HubProcess(hub_database, data, env={"JAGA_HUB_SECRET_KEY": ""})
    try:
        with pytest.raises(RuntimeError, match="hub exited") as exited:
            hub.start(timeout_s=120)
    finally:
        hub.stop()
    assert hub.process is None or hub.process.returncode != 0
    assert str(data / "secret_key") in str(exited.value)


def _with_an_empty_kept_key(
    hub_database: str, data: Path, *command: str
) -> subprocess.CompletedProcess[str]:
    """``jaga hub COMMAND --data DATA ...`` whose kept key is empty, as a full disk left it."""
    data.mkdir()
    (data / "secret_key").touch(mode=0o600)
    env = {k: v for k, v in os.environ.items() if k != "JAGA_HUB_SECRET_KEY"}
    name, *rest = command
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", name, "--data", str(data), *rest],
        env={**env, "DATABASE_URL": hub_database},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def test_the_daily_retention_purge_runs_with_an_empty_kept_key(
    hub_database: str, tmp_path: Path
) -> None:
    """It signs nothing: refusing it for the key would stop consent-retention erasures every
    day until someone acts; it warns, naming the file, and erases on time."""
    data = tmp_path / "hub"
    done = _with_an_empty_kept_key(hub_database, data, "purge-expired")
    assert done.returncode == 0, done.stderr
    assert "past their retention date" in done.stdout
    assert str(data / "secret_key") in done.stderr
    assert (data / "secret_key").read_text() == ""  # never replaced unasked


def test_jaga_hub_manage_refuses_an_empty_kept_key_as_jaga_hub_run_does(
    hub_database: str, tmp_path: Path
) -> None:
    """It passes any Django command through, a server among them (``runserver`` served the
    admin, signing with a throwaway key)."""
    data = tmp_path / "hub"
    done = _with_an_empty_kept_key(hub_database, data, "manage", "check")
    assert done.returncode != 0
    assert str(data / "secret_key") in done.stderr


WORKER_THAT_CANNOT_BOOT = """
import sys

import main  # noqa: F401 - the jaga CLI's imports (onnxruntime among them), as `jaga hub run`
from sync.hub.bootstrap import setup_django
from sync.hub.server import ServeOptions, serve

setup_django()
sys.exit(serve(ServeOptions(port=int(sys.argv[1]), workers=1)))
"""


def test_a_worker_that_fails_to_boot_stops_the_hub_with_an_error() -> None:
    """gunicorn halts when a worker exits with its boot error; a worker that never got to
    exit (the master's inherited exit handlers hung it) left the hub up, serving nothing."""
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_THAT_CANNOT_BOOT, str(free_port())],
        env={**os.environ, "JAGA_HUB_SECRET_KEY": "", "JAGA_HUB_ALLOWED_HOSTS": "hub.example.org"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 3, output  # gunicorn's "worker failed to boot"
    assert "JAGA_HUB_SECRET_KEY" in output

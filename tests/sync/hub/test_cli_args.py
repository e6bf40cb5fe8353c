"""``jaga hub`` arguments checked when the command line is read, in one line each (argparse's
exit status 2), before a database starts: the site slug, the data folder, the port. And
what a hub command says when the embedded PostgreSQL cannot start, or when another
``jaga hub run`` already serves the data folder."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from sync.filelock import HeldLock
from sync.hub.bootstrap import DATABASE_NAME
from sync.hub.cli import register
from sync.hub.embedded import EmbeddedPostgres
from tests.sync.hub.hubfixtures import DATABASE, SERVER
from tests.sync.hub.hubkit import REPO, HubProcess, free_port


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jaga")
    register(parser.add_subparsers())
    return parser.parse_args(["hub", *argv])


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        _parse(*argv)
    assert exit_.value.code == 2
    said: str = capsys.readouterr().err
    assert "Traceback" not in said
    return said


@pytest.mark.parametrize("slug", ["Bad Site", "", "-x", "Upper", "good\n", "a" * 64])
def test_a_site_slug_devices_cannot_carry_is_refused(
    capsys: pytest.CaptureFixture[str], slug: str
) -> None:
    """Such a device could never register (the hub's answer names its site), and its first
    try spent its one-time code."""
    for command in ("create-device --name n", "export-corrections --out x"):
        said = _refused(capsys, *command.split(), f"--site={slug}")
        assert "not a site slug" in said and "lower-case letters" in said


def test_a_relative_data_folder_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL runs in its data folder: a relative socket folder was looked up from
    there, and pg_ctl failed."""
    monkeypatch.chdir(tmp_path)
    args = _parse("create-device", "--data", "rel", "--site", "s", "--name", "n")
    assert args.data == tmp_path / "rel"


def test_a_data_folder_that_cannot_be_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    for data, why in (("afile", "not a folder"), ("afile/below", "is not a folder")):
        said = _refused(capsys, "run", "--data", str(tmp_path / data))
        assert f"--data: cannot use {tmp_path / data}" in said and why in said
    assert _parse("run", "--data", str(tmp_path / "new" / "deeper")).data.is_absolute()


def test_a_data_folder_not_named_in_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``jaga hub manage --data`` (any hub command) with such a folder (a Latin-1 terminal) was
    a UnicodeEncodeError traceback: the embedded PostgreSQL's socket folder is named in the
    database URL, which is UTF-8 text."""
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/hub-\xe9")
    for command in (["manage", "--data", folder, "check"], ["run", "--data", folder]):
        said = _refused(capsys, *command)
        assert "--data: cannot use" in said and "hub-\\xe9" in said and "not UTF-8" in said
    assert not Path(folder).exists()


def test_a_default_data_folder_not_named_in_utf8_is_one_line_and_starts_nothing(
    tmp_path: Path,
) -> None:
    """The default folder (platformdirs, from $HOME or XDG_DATA_HOME) was used unchecked: a
    UnicodeEncodeError traceback, and from a shell the embedded PostgreSQL it had started
    was left running."""
    home = tmp_path / "caf\udce9"  # a Latin-1 name
    home.mkdir()
    done = _jaga_hub(home, "manage", "check")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("jaga: error: cannot use") and "caf\\xe9" in last, last
    assert "not UTF-8" in last
    assert not any(home.rglob("postgres"))  # nothing started there


@pytest.mark.parametrize("name", ["hub$HOME", "hub`id`", 'hub"x', "hub\\x"])
def test_a_data_folder_whose_path_a_shell_would_expand_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """pg_ctl starts PostgreSQL through /bin/sh with the data folder in double quotes: a `$`
    in its path (``/srv/hub$1``) was expanded, PostgreSQL never started, and the error named a
    log that was never written."""
    folder = tmp_path / name
    for command in (["manage", "--data", str(folder), "check"], ["run", "--data", str(folder)]):
        said = _refused(capsys, *command)
        assert "--data: cannot use" in said and "shell" in said, said
    assert not folder.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_a_read_only_data_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    for data in (locked, locked / "hub"):
        assert "cannot write in" in _refused(capsys, "run", "--data", str(data))


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "http"])
def test_a_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str], port: str) -> None:
    said = _refused(capsys, "run", "--port", port)
    assert "--port" in said and "1 to 65535" in said


def test_ports_in_range_are_taken() -> None:
    assert _parse("run", "--port", "65535").port == 65535
    assert _parse("run", "--port", "1").port == 1


def _jaga_hub(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``jaga hub ARGS`` as its own process: with no ``DATABASE_URL`` unless ``env`` names
    one (so an embedded PostgreSQL is used)."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "JAGA_HUB_ALLOWED_HOSTS": "127.0.0.1"}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp,
    )


def test_an_embedded_postgresql_that_does_not_start_is_one_line_naming_its_log(
    tmp_path: Path,
) -> None:
    """Not a pg_ctl traceback: the operator is pointed at the server's log."""
    cluster = tmp_path / "hub" / "postgres"
    cluster.mkdir(parents=True)
    (cluster / "PG_VERSION").write_text("18\n")  # a data folder PostgreSQL cannot use
    done = _jaga_hub(tmp_path, "create-device", "--data", "hub", "--site", "s", "--name", "n")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("jaga: error: the embedded PostgreSQL did not start")
    assert str(cluster / "server.log") in last


def test_a_database_that_does_not_answer_is_one_line_naming_its_host(tmp_path: Path) -> None:
    """migrate in prepare raised Django's OperationalError: 99 lines, two tracebacks."""
    url = "postgresql://jaga:s3cret-pw@127.0.0.1:1/jaga"
    done = _jaga_hub(tmp_path, "manage", "check", "--data", "hub", DATABASE_URL=url)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("jaga: error: the hub's database at 127.0.0.1:1 does not answer")
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_a_second_hub_run_on_the_same_data_folder_refuses_and_the_first_serves_on(
    hub_database: str, tmp_path: Path
) -> None:
    """The second one adopted the first's embedded PostgreSQL, failed to bind the port, and
    stopped that PostgreSQL on its way out: the first answered 503 from then on."""
    first = HubProcess(hub_database, tmp_path / "hub")
    first.start()
    try:
        second = _jaga_hub(tmp_path, "run", "--data", str(first.data_dir), "--port",
                           str(free_port()), DATABASE_URL=hub_database)  # fmt: skip
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        said = second.stderr.strip().splitlines()
        assert len(said) == 1 and "another `jaga hub run` serves" in said[0], second.stderr
        assert str(first.data_dir) in said[0]
        assert httpx.get(f"{first.url}/api/v1/status", timeout=10).status_code == 200
    finally:
        first.stop()


def test_a_command_leaves_the_postgresql_it_started_to_a_hub_run_that_adopted_it(
    tmp_path: Path,
) -> None:
    """``create-device`` started the embedded PostgreSQL, a ``jaga hub run`` starting
    meanwhile adopted it, and ``create-device`` stopped it on its way out: the hub lost its
    database. (The session's server stands in for the embedded one.)"""
    from django.db import connections

    from sync.hub.bootstrap import RUN_LOCK_FILE, HubEnvironment

    hub_run = HeldLock(tmp_path / RUN_LOCK_FILE)
    assert hub_run.take(exclusive=True)
    command = HubEnvironment(tmp_path, SERVER.url(DATABASE), SERVER, started_server=True)
    try:
        command.stop()
        assert SERVER.running()
    finally:
        hub_run.release()
        if not SERVER.running():  # for the tests after this one
            connections.close_all()
            SERVER.start()


def test_a_command_stopped_while_it_migrates_leaves_no_postgresql_running() -> None:
    """SIGTERM to ``purge-expired`` while it migrated (an index build waits behind a
    pg_dump there) exited 143 and left the embedded PostgreSQL it had started running."""
    # Not under pytest's folder: another pytest session run meanwhile makes its parent
    # private again, and the embedded PostgreSQL's own user could then not reach its files.
    with tempfile.TemporaryDirectory(prefix="jaga-stopped-") as scratch:
        _stop_a_purge_while_it_migrates(Path(scratch))


def _stop_a_purge_while_it_migrates(home: Path) -> None:
    server = EmbeddedPostgres(home / "hub" / "postgres")
    server.start()  # a hub's folder (the purge refuses one that holds none), not migrated
    server.stop()
    command = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "hub", "purge-expired", "--data", "hub"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Held until the signal is sent: the command cannot record (or finish) its next
        # migration meanwhile, so it is stopped mid-way, not after (an unloaded machine ran
        # every migration between the count and the signal, and the purge exited 0).
        with _migrations_begun(server, command) as held:
            assert held, "it never began migrating"
            command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=60) == 143
        assert not server.running() and not (server.data_dir / "postmaster.pid").exists()
    finally:
        command.kill()
        command.communicate()  # closes its stderr pipe (an unclosed file warned a later test)
        server.stop()


@contextlib.contextmanager
def _migrations_begun(server: EmbeddedPostgres, command: subprocess.Popen[bytes]) -> Iterator[bool]:
    """True once the command has applied 3 migrations, holding ``django_migrations`` locked
    while the caller acts: the next migration waits to record itself, as one waits behind a
    pg_dump in the field."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and command.poll() is None:
        try:
            connecting = psycopg.connect(server.url(DATABASE_NAME), connect_timeout=2)
            with connecting as connection, connection.transaction():
                connection.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
                row = connection.execute("SELECT count(*) FROM django_migrations").fetchone()
                if row is not None and row[0] >= 3:
                    yield True
                    return
        except psycopg.Error:
            pass
        time.sleep(0.05)
    yield False


def test_manage_takes_data_after_the_django_command_too(hub_database: str, tmp_path: Path) -> None:
    """``jaga hub manage createsuperuser --data DIR`` (the order Django's own commands read)
    handed ``--data DIR`` to Django, whose parser took it for ``--database`` and refused the
    folder, after the default data folder's PostgreSQL had started."""
    done = _jaga_hub(tmp_path, "manage", "check", "--data", "hub", DATABASE_URL=hub_database)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hub" / "secret_key").is_file()  # the hub's data folder is the one named
    assert not (tmp_path / ".local").exists()  # and the default one was never touched

    twice = _jaga_hub(tmp_path, "manage", "--data", "a", "check", "--data=b",
                      DATABASE_URL=hub_database)  # fmt: skip
    assert twice.returncode == 2
    assert twice.stderr.strip() == "jaga hub manage: error: argument --data: given twice"


def test_manage_leaves_what_follows_a_double_dash_and_refuses_odd_data() -> None:
    """A review found ``dbshell -- --data x`` (the client's own words) taken as the hub's
    folder, ``--data a --data b`` after the name read as b, and ``--data --database=x`` as a
    folder named ``--database=x``."""
    from sync.hub.cli_manage import _data_among

    assert _data_among(None, ["dbshell", "--", "--data", "x"]) == (
        None,
        ["dbshell", "--", "--data", "x"],
    )
    for odd in (["check", "--data", "a", "--data", "b"], ["check", "--data", "--database=x"]):
        with pytest.raises(argparse.ArgumentTypeError):
            _data_among(None, odd)


def test_a_port_another_process_listens_on_is_one_line_before_anything_is_announced(
    hub_database: str, tmp_path: Path
) -> None:
    """The hub printed its address (the other process's), then gunicorn's "Connection in
    use" lines for 5 s, then exited 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = _jaga_hub(tmp_path, "run", "--data", "hub", "--port", str(port),
                         DATABASE_URL=hub_database)  # fmt: skip
    assert done.returncode == 1
    assert "http://" not in done.stdout + done.stderr
    said = done.stderr.strip().splitlines()
    assert len(said) == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: another process listens there" in said[0]

"""The embedded PostgreSQL (``sync.hub.embedded``) in a folder of its own, started and
stopped for real: a stale pid file after a power loss, a folder whose path has a space, two
commands starting it at once, a server that never takes a connection."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.hub import embedded
from sync.hub.embedded import EmbeddedPostgres, EmbeddedPostgresError


@contextlib.contextmanager
def _new_cluster(folder: str) -> Iterator[EmbeddedPostgres]:
    """A new cluster in ``folder`` of a new folder, started once and stopped. Not under
    pytest's tmp_path, which other runs may make 0700 (the server's user then cannot enter)."""
    root = Path(tempfile.mkdtemp(prefix="jaga-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / folder / "postgres")
    try:
        assert server.start()
        server.stop()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedPostgres]:
    with _new_cluster("hub") as server:
        yield server


@pytest.fixture
def stopped(cluster: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    cluster.stop()
    yield cluster
    cluster.stop()


def test_a_folder_whose_path_has_a_space_starts() -> None:
    """pg_ctl's options went to a shell unquoted: "jaga hub" never started."""
    with _new_cluster("jaga hub") as server:
        assert " " in str(server.socket_dir)
        assert server.start()
        server.create_database("spaced")


def test_a_pid_file_naming_another_live_process_is_not_a_running_server(
    stopped: EmbeddedPostgres,
) -> None:
    """After a power loss the pid file names a PID that a process of the reboot took: the
    hub adopted a server that was not there and failed on every start."""
    other = subprocess.Popen(["sleep", "600"])
    try:
        (stopped.data_dir / "postmaster.pid").write_text(f"{other.pid}\n{stopped.data_dir}\n")
        assert not stopped.running()
        assert stopped.start()
        stopped.create_database("after_reboot")
    finally:
        other.kill()
        other.wait()


def test_a_pid_file_naming_a_program_of_the_servers_user_in_its_folder_is_no_server(
    stopped: EmbeddedPostgres,
) -> None:
    """A stale pid file naming a live program of the server's user whose working folder is
    the data folder (an operator's `tail -f server.log` run there) was trusted by its cwd
    alone: stop() ran pg_ctl stop, which interrupted that program, then waited 60 s and
    raised (review s18b). It is no postmaster: stop() leaves it be, start() starts."""
    user = embedded.SYSTEM_USER if os.geteuid() == 0 else None
    tail = subprocess.Popen(["sleep", "600"], cwd=stopped.data_dir, user=user)
    try:
        (stopped.data_dir / "postmaster.pid").write_text(f"{tail.pid}\n{stopped.data_dir}\n")
        # What stop() and start() go by, asserted before pg_ctl stop's 60 s wait.
        assert stopped._is_this_folders_server() is False
        stopped.stop()
        assert tail.poll() is None  # not interrupted
        assert stopped.start(timeout_s=20)
        stopped.create_database("beside_a_tail")
        assert tail.poll() is None
    finally:
        tail.kill()
        tail.wait()


def test_a_pid_file_naming_another_clusters_live_postgres_is_stale(
    stopped: EmbeddedPostgres,
) -> None:
    """After a reboot the pid file names the postmaster of another cluster on the machine
    (comm 'postgres'): it was kept, pg_ctl refused, and every start waited out its timeout."""
    with _new_cluster("other") as other:
        assert other.start()
        (stopped.data_dir / "postmaster.pid").write_text(
            (other.data_dir / "postmaster.pid").read_text()
        )
        assert not stopped.running()
        assert stopped.start(timeout_s=20)
        stopped.create_database("beside_another")
        assert other.running()


def test_a_path_short_in_letters_but_long_in_bytes_gets_a_short_socket_folder() -> None:
    """sun_path holds 108 bytes: a folder of non-ASCII letters that fits in characters did
    not, and the server could not make its socket."""
    root = Path(tempfile.mkdtemp(prefix="jaga-pg-"))
    stem = len(str(root / "x" / "postgres" / ".s.PGSQL.5432")) - 1
    server = EmbeddedPostgres(root / ("\u00fc" * (100 - stem)) / "postgres")
    try:
        assert len(str(server.data_dir / ".s.PGSQL.5432")) == 100
        assert server.socket_dir != server.data_dir
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_server_that_does_not_answer_is_one_error_naming_the_folder(
    stopped: EmbeddedPostgres,
) -> None:
    with pytest.raises(EmbeddedPostgresError, match="does not answer") as error:
        stopped.create_database("nothing")
    assert str(stopped.data_dir) in str(error.value)


def test_commands_starting_a_stopped_server_at_once_all_get_it(
    stopped: EmbeddedPostgres,
) -> None:
    """The losers failed with a traceback, or quoted the winner's "ready to accept
    connections" as their failure."""
    started: list[bool] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            started.append(stopped.start())
            stopped.create_database("raced")
        except Exception as error:  # reported below, with the others
            failed.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert started.count(True) == 1


class _FakeClock:
    """``time`` for ``sync.hub.embedded``: its sleeps pass at once, and count."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def standby() -> Iterator[EmbeddedPostgres]:
    """A cluster of its own that starts as a standby with hot standby off: its postmaster
    runs and its socket is there, but it never takes a connection."""
    with _new_cluster("standby") as server:
        (server.data_dir / "standby.signal").touch()
        with (server.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("hot_standby = off\n")
        if os.geteuid() == 0:  # the server's user must read what root wrote
            owner = server.data_dir.stat()
            os.chown(server.data_dir / "standby.signal", owner.st_uid, owner.st_gid)
        yield server


def test_a_start_that_never_takes_connections_fails_within_its_timeout(
    standby: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start waited out its timeout for its own server, then once more as if another
    command's start had won: twice the timeout before the one-line error."""
    clock = _FakeClock()
    monkeypatch.setattr(embedded, "time", clock)
    with pytest.raises(EmbeddedPostgresError, match="did not start"):
        standby.start(timeout_s=5)
    assert clock.now <= 5


def test_stop_stops_the_folders_postmaster_when_its_socket_does_not_answer(
    standby: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() acted only when the socket took a connection: a postmaster still starting,
    or whose socket a /tmp cleaner removed, ran on."""
    monkeypatch.setattr(embedded, "time", _FakeClock())
    with contextlib.suppress(EmbeddedPostgresError):
        standby.start(timeout_s=1)
    assert (standby.data_dir / "postmaster.pid").exists()
    (standby.socket_dir / f".s.PGSQL.{embedded.PORT}").unlink()
    standby.stop()
    assert not (standby.data_dir / "postmaster.pid").exists()  # the postmaster's last act

"""The embedded PostgreSQL (``sync.hub.embedded``) in a folder of its own, started and
stopped for real: a stale pid file after a power loss, a folder whose path has a space, two
commands starting it at once."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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

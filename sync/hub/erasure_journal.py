"""The hub's erasure journal: one line per erasure, in the data folder, outside the database.

The database alone forgets an erasure when it is restored from a backup taken before it: the
person is back, matched by search, in the admin, and handed to every device that pulls the
site from the start after the restore (the epoch renewal has them all do so). So every
erasure the hub applies (``sync.hub.apply.erase.erase``: a device's tombstone, the admin, the
daily consent purge, a badge taken from someone past retention) also appends a line here:
the person's uid, their site's slug, when, what erased them (``ErasureKind``) and which hub
(``hub_identity``: the ``hub-id`` file beside the journal), never the reason typed (free
text, which may name whoever asked).
``sync.hub.erasure_replay`` applies again, through the same erasure, every journaled person
the database holds live.

A line is appended once the erasure's transaction commits (``transaction.on_commit``): a
rolled-back one is not journaled. An erasure that commits but whose line cannot be written
(a full disk, a folder made read-only) still stands: the push, the purge or the admin's
action is not failed after the fact; the failure is logged and counted
(``jaga_hub_erasure_journal_failures`` in ``/metrics``, for the workers' erasures); the
person's row is not marked journaled (``Person.journaled_at``, set once the line is
written), so the catch-up of the next start, ``renew-log-epoch`` or daily purge writes it
(``sync.hub.erasure_catchup``): until then that erasure alone would not survive a restore.
A ``jaga hub`` command that erases (the daily purge) is a process no scrape reads: it
collects the uids it could not journal (``unjournaled_erasures``), lists them and fails
when its catch-up cannot write them either. Each append holds the file's ``flock``
(every gunicorn worker and ``jaga hub`` command appends to the same file), writes the one
line with ``O_APPEND`` and syncs it to disk before the lock goes; a line a crash left torn
is ended first, so it never runs into the next one, and is skipped, counted, when read.

The journal is read as a stream (``JournalReading``), a line at a time, so a long one costs
no memory at a start; only a regular file is read (a named pipe at its path would wait for
a writer for ever), and a line of the wrong shape (not an object, a field not a string, a
hub not 16 lower hex digits, a uid or time that does not parse, longer than any line
written) is skipped and counted.

The journal is where ``jaga hub run`` keeps its data (``DATA_DIR_ENV``, which
``sync.hub.bootstrap.prepare`` sets for the process and its workers); a hub started
otherwise journals nothing, and says so once.

A line, the hub it names and the reading of lines back are in ``sync.hub.erasure_lines``;
which hubs' lines a replay takes as this hub's own in ``sync.hub.erasure_hubs``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from django.db import transaction

from sync.durable import PRIVATE_FILE, fsync_path, give_folder_owner, replace_private
from sync.errors import SyncError
from sync.hub.erasure_hubs import ACCEPTED_FILE, accept_hubs, accepted_hubs, own_identities
from sync.hub.erasure_lines import (
    HUB_ID_FILE,
    JOURNAL_FILE,
    THROWAWAY_KEY_ENV,
    ErasureKind,
    Journal,
    JournaledErasure,
    JournalFileError,
    JournalNotAFileError,
    JournalReading,
    hub_identity,
    key_identity,
    read_journal,
)
from sync.regular_file import read_small_file

# What other modules and the tests import from here: the appending's own names, and those of
# the lines and the hub they name (``sync.hub.erasure_lines``) and of the hubs a replay takes
# as this one (``sync.hub.erasure_hubs``) that lived here before they moved.
__all__ = [
    "ACCEPTED_FILE",
    "DATA_DIR_ENV",
    "HUB_ID_FILE",
    "JOURNAL_FILE",
    "REPLAY_COUNTS",
    "REPLAY_FILE",
    "THROWAWAY_KEY_ENV",
    "ErasureKind",
    "Journal",
    "JournalFileError",
    "JournalNotAFileError",
    "JournalReading",
    "JournaledErasure",
    "accept_hubs",
    "accepted_hubs",
    "append",
    "hub_identity",
    "journal_on_commit",
    "journal_path",
    "journal_writable",
    "key_identity",
    "last_replay",
    "own_identities",
    "read_journal",
    "record_replay",
    "unjournaled_erasures",
]

REPLAY_FILE = "erasure-replay.json"  # what the last replay did, for /metrics (record_replay)
DATA_DIR_ENV = "JAGA_HUB_DATA_DIR"  # the hub's data folder, set by ``prepare``
_log = logging.getLogger(__name__)
_APPEND = os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
_said_off: list[bool] = []  # whether "no data folder: not journaled" was logged
_MAX_RECORD = 4096  # a replay record is under 200 bytes
_unjournaled: list[list[UUID]] = []  # while a command collects them (unjournaled_erasures)


def journal_path() -> Path | None:
    """The journal of the hub's data folder, or None when this process was not started by a
    ``jaga hub`` command (no data folder)."""
    data = os.environ.get(DATA_DIR_ENV, "")
    return Path(data) / JOURNAL_FILE if data else None


def journal_on_commit(erasure: JournaledErasure) -> None:
    """Append ``erasure`` once the transaction it was made in commits, then mark the person
    journaled; nothing if it rolls back. A failure is logged and counted, never raised (the
    erasure stands, unmarked: the next catch-up journals it)."""
    transaction.on_commit(lambda: _append_or_count(erasure))


def _append_or_count(erasure: JournaledErasure) -> None:
    path = journal_path()
    if path is None:
        if not _said_off:
            _said_off.append(True)
            _log.warning("no hub data folder (%s): erasures are not journaled", DATA_DIR_ENV)
        return
    try:
        append(path, erasure.line(path.parent))
    except (OSError, JournalNotAFileError, JournalFileError) as error:
        _lost(erasure, path, error)
        return
    from sync.hub.erasure_catchup import mark_journaled  # it reads the models: not at import

    mark_journaled([erasure.person_uid])


def _lost(erasure: JournaledErasure, path: Path, error: Exception) -> None:
    _log.error(
        "could not journal the erasure of person %s (site %s) in %s: %s; it stands, and is"
        " journaled at the next start of the hub (or `jaga hub renew-log-epoch`); a restore"
        " of the database from a backup older than it before then would bring them back",
        erasure.person_uid, erasure.site, path, error,
    )  # fmt: skip
    _count_failure()
    for collected in _unjournaled:
        collected.append(erasure.person_uid)


@contextmanager
def unjournaled_erasures() -> Iterator[list[UUID]]:
    """The uids of the erasures committed while in the block whose line could not be
    written: a command, whose count no ``/metrics`` scrape reads, lists them and fails."""
    collected: list[UUID] = []
    _unjournaled.append(collected)
    try:
        yield collected
    finally:
        _unjournaled.remove(collected)


def _count_failure() -> None:
    try:
        from sync.hub.metrics import hub_metrics

        hub_metrics().journal_failures.inc()
    except Exception:  # a metrics problem must not hide the one logged above
        _log.exception("counting a journal failure failed")


def append(path: Path, line: bytes) -> None:
    """Append ``line`` (whole lines, each ending in a newline) to the journal at ``path``,
    made 0600 if new (given the data folder's owner when made by root: a command run by
    hand as root must not lock the hub's user out, ``give_folder_owner``), under its
    ``flock``, synced before the lock goes. OSError when it cannot."""
    new = not path.exists()
    fd = os.open(path, _APPEND | os.O_RDWR, PRIVATE_FILE)
    try:
        if new:
            give_folder_owner(fd, path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a line a crash left torn: end it, skipped when read
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # lets the lock go
    if new:
        fsync_path(path.parent)  # the file's name survives a power cut too


def journal_writable(path: Path) -> bool:
    """Whether the journal at ``path`` can be opened to append (made, empty, if new)."""
    try:
        os.close(os.open(path, _APPEND | os.O_WRONLY, PRIVATE_FILE))
    except OSError:
        return False
    return True


REPLAY_COUNTS = ("applied", "unreadable", "other_hub", "no_site")


def record_replay(data: Path, counts: dict[str, int] | None) -> None:
    """Keep in the data folder ``data`` what the last replay of its journal did (the lines
    of each of ``REPLAY_COUNTS``; None: the journal could not be read) and when, for the
    ``/metrics`` of the hub's workers, which did not run it (``last_replay``). Replaced
    whole (a synced temporary file renamed over it). A failure (a full disk) is logged,
    never raised: the replay is done, and the start or the command says its counts all the
    same; the earlier record is removed, so ``/metrics`` does not serve its counts as this
    replay's but says the replay's state is unknown (``replay_read`` 0)."""
    path = data / REPLAY_FILE
    record = {"at": time.time(), "read": counts is not None, **(counts or {})}
    try:
        replace_private(path, json.dumps(record), folder_owner=True)
    except OSError as error:
        _log.error("could not record the erasure journal's replay in %s: %s", path, error)
        try:
            path.unlink(missing_ok=True)
        except OSError as second:
            _log.error("could not remove the earlier replay record %s: %s", path, second)


def last_replay(data: Path) -> dict[str, float] | None:
    """What ``record_replay`` kept in ``data``: ``at`` (seconds since the epoch), ``read``
    (1, or 0 when the journal could not be read) and each of ``REPLAY_COUNTS``; None when
    no replay was recorded or its record cannot be read (not a small regular file, not an
    object of numbers, a number not finite or too large for a float)."""
    try:
        text = read_small_file(data / REPLAY_FILE, "a replay record", _MAX_RECORD, SyncError)
        record = json.loads(text)
        values = {name: float(record.get(name, 0)) for name in ("at", "read", *REPLAY_COUNTS)}
    except (OSError, SyncError, ValueError, TypeError, AttributeError, ArithmeticError,
            RecursionError):  # fmt: skip
        return None
    return values if all(math.isfinite(value) for value in values.values()) else None

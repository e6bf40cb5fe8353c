"""The hub's erasure journal: one line per erasure, in the data folder, outside the database.

The database alone forgets an erasure when it is restored from a backup taken before it: the
person is back, matched by search, in the admin, and handed to every device that pulls the
site from the start after the restore (the epoch renewal has them all do so). So every
erasure the hub applies (``sync.hub.apply.people.erase``: a device's tombstone, the admin, the
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
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from django.db import transaction
from django.utils.crypto import salted_hmac

from sync.durable import (
    PRIVATE_FILE,
    fsync_path,
    give_folder_owner,
    replace_private,
    write_private_once,
)
from sync.errors import SyncError
from sync.regular_file import open_regular_file, read_small_file

JOURNAL_FILE = "erasures.journal"
REPLAY_FILE = "erasure-replay.json"  # what the last replay did, for /metrics (record_replay)
HUB_ID_FILE = "hub-id"  # the journal's own name for this hub, beside it (``hub_identity``)
ACCEPTED_FILE = "accepted-hubs"  # other hubs' lines the operator took as this hub's own
DATA_DIR_ENV = "JAGA_HUB_DATA_DIR"  # the hub's data folder, set by ``prepare``
_log = logging.getLogger(__name__)
_APPEND = os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
_said_off: list[bool] = []  # whether "no data folder: not journaled" was logged
_MAX_LINE = 4096  # a line written is under 250 bytes: a longer one is damaged
_MAX_ID = 256  # a hub-id is 16 hex digits
_MAX_ACCEPTED = 1 << 16  # thousands of accepted hubs
_MAX_RECORD = 4096  # a replay record is under 200 bytes
_IDENTITY_SALT = "jaga.hub.erasure_journal.hub"
_HUB_ID = re.compile(r"[0-9a-f]{16}")  # every hub's id, in hub-id files and journal lines
THROWAWAY_KEY_ENV = "JAGA_HUB_THROWAWAY_KEY"  # set by ``bootstrap.prepare`` when it made one
_unjournaled: list[list[UUID]] = []  # while a command collects them (unjournaled_erasures)


class JournalNotAFileError(SyncError):
    """Something other than a regular file (a named pipe, a device, a folder) is at the
    journal's path."""


class JournalFileError(SyncError):
    """A file of the data folder a replay needs beside the journal (``hub-id``,
    ``accepted-hubs``) cannot be read or holds no hub's id: ``path`` names it, so the error
    names the file at fault, not the journal."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def _is_hub_id(text: str) -> bool:
    return _HUB_ID.fullmatch(text) is not None


def hub_identity(data: Path) -> str:
    """This hub's name in the journal lines of the data folder ``data``: kept in its
    ``hub-id`` file, made once (whole, 0600) by the first process that needs it, and read by
    every process that journals or replays, so it follows neither the secret key (replaced,
    rotated, or found empty: a command then signs with a throwaway one) nor the host (the
    data folder moves with its backups). Made from random bytes, so a hub given a copy of
    another's key (a staging hub) never takes that one's name; from the current key's
    identity (``key_identity``) only when the journal already holds lines of it (a hub
    upgraded from the release whose lines named the hub by its key: they stay its own).
    Read as a small regular file only (``JournalFileError``, naming it, for a named pipe, a
    folder, a large file, one that cannot be made or read). A file emptied since (a ``cp``
    from a backup onto a full disk) or holding anything but 16 lower hex digits raises
    ``JournalFileError``, never falls back to another id (the key's names none of a new
    hub's lines) nor is made again: every append fails, counted, and every replay fails
    loudly until it is put back from a backup."""
    path = data / HUB_ID_FILE
    if not path.exists():
        made = key_identity() if _key_wrote(data) else secrets.token_hex(8)
        try:
            write_private_once(path, made + "\n", folder_owner=True)
        except OSError as error:
            raise _at_fault(path, error) from error
    try:
        kept = read_small_file(path, "a hub identity file", _MAX_ID, JournalNotAFileError)
    except (OSError, JournalNotAFileError) as error:
        raise _at_fault(path, error) from error
    text = kept.decode(errors="replace").strip()
    if not _is_hub_id(text):
        raise JournalFileError(
            path,
            f"{path} holds no hub id (16 hex digits) but {text[:40]!r} (emptied by a full disk,"
            " or damaged): put it back from a backup of the data folder (the one that holds"
            " the journal); it is not made again, as a new id would name none of its lines",
        )
    return text


def _key_wrote(data: Path) -> bool:
    """Whether the journal in ``data`` holds a line named by the current key's identity
    (written before ``hub-id`` files existed, under this key); never with a throwaway key
    (``THROWAWAY_KEY_ENV``), under which no line was written."""
    if os.environ.get(THROWAWAY_KEY_ENV):
        return False
    mine = key_identity()
    return any(item.hub == mine for item in JournalReading(data / JOURNAL_FILE))


def key_identity() -> str:
    """The identity lines were written with before the ``hub-id`` file: an HMAC of a fixed
    text keyed by the hub's secret key (the key is not learnt from it). A replay takes it as
    this hub's too, so a hub upgraded with its key in place skips none of its own lines."""
    return str(salted_hmac(_IDENTITY_SALT, "erasure journal", algorithm="sha256").hexdigest()[:16])


def own_identities(data: Path) -> frozenset[str | None]:
    """The ``hub`` fields a replay of the journal in ``data`` takes as this hub's: its
    ``hub-id``, its current key's identity (lines written before the file), none (lines
    written before lines named their hub), and the hubs accepted (``accepted_hubs``).
    Raises ``JournalFileError`` naming the file at fault when either cannot be read, what
    reading the journal raises when ``hub-id`` is made (``_key_wrote``)."""
    return frozenset((hub_identity(data), key_identity(), None, *accepted_hubs(data)))


def _at_fault(path: Path, error: OSError | SyncError) -> JournalFileError:
    return JournalFileError(path, f"{type(error).__name__}: {error}")


def accepted_hubs(data: Path) -> frozenset[str]:
    """The hubs whose lines the operator accepted as this hub's own (``jaga hub
    renew-log-epoch --accept-other-hubs``): the ``accepted-hubs`` file of ``data``, one
    identity a line (only hub ids: 16 lower hex digits); none without the file. Read as a
    small regular file only: raises ``JournalFileError`` (naming it) otherwise, or when it
    cannot be read."""
    path = data / ACCEPTED_FILE
    try:
        kept = read_small_file(path, "a list of accepted hubs", _MAX_ACCEPTED, JournalNotAFileError)
    except FileNotFoundError:
        return frozenset()
    except (OSError, JournalNotAFileError) as error:
        raise _at_fault(path, error) from error
    lines = (line.strip() for line in kept.decode(errors="replace").splitlines())
    return frozenset(line for line in lines if _is_hub_id(line))


def accept_hubs(data: Path, hubs: Iterable[str]) -> None:
    """Add ``hubs`` to the ``accepted-hubs`` file of ``data``, replaced whole (a synced
    temporary file renamed over it); only hub ids (16 lower hex digits): anything else
    would never match its line again once read back. Raises ``OSError`` when it cannot
    write it, ``JournalFileError`` when it cannot read it."""
    every = accepted_hubs(data) | {hub for hub in hubs if _is_hub_id(hub)}
    text = "".join(f"{hub}\n" for hub in sorted(every))
    if len(text.encode()) > _MAX_ACCEPTED:  # it could not be read back
        raise OSError(errno.EFBIG, f"more accepted hubs than {ACCEPTED_FILE} may hold")
    replace_private(data / ACCEPTED_FILE, text, folder_owner=True)


class ErasureKind(StrEnum):
    """What erased the person: a device's tombstone, the admin, the daily consent purge, a
    badge given again (its holder past retention), or not known: a line the catch-up wrote
    for an erasure whose own line was lost (``sync.hub.erasure_catchup``)."""

    DEVICE = "device"
    ADMIN = "admin"
    RETENTION = "retention"
    BADGE = "badge"
    CAUGHT_UP = "caught_up"


@dataclass(frozen=True)
class JournaledErasure:
    """One line. ``hub``: the identity of the hub that wrote it (the data folder's
    ``hub_identity`` when written with none given); None when read from a line written
    before lines named their hub (taken as this hub's: the journal is in its own data
    folder)."""

    person_uid: UUID
    site: str
    erased_at: datetime
    kind: str
    hub: str | None = None

    def line(self, data: Path) -> bytes:
        """The line, naming ``hub`` or else the hub of the data folder ``data``."""
        fields = {"person": str(self.person_uid), "site": self.site,
                  "erased_at": self.erased_at.isoformat(), "kind": self.kind,
                  "hub": self.hub or hub_identity(data)}  # fmt: skip
        return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True)
class Journal:
    """What a read found: the erasures, each person once (their first line), and how many
    lines could not be read (torn by a crash, or damaged)."""

    erasures: list[JournaledErasure]
    unreadable: int


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


class JournalReading:
    """The erasures journaled at ``path``, line by line as iterated (none when there is no
    file yet), a person as often as lines name them; ``unreadable`` counts the lines skipped
    so far (torn by a crash, or damaged). Iterating raises ``OSError`` when the file cannot
    be read, ``JournalNotAFileError`` for a named pipe, a device or a folder at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unreadable = 0

    def __iter__(self) -> Iterator[JournaledErasure]:
        try:
            handle = open_regular_file(self.path, "an erasure journal", JournalNotAFileError)
        except FileNotFoundError:
            return
        with os.fdopen(handle, "rb") as file:
            while text := file.readline(_MAX_LINE):
                if len(text) == _MAX_LINE and not text.endswith(b"\n"):
                    while (rest := file.readline(_MAX_LINE)) and not rest.endswith(b"\n"):
                        pass  # the rest of a line too long to be one
                    self.unreadable += 1
                elif (erasure := _parse(text)) is not None:
                    yield erasure
                else:
                    self.unreadable += bool(text.strip())


def read_journal(path: Path) -> Journal:
    """The erasures journaled at ``path``, each person once, in a list (tests and tools;
    the replay streams ``JournalReading``). Raises as iterating it does."""
    reading = JournalReading(path)
    seen: set[UUID] = set()
    erasures: list[JournaledErasure] = []
    for erasure in reading:
        if erasure.person_uid not in seen:
            seen.add(erasure.person_uid)
            erasures.append(erasure)
    return Journal(erasures, reading.unreadable)


def _parse(text: bytes) -> JournaledErasure | None:
    """The erasure of one line; None for one of any other shape."""
    try:
        fields = _texts(json.loads(text))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested past the limit
        return None
    if fields is None:
        return None
    person, site, at, kind, hub = fields
    try:
        erased_at = datetime.fromisoformat(at)
        uid = UUID(person)
    except ValueError:
        return None
    return JournaledErasure(uid, site, erased_at, kind, hub) if erased_at.tzinfo else None


def _texts(fields: object) -> tuple[str, str, str, str, str | None] | None:
    """A line's person, site, time, kind and hub when it is an object of texts (the hub may
    be absent, else a hub id: 16 lower hex digits); None for anything else."""
    if not isinstance(fields, dict):
        return None
    values = [fields.get(name) for name in ("person", "site", "erased_at", "kind")]
    hub = fields.get("hub")
    if not all(isinstance(value, str) for value in values):
        return None
    if hub is not None and not (isinstance(hub, str) and _is_hub_id(hub)):
        return None
    person, site, at, kind = (str(value) for value in values)
    return person, site, at, kind, hub


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

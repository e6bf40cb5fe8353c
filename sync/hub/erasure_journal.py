"""The hub's erasure journal: one line per erasure, in the data folder, outside the database.

The database alone forgets an erasure when it is restored from a backup taken before it: the
person is back, matched by search, in the admin, and handed to every device that pulls the
site from the start after the restore (the epoch renewal has them all do so). So every
erasure the hub applies (``sync.hub.apply.people.erase``: a device's tombstone, the admin, the
daily consent purge, a badge taken from someone past retention) also appends a line here:
the person's uid, their site's slug, when, and what erased them (``ErasureKind``), never the
reason typed (free text, which may name whoever asked). ``sync.hub.erasure_replay`` applies
again, through the same erasure, every journaled person the database holds live.

A line is appended once the erasure's transaction commits (``transaction.on_commit``): a
rolled-back one is not journaled. An erasure that commits but whose line cannot be written
(a full disk, a folder made read-only) still stands: the push, the purge or the admin's
action is not failed after the fact; the failure is logged and counted
(``jaga_hub_erasure_journal_failures`` in ``/metrics``), and that erasure alone would not
survive a restore. Each append holds the file's ``flock`` (every gunicorn worker and
``jaga hub`` command appends to the same file), writes the one line with ``O_APPEND`` and
syncs it to disk before the lock goes; a line a crash left torn is ended first, so it never
runs into the next one, and is skipped, counted, when read.

The journal is where ``jaga hub run`` keeps its data (``DATA_DIR_ENV``, which
``sync.hub.bootstrap.prepare`` sets for the process and its workers); a hub started
otherwise journals nothing, and says so once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from django.db import transaction

from sync.durable import PRIVATE_FILE, fsync_path

JOURNAL_FILE = "erasures.journal"
DATA_DIR_ENV = "JAGA_HUB_DATA_DIR"  # the hub's data folder, set by ``prepare``
_log = logging.getLogger(__name__)
_APPEND = os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
_said_off: list[bool] = []  # whether "no data folder: not journaled" was logged


class ErasureKind(StrEnum):
    """What erased the person: a device's tombstone, the admin, the daily consent purge, or
    a badge given again (its holder past retention)."""

    DEVICE = "device"
    ADMIN = "admin"
    RETENTION = "retention"
    BADGE = "badge"


@dataclass(frozen=True)
class JournaledErasure:
    person_uid: UUID
    site: str
    erased_at: datetime
    kind: str

    def line(self) -> bytes:
        fields = {"person": str(self.person_uid), "site": self.site,
                  "erased_at": self.erased_at.isoformat(), "kind": self.kind}  # fmt: skip
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
    """Append ``erasure`` once the transaction it was made in commits; nothing if it rolls
    back. A failure is logged and counted, never raised (the erasure stands)."""
    transaction.on_commit(lambda: _append_or_count(erasure))


def _append_or_count(erasure: JournaledErasure) -> None:
    path = journal_path()
    if path is None:
        if not _said_off:
            _said_off.append(True)
            _log.warning("no hub data folder (%s): erasures are not journaled", DATA_DIR_ENV)
        return
    try:
        append(path, erasure.line())
    except OSError as error:
        _log.error(
            "could not journal the erasure of person %s (site %s) in %s: %s; it stands, but a"
            " restore of the database from a backup older than it would bring them back",
            erasure.person_uid, erasure.site, path, error,
        )  # fmt: skip
        _count_failure()


def _count_failure() -> None:
    try:
        from sync.hub.metrics import hub_metrics

        hub_metrics().journal_failures.inc()
    except Exception:  # a metrics problem must not hide the one logged above
        _log.exception("counting a journal failure failed")


def append(path: Path, line: bytes) -> None:
    """Append ``line`` (one, ending in a newline) to the journal at ``path``, made 0600 if
    new, under its ``flock``, synced before the lock goes. OSError when it cannot."""
    new = not path.exists()
    fd = os.open(path, _APPEND | os.O_RDWR, PRIVATE_FILE)
    try:
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


def read_journal(path: Path) -> Journal:
    """The erasures journaled at ``path`` (none when there is no file yet). OSError when it
    cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Journal([], 0)
    seen: set[UUID] = set()
    erasures: list[JournaledErasure] = []
    unreadable = 0
    for text in raw.splitlines():
        erasure = _parse(text)
        if erasure is None:
            unreadable += bool(text.strip())
        elif erasure.person_uid not in seen:
            seen.add(erasure.person_uid)
            erasures.append(erasure)
    return Journal(erasures, unreadable)


def _parse(text: bytes) -> JournaledErasure | None:
    try:
        fields = json.loads(text)
        erased_at = datetime.fromisoformat(fields["erased_at"])
        if erased_at.tzinfo is None:
            return None
        return JournaledErasure(
            UUID(fields["person"]), str(fields["site"]), erased_at, str(fields["kind"])
        )
    except (ValueError, KeyError, TypeError):
        return None

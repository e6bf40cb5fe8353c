"""A line of the hub's erasure journal: what it holds (``JournaledErasure``), the hub it names
(``hub_identity``, kept in the ``hub-id`` file beside the journal) and reading lines back
(``JournalReading``, ``read_journal``), a line of the wrong shape skipped and counted.

Apart from ``sync.hub.erasure_journal`` (the appending, on commit, and the replay's record)
because the replay and the catch-up read what it writes through these alone. The hub's name
and the lines are one idea here, not two modules: a line is written naming ``hub_identity``,
and a new ``hub-id`` file takes the key's identity when the journal already holds lines of
it (``_key_wrote`` reads them).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from django.utils.crypto import salted_hmac

from sync.durable import write_private_once
from sync.errors import SyncError
from sync.regular_file import open_regular_file, read_small_file

JOURNAL_FILE = "erasures.journal"
HUB_ID_FILE = "hub-id"  # the journal's own name for this hub, beside it (``hub_identity``)
_MAX_LINE = 4096  # a line written is under 250 bytes: a longer one is damaged
_MAX_ID = 256  # a hub-id is 16 hex digits
_IDENTITY_SALT = "jaga.hub.erasure_journal.hub"
_HUB_ID = re.compile(r"[0-9a-f]{16}")  # every hub's id, in hub-id files and journal lines
THROWAWAY_KEY_ENV = "JAGA_HUB_THROWAWAY_KEY"  # set by ``bootstrap.prepare`` when it made one


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


def is_hub_id(text: str) -> bool:
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
            raise at_fault(path, error) from error
    try:
        kept = read_small_file(path, "a hub identity file", _MAX_ID, JournalNotAFileError)
    except (OSError, JournalNotAFileError) as error:
        raise at_fault(path, error) from error
    text = kept.decode(errors="replace").strip()
    if not is_hub_id(text):
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


def at_fault(path: Path, error: OSError | SyncError) -> JournalFileError:
    return JournalFileError(path, f"{type(error).__name__}: {error}")


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
    if hub is not None and not (isinstance(hub, str) and is_hub_id(hub)):
        return None
    person, site, at, kind = (str(value) for value in values)
    return person, site, at, kind, hub

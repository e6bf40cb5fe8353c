"""Decisions the store refused, kept on disk beside it until it takes them.

While another writer holds the store (a long sync, ``jaga store backup``) or its disk is
full, a decision waits for it (:class:`~desktop.kiosk.writer.EventWriter`). Held in memory
only, it was lost with the process: a power cut, the OOM killer, and the audit trail had a
hole where a refusal (a printed photo, a stranger) had been told at the door. So each one
that waits is also written here, durably, before its frame is shown; the next start finds
it and writes it to the store, as if it had waited all along.

The journal is one small database beside the store (``<store>.kiosk-waiting``), encrypted
(SQLCipher, as the store is, ``synchronous=FULL``: a commit that returned is on disk) and
0600: an access event names who was let in. Its key is derived from the store's (HKDF,
``info`` ``jaga kiosk journal v2``: ``sync.store.kiosk_journal``): it opens the journal,
never the store, and is derived for the journal's open then overwritten, SQLCipher's copy
the only one kept. A journal an earlier release
kept under the store's raw key is re-encrypted under it at its first open, losing none of
its decisions, even killed midway. It is not the store, so the write lock another process
holds on the store does not hold it. An entry is the event as the store will hold it, keyed
by its uid; it is deleted once the store has it.

Written twice, an event is still recorded once: the store refuses a second row with its
uid (access events are append-only), and the writer, finding the uid there, counts it as
written (a kill after the store's commit and before the entry's deletion; a second kiosk
process on the store that found the entry at its start).

A key change (``jaga store rekey``, which needs the kiosk stopped), and a restore of a
backup under another key, move this file to the new key with the store
(``sync.store.kiosk_journal``): the kiosk's next start records its decisions all the same.
Not covered: a disk too full for this file as well (the event then waits in memory, and the
screen says so), and a file under a key the store no longer has all the same (a restore told
not to read the store it replaces, which warns): it then no longer opens, and is set aside
(by ``jaga sync now`` for a kiosk retired), named in the log, by ``jaga kiosk run`` and the
window (``set_aside_note``) and by ``jaga store info``, and not read; decision retention
deletes it once the store's window has passed since (``sync.store.kiosk_waiting``), so it is
named with the store's clock (or the floor under it), as retention goes by.

An empty file (a kill between its creation and its first commit) holds no decision: a start
reads it as empty and leaves it, to be made anew when a decision first waits, so a start on a
disk full by then is not refused for a file it has no need to write.

An erasure applied to the store while a person's decision waits here leaves it to be
written as it stands, the person's uid in it: an erasure leaves the store's access events
as they are (their person's uid alone, schema 18), and this one was decided before, at its
``occurred_at`` (what the hub compares with the erasure's time). The screen and ``jaga
kiosk run`` find no name for it, as for any event of someone erased.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sync.errors import WrongKeyError
from sync.filelock import HeldLock
from sync.store import AccessEvent, Store
from sync.store.access import COLUMNS, access_event, access_row
from sync.store.database import Database
from sync.store.kiosk_journal import open_store_journal, waiting_path
from sync.store.kiosk_waiting import hold_journal, set_aside, waiting_table
from sync.store.side_rekey import holds_nothing

_log = logging.getLogger(__name__)
_MARKS = ",".join("?" * len(COLUMNS.split(",")))


def journal_path(store_path: Path) -> Path:
    return waiting_path(store_path)  # where the store's key change looks for it


def set_aside_note(aside: Path) -> str:
    """What the operator is told of a journal the kiosk's start set aside as ``aside``."""
    return (
        "the kiosk's journal was not under the store's key (changed since the kiosk stopped):"
        f" set aside as {aside.name}, its decisions not recorded (they open with that key;"
        " `jaga store info` says when retention deletes it)"
    )


class DecisionJournal:
    """The waiting decisions of the kiosk on one store. Opened on first use, on the thread
    that uses the store (a SQLCipher connection belongs to the thread that opened it)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.path = journal_path(store.path)
        self._database: Database | None = None
        self.set_aside: Path | None = None
        """Where :meth:`kept` set aside the journal it found under another key."""
        # Held until close: ``jaga sync now`` records a journal nobody holds (a kiosk
        # retired with decisions waiting), never this one's.
        self._hold: HeldLock | None = hold_journal(store.path)

    def kept(self) -> list[AccessEvent]:
        """The events a process before this one left waiting, oldest first."""
        if holds_nothing(self.path):
            return []  # holds none: nothing to make now either (the disk may be full)
        try:
            database = self._open()
        except WrongKeyError:
            self.set_aside = set_aside(self._store, self.path)
            _log.error("%s is not under the store's key (changed since the kiosk stopped): set "
                       "aside as %s; its decisions are not recorded", self.path,
                       self.set_aside)  # fmt: skip
            return []
        rows = database.query(f"SELECT {COLUMNS} FROM waiting ORDER BY rowid")
        return [access_event(row) for row in rows]

    def keep(self, events: Iterable[AccessEvent]) -> None:
        """Write the events, durably, in one transaction (a ``StoreError`` if it fails)."""
        rows = [access_row(event) for event in events]
        if not rows:
            return
        with self._open().write() as connection:
            connection.executemany(
                f"INSERT OR IGNORE INTO waiting ({COLUMNS}) VALUES ({_MARKS})", rows
            )

    def forget(self, events: Iterable[AccessEvent]) -> None:
        """The store has these events: their entries go."""
        uids = [(event.event_uid,) for event in events]
        if not uids or (self._database is None and not self.path.exists()):
            return
        with self._open().write() as connection:
            connection.executemany("DELETE FROM waiting WHERE event_uid = ?", uids)

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _open(self) -> Database:
        if self._database is None:
            store = self._store
            # Under the journal's own key, never the store's: it opens this file alone, and
            # is derived for the open, then overwritten (SQLCipher keeps its copy). The
            # store's raw key is passed, not kept: a journal an earlier release kept under it
            # is re-encrypted under the journal's key (its first open, at the start).
            database = open_store_journal(store.path, store.key, store.database.config)
            with database.write() as connection:
                waiting_table(connection)  # one an older release made gains the flag
            self._database = database
        return self._database

"""Pull a site again from the start, once, when its cursor was pulled by older code.

A cursor says "everything before this was taken", but what older code took of a change is
less than this code takes: a device on protocol 2 or 3 was never told a catch's box, pack or
verdict (protocol 3 and 4), and one before store schema 10 skipped a person whose badge it
still gave to someone else, instead of setting them aside (``sync.client.apply``). Upgraded,
it would keep those gaps for good: the hub sends a record again only when it changes.

So the cursor is kept with what pulled it (``pulled_with.SITE``: the protocol and the store
schema). A store whose cursor was moved by older code, which kept no such note, or by a
protocol older than this one, pulls its site again from cursor 0, once. That is safe: a
pull replaces a record with the hub's copy, which already holds this device's pushed
edits; the hub's log no longer carries an erased person's data (only the tombstone), and a
person erased here stays erased (``apply._erased_here``); records are upserts by uid, so
nothing doubles; a person whose badge is still held here is set aside. Its pages commit with
the cursor as every pull's do, so a cut link or a crash carries on where it stopped.

It waits for a sync whose push left nothing queued: a pulled version older than an edit
this device has not pushed yet would replace it here until that edit came back from the
hub. Nor does it take again the species pack announcements it had pulled before (up to the
old cursor): those are older packs, which a re-pull spread over several syncs would
otherwise install again between them. ``full_pull.SITE`` keeps when it began, from which
cursor and why, and when it caught up, for ``jaga sync status``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sync.client.state import cursor_name, put_value
from sync.protocol import PROTOCOL_VERSION
from sync.store.clock import format_timestamp

_log = logging.getLogger(__name__)

KEEPS_ALL_SINCE_SCHEMA = 10
"""The first store schema whose pulls keep everything they cannot apply yet (set aside).
Raise it (to the new schema) when ``apply`` starts keeping what it used to skip: every
device then pulls its site again once."""


def pulled_with_name(site: str) -> str:
    return f"pulled_with.{site}"


def full_pull_name(site: str) -> str:
    return f"full_pull.{site}"


@dataclass(frozen=True)
class PulledWith:
    """What moved a site's cursor: the protocol it pulled with, and the store's schema."""

    protocol: int
    schema: int

    @property
    def complete(self) -> bool:
        """Whether this code would have kept nothing more of the same changes."""
        return self.protocol >= PROTOCOL_VERSION and self.schema >= KEEPS_ALL_SINCE_SCHEMA

    def words(self) -> str:
        if not self.protocol:
            return "an earlier release, which did not note its protocol"
        return f"protocol {self.protocol}, store schema {self.schema}"

    @classmethod
    def from_stored(cls, text: str | None) -> PulledWith:
        """The note kept; (0, 0) for none (older code) or an unreadable one."""
        try:
            value = json.loads(text or "")
            return cls(int(value["protocol"]), int(value["schema"]))
        except (ValueError, TypeError, KeyError):
            return cls(0, 0)


@dataclass(frozen=True)
class FullPull:
    """A re-pull of the site from cursor 0: ``until`` is the cursor older code had reached."""

    until: int
    began_at: str
    pulled_with: str
    done_at: str | None = None

    def reason(self) -> str:
        return f"its cursor {self.until} had been pulled by {self.pulled_with}"

    def words(self) -> str:
        began = f"pulled again from the start {self.began_at}: {self.reason()}"
        return began + (f"; caught up {self.done_at}" if self.done_at else "; under way")

    def stored(self) -> str:
        return json.dumps(
            {
                "until": self.until,
                "began_at": self.began_at,
                "pulled_with": self.pulled_with,
                "done_at": self.done_at,
            }
        )

    @classmethod
    def from_stored(cls, text: str | None) -> FullPull | None:
        if not text:
            return None
        try:
            value = json.loads(text)
            done = value.get("done_at")
            return cls(int(value["until"]), str(value["began_at"]), str(value["pulled_with"]),
                       str(done) if done else None)  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def start_cursor(
    connection: Any, site: str, schema: int, waiting: int, now: datetime
) -> tuple[int, FullPull | None]:
    """The cursor this pull starts from, inside the caller's write transaction: the stored
    one, or 0 with the full pull that begins now. ``schema``: the store's; ``waiting``:
    outbox entries not yet acknowledged (a full pull waits for none)."""
    cursor = int(_value(connection, cursor_name(site)) or 0)
    noted = PulledWith.from_stored(_value(connection, pulled_with_name(site)))
    current = PulledWith(PROTOCOL_VERSION, schema)
    began = None
    if cursor and not noted.complete:
        if waiting:
            _log.info(
                "site %s will be pulled again from the start once %d outbox entries are"
                " pushed: its cursor was pulled by %s",
                site, waiting, noted.words(),
            )  # fmt: skip
            return cursor, None
        began = FullPull(cursor, format_timestamp(now), noted.words())
        _log.warning(
            "pulling site %s again from the start: its cursor %d was pulled by %s, which"
            " kept less of each change than this release",
            site, cursor, noted.words(),
        )  # fmt: skip
        put_value(connection, full_pull_name(site), began.stored(), now)
        put_value(connection, cursor_name(site), "0", now)
        cursor = 0
    if noted != current:
        put_value(connection, pulled_with_name(site), json.dumps(asdict(current)), now)
    return cursor, began


def seen_until(connection: Any, site: str) -> int:
    """While a full pull is under way, the cursor older code had reached (else 0)."""
    full = FullPull.from_stored(_value(connection, full_pull_name(site)))
    return full.until if full is not None and full.done_at is None else 0


def note_progress(connection: Any, site: str, cursor: int, now: datetime) -> None:
    """Mark a full pull caught up once ``cursor`` reaches where older code had left it."""
    full = FullPull.from_stored(_value(connection, full_pull_name(site)))
    if full is None or full.done_at is not None or cursor < full.until:
        return
    done = FullPull(full.until, full.began_at, full.pulled_with, format_timestamp(now))
    put_value(connection, full_pull_name(site), done.stored(), now)
    _log.info("site %s pulled again from the start: caught up at cursor %d", site, cursor)


def _value(connection: Any, name: str) -> str | None:
    row = connection.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])

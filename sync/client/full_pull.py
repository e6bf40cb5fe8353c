"""Pull a site again from the start, once, when its cursor was pulled by older code.

A cursor says "everything before this was taken", but what older code took of a change is
less than this code takes: a device on protocol 2 or 3 was never told a catch's box, pack or
verdict (protocol 3 and 4), and one before store schema 10 skipped a person whose badge it
still gave to someone else, instead of setting them aside (``sync.client.apply``); one
before schema 20 did not note the photo a catch is on while the store lacks it
(``sync.store.pulled_photos``). Upgraded, it would keep those gaps for good: the hub sends a
record again only when it changes.

So the cursor is kept with what pulled it (``pulled_with.SITE``: the protocol and the store
schema). A store whose cursor was moved by older code, which kept no such note, or by a
protocol before the newest that changed what pulls carry (``PULLS_CHANGED_IN_PROTOCOL``),
or below schema 20 in a store holding a catch of this device it pulled back without its
photo and without that note (``NOTES_PULLED_PHOTOS_SINCE_SCHEMA``), pulls its site again
from cursor 0, once. Its pages commit
with the cursor as every pull's do, so a cut link or a crash carries on where it stopped.

The hub's log keeps every version of a record, in order, so a re-pull replays them: taken
as a normal pull takes them, each page would put back older versions of what this device
holds (a hub reviewer's correction undone until the pull reached it, or for good if it
stopped). So a change at or before the old cursor (``until``) never replaces what this
device holds (``sync.client.apply``): a person or face template it holds is left as it is
(it has the newest it pulled); a person it does not hold (one older code skipped) is taken,
with each later version of them the re-pull brings (``FullPull.took`` names the records
the re-pull added, so that they end at their newest version, not their first); a tombstone
is applied (an erasure is final); a catch it holds is given only what older protocols did
not carry and it lacks (its pack, its verdict, its box), never its species, review, notes
or counts. Changes after ``until`` apply as in any pull. A person erased here stays erased
(``apply_people._erased_here``), and records are upserts by uid, so nothing doubles.

It waits for a sync whose push left nothing queued: a pulled version older than an edit
this device has not pushed yet would replace it here until that edit came back from the
hub. Nor does it take again the species pack announcements it had pulled before (up to the
old cursor): those are older packs, which a re-pull spread over several syncs would
otherwise install again between them. It is caught up once the cursor reaches ``until``,
or a page says the hub has nothing more (the changes just below ``until`` may be ones the
hub no longer sends, such as a person past retention it has not purged yet).
``full_pull.SITE`` keeps when it began, from which cursor and why, and when it caught up,
for ``jaga sync status``.

A hub whose log was rewound (its database restored from a backup) begins one too
(``sync.client.log_epoch``), noted ``renewed``: none of its changes is a replay (one at or
below the old cursor may have been written after the restore), so each applies as in any
pull (but a hub review it pulled after the backup: ``sync.client.apply``), and it does
not wait for an empty outbox (what it queued again is pushed first).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sync import plural
from sync.client.site_state import cursor_name, full_pull_name, pulled_with_name
from sync.protocol import PROTOCOL_VERSION
from sync.store.clock import format_timestamp
from sync.store.state_rows import get_value, put_value

_log = logging.getLogger(__name__)

KEEPS_ALL_SINCE_SCHEMA = 10
"""The first store schema whose pulls keep everything they cannot apply yet (set aside).
Raise it (to the new schema) when ``apply`` starts keeping what it used to skip: every
device then pulls its site again once."""
# The newest protocol that added a field to pulled changes (a catch's verdict). Protocol 5
# added only ``PhotoUpsert.withheld``: photos travel up, never in a pull, so a cursor pulled
# on 4 is pulled again for nothing; 6 only ``FishObservationUpsert.recorded_here``, which
# travels up alone too.
PULLS_CHANGED_IN_PROTOCOL = 4
NOTES_PULLED_PHOTOS_SINCE_SCHEMA = 20
"""The first store schema whose pulls note the photo a catch is on while the store lacks it
(``sync.store.pulled_photos``). A cursor pulled below it is pulled again only when the store
holds a catch of this device with neither its photo nor that note (``_unnoted_own_catch``):
the Catch panel's spool may keep that catch's photo under an entry nothing else ties to it,
and the hub sends a catch again only when it changes. Without one there is nothing to learn,
and every other device is spared reading its site's whole log again over a boat's link."""


@dataclass(frozen=True)
class PulledWith:
    """What moved a site's cursor: the protocol it pulled with, and the store's schema."""

    protocol: int
    schema: int

    @property
    def complete(self) -> bool:
        """Whether this code would have kept nothing more of the same changes."""
        return self.protocol >= PULLS_CHANGED_IN_PROTOCOL and self.schema >= KEEPS_ALL_SINCE_SCHEMA

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
    # Records the re-pull added (this device did not hold them): it takes their later
    # versions too, while under way. Emptied once caught up.
    took: frozenset[str] = frozenset()
    # The hub renewed its log (``sync.client.log_epoch``): no change is a replay, and
    # ``requeued`` entries were queued again for it.
    renewed: bool = False
    requeued: int = 0

    @property
    def replays_until(self) -> int:
        """The cursor up to which a change is a replay of one this device took before."""
        return 0 if self.renewed else self.until

    def reason(self) -> str:
        if self.renewed:
            return (
                "the hub renewed its change log (a restore from a backup, or a device's pull"
                " that did not match its log);"
                f" this device queued again {plural.entries(self.requeued)} it had sent or pulled"
            )
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
                "took": sorted(self.took),
                "renewed": self.renewed,
                "requeued": self.requeued,
            }
        )

    @classmethod
    def from_stored(cls, text: str | None) -> FullPull | None:
        if not text:
            return None
        try:
            value = json.loads(text)
            done = value.get("done_at")
            took = frozenset(str(uid) for uid in value.get("took", ()))
            return cls(int(value["until"]), str(value["began_at"]), str(value["pulled_with"]),
                       str(done) if done else None, took, bool(value.get("renewed")),
                       int(value.get("requeued", 0)))  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def start_cursor(
    connection: Any, site: str, schema: int, waiting: int, now: datetime
) -> tuple[int, FullPull | None]:
    """The cursor this pull starts from, inside the caller's write transaction: the stored
    one, or 0 with the full pull that begins now. ``schema``: the store's; ``waiting``:
    outbox entries not yet acknowledged (a full pull waits for none)."""
    cursor = int(get_value(connection, cursor_name(site)) or 0)
    noted = PulledWith.from_stored(get_value(connection, pulled_with_name(site)))
    current = PulledWith(PROTOCOL_VERSION, schema)
    began = None
    if cursor and (not noted.complete or _unnoted_own_catch(connection, noted)):
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


def _unnoted_own_catch(connection: Any, noted: PulledWith) -> bool:
    """Whether a pull below schema 20 left a catch of this device (pulled back after a
    restore) without its photo and without noting which photo it is on."""
    return noted.schema < NOTES_PULLED_PHOTOS_SINCE_SCHEMA and _own_catch_unnoted(connection)


def _own_catch_unnoted(connection: Any) -> bool:
    found = connection.execute(
        "SELECT 1 FROM fish_observations WHERE recorded_here = 1 AND photo_id IS NULL"
        " AND pulled_photo_uid IS NULL LIMIT 1"
    ).fetchone()
    return found is not None


def photos_unnoted(connection: Any) -> bool:
    """Whether the store may hold a catch of this device whose photo no pull noted yet: one
    pulled back without its photo below schema 20, its site not pulled again since (the
    re-pull not begun, or under way). Until then a catch kept by a Jaga before spool entries
    kept their uids cannot be told from it (``desktop.catch_store``)."""
    if not _own_catch_unnoted(connection):
        return False
    rows = connection.execute("SELECT name, value FROM sync_state WHERE name LIKE 'pull_cursor.%'")
    for name, cursor in rows.fetchall():
        site = str(name).removeprefix("pull_cursor.")
        noted = PulledWith.from_stored(get_value(connection, pulled_with_name(site)))
        if int(cursor or 0) and noted.schema < NOTES_PULLED_PHOTOS_SINCE_SCHEMA:
            return True  # the re-pull not begun: it begins at the next sync
        if under_way(connection, site) is not None:
            return True
    return False


def under_way(connection: Any, site: str) -> FullPull | None:
    """The full pull of ``site`` under way (not caught up), if one is."""
    full = FullPull.from_stored(get_value(connection, full_pull_name(site)))
    return full if full is not None and full.done_at is None else None


def note_progress(
    connection: Any, site: str, cursor: int, now: datetime, *, more: bool, took: Set[str]
) -> None:
    """Keep a full pull's progress after a page: the records it added (``took``), and
    caught up once ``cursor`` reaches where older code had left it, or the hub said it has
    nothing ``more``."""
    full = under_way(connection, site)
    if full is None:
        return
    if cursor < full.until and more:
        if took != full.took:
            put_value(
                connection, full_pull_name(site), replace(full, took=frozenset(took)).stored(), now
            )
        return
    done = replace(full, done_at=format_timestamp(now), took=frozenset())
    put_value(connection, full_pull_name(site), done.stored(), now)
    _log.info("site %s pulled again from the start: caught up at cursor %d", site, cursor)

"""The time this device gives its edits: a hybrid logical clock, kept in the store.

The hub settles conflicting edits field by field, last writer wins, by the time each edit
carries (``sync.hub.apply.lww``): an outbox entry's ``created_at``. A device whose clock runs
behind (a laptop's dead RTC battery, days at sea without NTP) would lose every conflict,
even to the hub's version it pulled before the officer corrected it. So an edit's time is
the latest of:

- the device's clock;
- the newest hub time this device has seen (a pulled change's ``changed_at``, which the hub
  writes after the stamp of the edit it logs), plus ``STEP``;
- the last time this device gave an edit, plus ``STEP`` (its own edits keep their order when
  the clock is set back).

An edit made after pulling a version therefore wins over that version; edits made without
seeing each other still go by time (the hub's edit made later than the newest hub time
this device had seen wins). With a right clock the first term is the answer and nothing
changes. Both times are ``sync_state`` rows, written in the edit's or the pull's own
transaction, so they outlast a restart. The wire is unchanged: a stamp is still a time.

Retention goes by the latest of the clock and the hub time seen (``least_true_time``), so a
stopped clock does not keep people past their retention date.

``clock_warning`` says when the device's clock reads earlier than the hub time it has seen:
the clock is wrong, and the sync log and ``jaga sync status`` say so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sync.store.clock import Clock, format_timestamp, parse_timestamp

HUB_SEEN = "clock.hub_seen"
LAST_EDIT = "clock.last_edit"
STEP = timedelta(microseconds=1)  # the smallest step the timestamp format carries
# A clock this far behind the newest hub time seen is called wrong (the hub's own tolerance
# for a clock ahead is 300 s by default): less is ordinary drift, or the time a sync took.
BEHIND_TOLERANCE = timedelta(minutes=5)


def edit_time(connection: Any, clock: Clock) -> datetime:
    """The time to give an edit, inside its write transaction (which keeps it as the last)."""
    hub_seen, last_edit = _read(connection, HUB_SEEN), _read(connection, LAST_EDIT)
    moment = clock.now()
    for seen in (hub_seen, last_edit):
        if seen is not None:
            moment = max(moment, seen + STEP)
    _write(connection, LAST_EDIT, moment, moment)
    return moment


def note_hub_time(connection: Any, moment: datetime, now: datetime) -> None:
    """Inside a pull's transaction: the hub has said it is at least ``moment``."""
    seen = _read(connection, HUB_SEEN)
    if seen is None or moment > seen:
        _write(connection, HUB_SEEN, moment, now)


def hub_time_seen(connection: Any) -> datetime | None:
    """The newest hub time this device has seen, if it has synced."""
    return _read(connection, HUB_SEEN)


def least_true_time(connection: Any, now: datetime) -> datetime:
    """``now`` (the device's clock), or the newest hub time seen when the clock reads earlier:
    the true time is at least that, however far behind a dead RTC battery left the clock.
    A clock ahead is not corrected: offline for days, it is the best the device has."""
    seen = _read(connection, HUB_SEEN)
    return now if seen is None else max(now, seen)


def clock_warning(connection: Any, now: datetime) -> str | None:
    """One line for the log and the status when the clock reads more than
    ``BEHIND_TOLERANCE`` before the hub time seen: the clock is wrong."""
    seen = _read(connection, HUB_SEEN)
    if seen is None or now >= seen - BEHIND_TOLERANCE:
        return None
    return (
        f"this device's clock looks wrong: it reads {_span(seen - now)} behind the hub time"
        f" {format_timestamp(seen)} it has already seen (edits are stamped after that time;"
        " set the clock right)"
    )


def _span(behind: timedelta) -> str:
    if behind >= timedelta(days=2):
        return f"{behind.days} days"
    if behind >= timedelta(hours=2):
        return f"{int(behind.total_seconds() // 3600)} hours"
    return f"{int(behind.total_seconds() // 60)} minutes"


def _read(connection: Any, name: str) -> datetime | None:
    row = connection.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else parse_timestamp(str(row[0]))


def _write(connection: Any, name: str, moment: datetime, now: datetime) -> None:
    connection.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (name, format_timestamp(moment), format_timestamp(now)),
    )

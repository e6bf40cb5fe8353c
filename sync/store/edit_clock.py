"""The time this device gives its edits: a hybrid logical clock, kept in the store.

The hub settles conflicting edits field by field, last writer wins, by the time each edit
carries (``sync.hub.apply.lww``): an outbox entry's ``created_at``. A device whose clock runs
behind (a laptop's dead RTC battery, days at sea without NTP) would lose every conflict,
even to the hub's version it pulled before the officer corrected it. So an edit's time is
the latest of:

- the device's clock;
- the date of the jaga release it runs (``clock.released_on``): a clock reset before it
  (a device that never synced, its RTC battery flat) does not stamp edits years back;
- the hub time seen, plus ``STEP``: the hub's own time in its latest pull answer (its HTTP
  ``Date``, whole seconds, so never later than the hub's true time), whether or not the
  answer brought changes: every change it brings is dated at most that (held to it), and
  an edit made after that sync is made after it. An answer without that time vouches for
  nothing, and every answer that has it also puts right a hub time seen past it (a hub
  whose clock ran far ahead, then was set right);
- for an edit of a record whose pulled change was dated past that (the hub dates a change
  by the record's newest field stamp when that is later: its writer's clock ran ahead,
  within the hub's skew; or the fraction of a second the ``Date`` leaves out), that date,
  held to ``AHEAD_TOLERANCE`` (and ``DATE_RESOLUTION``) past the hub's time, plus ``STEP``.
  Kept per record (``AHEAD`` + uid) until the hub time seen passes it;
- the last time this device gave an edit, plus ``STEP``, only while that is at most
  ``AHEAD_TOLERANCE`` past the terms above.

What that guarantees, with a hub whose clock is right and that sends its ``Date``:

- an edit made after pulling a version of a record wins over that version, however far
  behind this device's clock, and with the version's writer ahead by up to
  ``AHEAD_TOLERANCE`` (the hub's default skew; a hub set to allow more keeps this only up
  to ``AHEAD_TOLERANCE``);
- edits made without seeing each other go by time, within the hub's skew: an edit is
  stamped at most ``AHEAD_TOLERANCE`` past the latest of this device's clock and the hub
  time seen (which is never past the hub's true time), or, for a record pulled with a
  later date, just after that date (at most ``AHEAD_TOLERANCE`` + ``DATE_RESOLUTION`` past
  the hub's time when pulled). An edit once made with the clock far ahead does not keep
  later ones ahead after the clock is set right, nor does a change a hub dated far ahead;
- this device's own edits keep their order through the clock set back by up to
  ``AHEAD_TOLERANCE`` (NTP stepping it); set back further, they go by the clock.

With a right clock the first term is the answer and nothing changes. These times are
``sync_state`` rows, written in the edit's or the pull's own transaction, so they outlast a
restart. The wire is unchanged: a stamp is still a time.

``clock_warning`` says when the device's clock reads earlier than the hub time it has seen,
or than the date of its release: the clock is wrong, and the sync log, ``jaga sync status``
and the app's Sync panel say so (``sync.store.clock_floor`` has the whole floor).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sync.store.clock import Clock, format_timestamp, parse_timestamp, released_on
from sync.store.state_rows import get_value, put_value

HUB_SEEN = "clock.hub_seen"
LAST_EDIT = "clock.last_edit"
AHEAD = "clock.ahead."  # + a record's uid: its pulled stamp, past the hub's time then
STEP = timedelta(microseconds=1)  # the smallest step the timestamp format carries
# How far past the hub's time a stamp may run: the hub's default tolerance for a clock
# ahead (``JAGA_HUB_MAX_CLOCK_SKEW_S``), so the hub would take it from a clock anyway.
AHEAD_TOLERANCE = timedelta(seconds=300)
# The HTTP Date header carries whole seconds: the hub's time is up to this much later.
DATE_RESOLUTION = timedelta(seconds=1)
# A clock this far behind the newest hub time seen is called wrong (the hub's own tolerance
# for a clock ahead is 300 s by default): less is ordinary drift, or the time a sync took.
BEHIND_TOLERANCE = timedelta(minutes=5)


def edit_time(connection: Any, clock: Clock, entity_uid: str | None = None) -> datetime:
    """The time to give an edit of ``entity_uid``, inside its write transaction (which keeps
    it as the last)."""
    moment = clock.now()
    released = released_on(clock)
    if released is not None:
        moment = max(moment, released)
    pulled = [_read(connection, HUB_SEEN)]
    if entity_uid is not None:
        pulled.append(_read(connection, AHEAD + entity_uid))
    for seen in pulled:
        if seen is not None:
            moment = max(moment, seen + STEP)
    last_edit = _read(connection, LAST_EDIT)
    if last_edit is not None and last_edit + STEP <= moment + AHEAD_TOLERANCE:
        moment = max(moment, last_edit + STEP)
    _write(connection, LAST_EDIT, moment, moment)
    return moment


def note_hub_time(
    connection: Any,
    changes: Iterable[tuple[str, datetime]],
    hub_now: datetime | None,
    now: datetime,
) -> None:
    """Inside a pull's transaction: a page's ``(entity_uid, changed_at)``, in an answer the
    hub sent at ``hub_now`` (its ``Date``; None: it did not say, and nothing is noted)."""
    if hub_now is None:
        return  # nothing to hold the times to: a wrong one would stay for good
    # Past this a change's time is its record's alone: its writer's clock ran ahead, within
    # the hub's skew, or it is the fraction of a second the Date leaves out.
    latest = hub_now + DATE_RESOLUTION + AHEAD_TOLERANCE
    for entity_uid, changed_at in changes:
        if changed_at > hub_now:
            _write(connection, AHEAD + entity_uid, min(changed_at, latest), now)
    # The answer's own time, whatever it brought: each change in it is held to that time,
    # and a hub time seen past it was noted while the hub's clock ran ahead.
    if hub_now != _read(connection, HUB_SEEN):
        _write(connection, HUB_SEEN, hub_now, now)
    # A record's time the hub time seen has passed orders nothing any more, and one past
    # what the hub now vouches for was noted while its clock ran ahead.
    connection.execute(
        "DELETE FROM sync_state WHERE name LIKE ? AND (value <= ? OR value > ?)",
        (AHEAD + "%", format_timestamp(hub_now), format_timestamp(latest)),
    )


def hub_time_seen(connection: Any) -> datetime | None:
    """The newest hub time this device has seen, if it has synced."""
    return _read(connection, HUB_SEEN)


def clock_warning(connection: Any, now: datetime, released: datetime | None = None) -> str | None:
    """One line for the log and the status when the clock reads more than
    ``BEHIND_TOLERANCE`` before the hub time seen, or before ``released`` (the date of this
    jaga release, ``clock.released_on``; a device that never synced has no hub time): the
    clock is wrong."""
    seen = _read(connection, HUB_SEEN)
    if seen is not None and (released is None or seen >= released):
        floor, what = seen, f"the hub time {format_timestamp(seen)} it has already seen"
    elif released is not None:
        floor, what = released, f"{format_timestamp(released)}, the date of this jaga release"
    else:
        return None
    if now >= floor - BEHIND_TOLERANCE:
        return None
    return (
        f"this device's clock looks wrong: it reads {span_words(floor - now)} behind {what}"
        " (edits are stamped after that time; set the clock right)"
    )


def span_words(behind: timedelta) -> str:
    """``behind`` in whole days, hours or minutes, for a warning."""
    if behind >= timedelta(days=2):
        return f"{behind.days} days"
    if behind >= timedelta(hours=2):
        return f"{int(behind.total_seconds() // 3600)} hours"
    return f"{int(behind.total_seconds() // 60)} minutes"


def _read(connection: Any, name: str) -> datetime | None:
    value = get_value(connection, name)
    return None if value is None else parse_timestamp(value)


def _write(connection: Any, name: str, moment: datetime, now: datetime) -> None:
    put_value(connection, name, format_timestamp(moment), now)

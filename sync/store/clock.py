"""Time for the store: an injectable clock, the release date it vouches for, and one
timestamp format.

A clock that reads before ``RELEASED`` is wrong, whatever else is known: this build did not
exist then. A device that never synced and whose clock a flat RTC battery reset (to 2000 or
1970) has no hub time to tell it so; the release date does (``sync.store.clock_floor``).
The real clock carries it (``SystemClock.released``); an injected one carries its own, or
none (``released_on``), so a test's times are its own unless it says otherwise.

Every timestamp is UTC, ISO-8601, with microseconds and a ``Z``
(``2026-03-01T08:15:00.000000Z``). The fixed width makes text order equal time order, so
SQL can compare timestamps as strings (retention, export ranges).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# The day this jaga release was made, at 00:00 UTC (no zone's date of it is earlier than the
# day before): set at each release, with the model pack's version (tests check it is past
# and no older than the month that version names). Earlier is safe but vouches for less.
RELEASED = datetime(2026, 11, 1, tzinfo=UTC)


class Clock(Protocol):
    """Tells the current time; tests pass a fake one."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real wall clock, in UTC, on a device running the release made on ``released``."""

    released = RELEASED

    def now(self) -> datetime:
        return datetime.now(UTC)


def released_on(clock: Clock) -> datetime | None:
    """The release date ``clock`` vouches for the true time is past (``SystemClock``'s:
    ``RELEASED``); None for an injected clock that names none."""
    released = getattr(clock, "released", None)
    return released if isinstance(released, datetime) else None


def format_timestamp(moment: datetime) -> str:
    """Render an aware datetime as the store's UTC text form."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a timezone (UTC)")
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Read a timestamp written by ``format_timestamp`` (or any ISO-8601 with an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return moment.astimezone(UTC)

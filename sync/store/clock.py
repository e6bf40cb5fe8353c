"""Time for the store: an injectable clock and one timestamp format.

Every timestamp is UTC, ISO-8601, with microseconds and a ``Z``
(``2026-03-01T08:15:00.000000Z``). The fixed width makes text order equal time order, so
SQL can compare timestamps as strings (retention, export ranges).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock(Protocol):
    """Tells the current time; tests pass a fake one."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


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

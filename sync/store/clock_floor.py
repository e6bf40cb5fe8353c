"""The floor under this device's clock: a time the true time is certainly past, known without
a network.

A survey boat's laptop or Jetson may never have synced, and a flat RTC battery resets its
clock to a firmware date (2000-01-01, 1970): with no hub time seen, nothing called it wrong,
and every catch it recorded was dated 2000. So a clock is judged against the later of:

- the date of the jaga release it runs (``sync.store.clock.RELEASED``, carried by the real
  clock): no clock running this build can truly read earlier;
- the hub time seen (``edit_clock.hub_time_seen``): the hub's own time in its latest pull
  answer, never past its true time while its clock is right.

A clock that reads more than ``BEHIND_TOLERANCE`` before that floor is wrong. Once it is, the
newest time this store recorded by its own clock (a catch recorded here, an audit entry:
every kiosk decision and enrolment writes one) is a lower bound too, and ``lower_bound``
takes it: what recorded it was this device's clock before it was reset. It does not judge
the clock by itself: a clock once run ahead (a year typed wrong) and set right since would
leave that time in the future, and every catch dated there, with no clock setting to put
it right, until the true time passes it (``device_clock_warning`` only warns of it). Only
the newest ``RECENT_ENTRIES`` audit entries are read (a kiosk's log is long, and its newest
entries are the ones that matter: after a reset the entries before it drop out once that
many decisions were made under it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.store.clock import Clock, format_timestamp, parse_timestamp, released_on
from sync.store.edit_clock import BEHIND_TOLERANCE, clock_warning, hub_time_seen, span_words

RECENT_ENTRIES = 1000

_RECORDED_NEWEST = (
    "SELECT max(at) FROM ("
    " SELECT max(created_at) AS at FROM fish_observations WHERE recorded_here = 1"
    " UNION ALL"
    " SELECT max(at) FROM (SELECT at FROM audit_log ORDER BY sequence DESC LIMIT ?))"
)


@dataclass(frozen=True)
class ClockFloor:
    """What this device knows of the true time without its clock; all None: nothing."""

    released: datetime | None = None
    """The date of the jaga release the clock runs (``released_on``)."""
    hub_seen: datetime | None = None
    """The newest hub time this device has pulled."""
    recorded: datetime | None = None
    """The newest time this store recorded by its own clock."""

    def vouched(self) -> tuple[datetime, str] | None:
        """The later of the release date and the hub time seen, with what it is; None: neither
        is known."""
        known = [
            (moment, why)
            for moment, why in (
                (self.released, "the date of this jaga release"),
                (self.hub_seen, "the newest hub time this device has seen"),
            )
            if moment is not None
        ]
        return max(known, key=lambda pair: pair[0], default=None)

    def behind(self, now: datetime) -> str | None:
        """Why a clock reading ``now`` is wrong ("before <time>, <what that is>"); None when
        neither the release date nor the hub time seen says it is."""
        vouched = self.vouched()
        if vouched is None or now >= vouched[0] - BEHIND_TOLERANCE:
            return None
        return f"before {format_timestamp(vouched[0])}, {vouched[1]}"

    def lower_bound(self) -> datetime | None:
        """The latest time the true time is known to be past, once the clock is wrong."""
        known = [m for m in (self.released, self.hub_seen, self.recorded) if m is not None]
        return max(known, default=None)


def read_floor(connection: Any, clock: Clock) -> ClockFloor:
    """The floor under ``clock`` on this store, read inside ``connection``'s transaction."""
    (newest,) = connection.execute(_RECORDED_NEWEST, (RECENT_ENTRIES,)).fetchone()
    recorded = None if newest is None else parse_timestamp(str(newest))
    return ClockFloor(released_on(clock), hub_time_seen(connection), recorded)


def floored_now(connection: Any, clock: Clock) -> datetime:
    """The clock's time, or the floor's (the release date, the hub time seen) when the clock
    reads before it: what a consent's end is judged against before matching. A kiosk whose
    clock was reset to 2000 would otherwise match people whose consent ended years ago; this
    can only end a consent sooner, never later. Erasure still goes by the clock alone (a hub
    time seen may be a few minutes ahead, and an erasure is for good)."""
    now = clock.now()
    vouched = ClockFloor(released_on(clock), hub_time_seen(connection)).vouched()
    return now if vouched is None else max(now, vouched[0])


def device_clock_warning(connection: Any, clock: Clock) -> str | None:
    """Why this device's clock looks wrong (``edit_clock.clock_warning``: before the release
    date or the hub time seen); else, when it reads before a time this store recorded by it,
    a warning, and no correction (``ClockFloor.lower_bound`` says why: the earlier clock may
    be the wrong one); None if neither."""
    now = clock.now()
    warning = clock_warning(connection, now, released_on(clock))
    if warning is not None:
        return warning
    recorded = read_floor(connection, clock).recorded
    if recorded is None or now >= recorded - BEHIND_TOLERANCE:
        return None
    return (
        f"this device's clock may be wrong: it reads {span_words(recorded - now)} before"
        f" {format_timestamp(recorded)}, a time this store recorded by it (the clock was set"
        " back since, or ran ahead then: if it is wrong now, set it right)"
    )

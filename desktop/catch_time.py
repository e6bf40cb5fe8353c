"""When a catch was made: the officer's time, the photo's own, or the time of recording,
and whether the device's clock or the camera's looks wrong (:func:`observed_time`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from desktop.catch_errors import CatchError
from desktop.photo_time import NO_ZONE, PhotoTime
from sync.store.clock import format_timestamp
from sync.store.clock_floor import ClockFloor

NO_FLOOR = ClockFloor()  # nothing known but the clock

# EXIF 2.31 (July 2016) added the offset a photo's time is used with; a camera that writes
# one and says it took the photo earlier has a clock that was never set (a reset clock
# starts at its firmware's date: 2000 and 1970 are common).
EXIF_OFFSETS_SINCE = datetime(2016, 7, 1, tzinfo=UTC)


# With the clock behind the floor (``sync.store.clock_floor``), the true time is later than
# that floor, by as much as the boat has been at sea since: a catch's time is taken up to
# this far past it. A year typed wrong is still refused. A photo is recorded within as long
# of being taken: one dated more than this before the release date or the hub time seen was
# taken by a camera whose clock was reset to its firmware's date (2019, 2021: after 2016).
CLOCK_BEHIND_SLACK = timedelta(days=90)


@dataclass(frozen=True)
class ObservedTime:
    """When a catch was made, and what says so."""

    at: datetime
    source: str  # "given" (by the officer), "photo" (its EXIF record) or "recorded" (now)
    note: str | None = None
    """Why the photo's own time was not used, where it has one, and that the device's clock
    looks wrong, where it does."""


def observed_time(
    given: datetime | None,
    photo: PhotoTime | None,
    now: datetime,
    *,
    floor: ClockFloor = NO_FLOOR,
) -> ObservedTime:
    """The officer's time first, then the photo's, then the time of recording. A photo's
    time is used only when it names a moment (an offset) no later than ``now``, not before
    ``EXIF_OFFSETS_SINCE`` and not more than ``CLOCK_BEHIND_SLACK`` before the release date
    or the hub time seen: one ahead of the clock, from before cameras wrote offsets, or
    from long before what this device knows has passed means a clock is wrong, and the
    recording time is then the honest answer.

    ``floor`` is what vouches for the true time besides the clock
    (``Observations.clock_floor``). A clock that reads more than ``BEHIND_TOLERANCE`` before
    its release date or hub time is wrong (a flat RTC battery, on a device that may never
    have synced): the true time is at least the floor's ``lower_bound``, so times up to that
    plus ``CLOCK_BEHIND_SLACK`` are taken instead of ``now``, the time of recording is that
    bound, and the note (or the refusal) says the clock looks wrong.
    Deterministic: the same arguments give the same answer."""
    behind, bound = floor.behind(now), floor.lower_bound()
    latest, recorded = now, now
    clock = None
    if behind is not None and bound is not None:
        latest, recorded = bound + CLOCK_BEHIND_SLACK, bound
        clock = (
            f"this device's clock looks wrong: it reads {format_timestamp(now)}, {behind};"
            " set it right"
        )
    if given is not None:
        if given > latest:
            also = f" ({clock}; times up to {format_timestamp(latest)} are taken)" if clock else ""
            raise CatchError(f"the time of the catch {given.isoformat()} is in the future{also}")
        return ObservedTime(given, "given", clock)
    if clock:
        clock += f"; recorded as of {format_timestamp(recorded)}, the latest time known to"
        clock += " have passed (--observed-at gives the catch's own)"
    if photo is None:
        return ObservedTime(recorded, "recorded", clock)
    note = _photo_refused(photo, latest, floor)
    if note is None and photo.taken_at is not None:
        return ObservedTime(photo.taken_at, "photo", clock)
    return ObservedTime(recorded, "recorded", "; ".join(n for n in (note, clock) if n))


def _photo_refused(photo: PhotoTime, latest: datetime, floor: ClockFloor) -> str | None:
    """Why the photo's own time is not the catch's (None: it is)."""
    if photo.taken_at is None:
        why = photo.no_moment or NO_ZONE
        return f"the photo's time {photo.reading} {why} (--observed-at gives one)"
    taken = photo.taken_at.isoformat()
    if photo.taken_at > latest:
        return f"the photo's time {taken} is later than this clock"
    if photo.taken_at < EXIF_OFFSETS_SINCE:
        return f"the photo's time {taken} predates cameras that write it"
    vouched = floor.vouched()
    if vouched is not None and photo.taken_at < vouched[0] - CLOCK_BEHIND_SLACK:
        return (
            f"the photo's time {taken} is over {CLOCK_BEHIND_SLACK.days} days before"
            f" {format_timestamp(vouched[0])}, {vouched[1]}: the camera's clock looks reset"
            " (--observed-at gives the catch's time)"
        )
    return None

"""When a catch was made: the officer's time, the photo's own, or the time of recording,
and whether the device's clock looks wrong (:func:`observed_time`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from desktop.catch_errors import CatchError
from desktop.photo_time import NO_ZONE, PhotoTime
from sync.store.clock import format_timestamp
from sync.store.edit_clock import BEHIND_TOLERANCE

# EXIF 2.31 (July 2016) added the offset a photo's time is used with; a camera that writes
# one and says it took the photo earlier has a clock that was never set (a reset clock
# starts at its firmware's date: 2000 and 1970 are common).
EXIF_OFFSETS_SINCE = datetime(2016, 7, 1, tzinfo=UTC)


# With the clock behind the hub time seen, the true time is later than that, by as much as
# the boat has been at sea since its last sync: a catch's time is taken up to this far past
# it. A year typed wrong is still refused.
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
    hub_seen: datetime | None = None,
) -> ObservedTime:
    """The officer's time first, then the photo's, then the time of recording. A photo's
    time is used only when it names a moment (an offset) no later than ``now`` and not
    before ``EXIF_OFFSETS_SINCE``: one ahead of the clock, or from before cameras wrote
    offsets, means a clock is wrong, and the recording time is then the honest answer.

    ``hub_seen`` is the newest hub time this device has pulled (``Observations.hub_time_seen``).
    A clock that reads more than ``BEHIND_TOLERANCE`` before it is wrong (a dead RTC battery):
    the true time is at least ``hub_seen``, so times up to ``hub_seen`` plus
    ``CLOCK_BEHIND_SLACK`` are taken instead of ``now``, the time of recording is
    ``hub_seen``, and the note (or the refusal) says the clock looks wrong.
    Deterministic: the same arguments give the same answer."""
    wrong = hub_seen is not None and now < hub_seen - BEHIND_TOLERANCE
    latest, recorded = now, now
    clock = None
    if wrong and hub_seen is not None:
        latest, recorded = hub_seen + CLOCK_BEHIND_SLACK, hub_seen
        clock = (
            f"this device's clock looks wrong: it reads {format_timestamp(now)}, before the"
            f" hub time {format_timestamp(hub_seen)} it has seen; set it right"
        )
    if given is not None:
        if given > latest:
            also = f" ({clock}; times up to {format_timestamp(latest)} are taken)" if clock else ""
            raise CatchError(f"the time of the catch {given.isoformat()} is in the future{also}")
        return ObservedTime(given, "given", clock)
    if clock:
        clock += "; recorded as of that hub time, --observed-at gives the catch's own"
    if photo is None:
        return ObservedTime(recorded, "recorded", clock)
    note = None
    if photo.taken_at is None:
        why = photo.no_moment or NO_ZONE
        note = f"the photo's time {photo.reading} {why} (--observed-at gives one)"
    elif photo.taken_at > latest:
        note = f"the photo's time {photo.taken_at.isoformat()} is later than this clock"
    elif photo.taken_at < EXIF_OFFSETS_SINCE:
        note = f"the photo's time {photo.taken_at.isoformat()} predates cameras that write it"
    else:
        return ObservedTime(photo.taken_at, "photo", clock)
    return ObservedTime(recorded, "recorded", "; ".join(n for n in (note, clock) if n))

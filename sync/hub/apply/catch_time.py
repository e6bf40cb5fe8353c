"""A pushed catch's time (``observed_at``) is no later than a clock vouches for.

A device dates a catch no later than its own clock (``desktop.catch_time``: a typed time
past it is refused, a photo's is not used), save one that knows its clock is behind the
hub time it saw or the date of its jaga release: that one takes a typed time up to 90 days
past the latest time it knows has passed (``sync.store.clock_floor``). So the hub
takes a catch's time up to the later of two clocks, each plus the skew it allows a device
clock ahead (``lww.allowed_skew``, which holds edits' stamps too): its own, and the pushing
device's when it queued the entry (``OutboxEntry.occurred_at``). A boat whose clock runs
hours ahead (its zone set wrong) hands its catches over as it dated them on board, and its
edits' stamps are still clamped; a time past both clocks (a year typed wrong, a device that
does not check, a time typed ahead on a boat whose clock is behind) is refused for good,
that catch alone: its device quarantines the entry with the reason and keeps the catch.

Only a time the hub would take is judged: a new catch's, or its author's change of it. A
time the hub already holds (taken before this check) is not judged again, so the reviews
that re-send it go on; another device's push carries the catch's facts only as it pulled
them, and the hub drops them (``records``).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from sync.hub.apply.context import EntryContext, EntryRejectedError
from sync.hub.apply.lww import allowed_skew
from sync.protocol import format_timestamp


def check_catch_time(ctx: EntryContext, observed_at: datetime, held: datetime | None) -> None:
    """Refuse ``observed_at`` past both clocks (see the module); ``held``: the catch's time
    on the hub, None for a new catch."""
    if observed_at == held:
        return
    hub_now, queued = timezone.now(), ctx.entry.occurred_at
    if observed_at <= max(hub_now, queued) + allowed_skew():
        return
    raise EntryRejectedError(
        f"the catch's time {format_timestamp(observed_at)} is in the future: later than the"
        f" hub's clock ({format_timestamp(hub_now)}) and this device's when it queued the"
        f" catch ({format_timestamp(queued)}), by more than the"
        f" {allowed_skew().total_seconds():.0f} s a clock may run ahead; record the catch"
        " again with its right time"
    )

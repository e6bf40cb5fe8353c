"""Each device's audit bytes held to ``JAGA_HUB_AUDIT_DAILY_BYTES`` over any 24 hours.

Counted per UTC day, a device could send the limit just before midnight and the limit again
just after: twice in an hour. So, as ``sync.hub.throttle`` does for its limits, time is cut
into slices (``SLICE_S``, ``SLICES`` a day) and each batch taken is counted in its slice
(``AuditChainState.recent_bytes``: slice -> bytes, the slices of the last day only). A batch
is taken only if it and the bytes of its slice and the ``SLICES`` before stay within the
limit. Any 24 hours lie within those slices, so none holds more than the limit; the price is
that bytes count for a day and at most a slice more. A batch refused is not counted (the
refusal is, in ``over_limit``), and the refusal says when enough bytes will be a day old.
The state's row is locked by the caller (``sync.hub.audit.anchor``), so two batches of one
device are counted one after the other.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from sync.hub.models import AuditChainState
from sync.protocol import AuditLink, format_timestamp

SLICE_S = 3600  # an hour: a day's slices fit a small JSON object on the device's row
SLICES = 24  # slices in the limit's 24 hours


def over_daily_limit(state: AuditChainState, links: list[AuditLink]) -> str:
    """Count the links' bytes (each entry's JSON, as the device counts them) in the device's
    last 24 hours; past ``JAGA_HUB_AUDIT_DAILY_BYTES``, count the refusal instead and say
    why (empty: within it). The caller saves ``state``."""
    now = timezone.now()
    current = math.floor(now.timestamp() / SLICE_S)
    held = recent_bytes(state, current)
    size = sum(len(link.model_dump_json().encode()) for link in links)
    limit = int(settings.JAGA_HUB_AUDIT_DAILY_BYTES)
    taken = sum(held.values())
    if taken + size <= limit:
        held[current] = held.get(current, 0) + size
        state.recent_bytes = {str(index): count for index, count in sorted(held.items())}
        return ""
    state.recent_bytes = {str(index): count for index, count in sorted(held.items())}
    state.over_limit += 1
    state.over_limit_at = now
    return (
        f"audit batch not taken: its {size} bytes of entries would take this device past "
        f"the hub's limit of {limit} bytes in any 24 hours ({taken} taken in the last day); "
        f"the hub takes it from {format_timestamp(_room_at(held, size, limit))}, and shows "
        "the refusal to its operators (Audit chain states)"
    )


def recent_bytes(state: AuditChainState, current: int) -> dict[int, int]:
    """The bytes counted in slice ``current`` and the ``SLICES`` before it (older ones, and
    an unreadable entry, are dropped; so is a slice "in the future", left by a clock that
    was set back since, which would otherwise lock the device until that time came)."""
    held: dict[int, int] = {}
    for key, value in dict(state.recent_bytes or {}).items():
        try:
            index, count = int(key), int(value)
        except (TypeError, ValueError):
            continue
        if current - SLICES <= index <= current and count > 0:
            held[index] = count
    return held


def _room_at(held: dict[int, int], size: int, limit: int) -> datetime:
    """When enough of ``held`` is out of the window for ``size`` more bytes."""
    left = sum(held.values())
    for index, count in sorted(held.items()):
        left -= count
        if left + size <= limit:
            return datetime.fromtimestamp((index + SLICES + 1) * SLICE_S, UTC)
    newest = max(held, default=0)  # never: a batch's body is within the limit (settings)
    return datetime.fromtimestamp((newest + SLICES + 1) * SLICE_S, UTC)

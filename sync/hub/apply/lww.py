"""Last-writer-wins per field, with a deterministic tie-break.

Each record keeps, per field, the stamp of the write that set it: ``[time, writer]``, where
time is the device's time of the edit (UTC, fixed-width text, so text order is time order)
and writer is the device id, or ``"hub"`` for an operator's edit. A write wins a field when
its stamp is greater: later time first, then the greater writer id. ``"hub"`` sorts after
every uuid, so on an exact tie the hub (authoritative) wins. A device whose clock runs ahead
is clamped to the hub's clock plus a tolerance, so it cannot pin a field forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from sync.protocol import format_timestamp

HUB_WRITER = "hub"


@dataclass(frozen=True, order=True)
class Stamp:
    time: str
    writer: str

    def as_json(self) -> list[str]:
        return [self.time, self.writer]


def allowed_skew() -> timedelta:
    """How far ahead of the hub's clock a device's may run (``JAGA_HUB_MAX_CLOCK_SKEW_S``)."""
    return timedelta(seconds=settings.JAGA_HUB_MAX_CLOCK_SKEW_S)


def stamp_for(occurred_at: datetime, writer: str) -> Stamp:
    """The stamp of an edit, with the device's clock clamped to the hub's plus the skew."""
    limit = timezone.now() + allowed_skew()
    return Stamp(format_timestamp(min(occurred_at, limit)), writer)


def hub_stamp() -> Stamp:
    return Stamp(format_timestamp(timezone.now()), HUB_WRITER)


def _stored(versions: dict[str, Any], field: str) -> Stamp | None:
    value = versions.get(field)
    return Stamp(str(value[0]), str(value[1])) if value else None


def merge(
    current: dict[str, Any], versions: dict[str, Any], incoming: dict[str, Any], stamp: Stamp
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fields of ``incoming`` that win, and the record's updated stamps.

    A field wins when it has no stamp yet or ``stamp`` is greater than its stamp. A winning
    field whose value is unchanged still takes the stamp (the later writer confirmed it) but
    is not reported as changed.
    """
    changed: dict[str, Any] = {}
    updated = dict(versions)
    for field, value in incoming.items():
        if not wins(versions, field, stamp):
            continue
        updated[field] = stamp.as_json()
        if current.get(field) != value:
            changed[field] = value
    return changed, updated


def wins(versions: dict[str, Any], field: str, stamp: Stamp) -> bool:
    """Whether a write stamped ``stamp`` takes ``field``: it has no stamp yet, or a smaller one."""
    previous = _stored(versions, field)
    return previous is None or stamp > previous


def newest_time(versions: dict[str, Any]) -> datetime | None:
    """The time of the newest stamp among a record's fields (None: no stamps)."""
    times = [str(value[0]) for value in versions.values() if value]
    return datetime.fromisoformat(max(times)) if times else None


def initial_versions(fields: dict[str, Any], stamp: Stamp) -> dict[str, Any]:
    return {field: stamp.as_json() for field in fields}

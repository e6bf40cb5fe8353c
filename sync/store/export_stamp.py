"""The time a corrections export from this device is stamped with (``exported_at``).

``jaga fish export-training-set`` reads device exports in the order of that stamp, so a
device whose clock was set back (a dead RTC battery, a wrong manual setting) would stamp a
newer export before an older one, and its newer "not a fish" would lose to the label it
takes back. The stamp is therefore the latest of the device's clock, the hub time it has
seen (``edit_clock.hub_time_seen``, never past the hub's true time), its last edit's time
and its previous export's stamp, each of the last three plus ``STEP``: all of them are past
when the export is written. The previous stamp is a ``sync_state`` row, written before the export
reads the store (an export that then fails leaves it advanced, which orders nothing wrong).

The cost: an export made once with the clock far ahead keeps this device's later exports
at least that far ahead (against other devices' exports; a hub's outranks them all) until
the clock passes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.edit_clock import LAST_EDIT, STEP, hub_time_seen
from sync.store.state_rows import get_value, put_value

LAST_EXPORT = "clock.corrections_exported"


def export_time(connection: Any, clock: Clock) -> datetime:
    """The stamp for an export written now, kept as the last; inside a write transaction."""
    now = clock.now()
    past = [hub_time_seen(connection), _read(connection, LAST_EDIT), _read(connection, LAST_EXPORT)]
    moment = max([now, *(known + STEP for known in past if known is not None)])
    put_value(connection, LAST_EXPORT, format_timestamp(moment), now)
    return moment


def _read(connection: Any, name: str) -> datetime | None:
    value = get_value(connection, name)
    return None if value is None else parse_timestamp(value)

"""People the hub kept after this device erased them early for retention, and until when.

A device whose clock runs ahead of the hub's erases a person when their retention date
passes by its own clock; the hub goes by its own, keeps them (``early_retention``) and
sends them again, and the device takes them back (``sync.client.apply``). Left at that, the
device would erase them again at its next sync and get them back again, at every sync until
the date passed for the hub: an audit entry, a tombstone, a purge of the store's files and
the person missing from the gallery each time.

So when a person comes back that way, the device notes when to erase them next: their date,
plus how far its clock ran ahead of the hub's when they came back (its clock then, less the
hub's ``Date`` in that answer), at most ``MAX_DEFERRAL`` (30 days). A hub whose clock itself
ran behind for a while (the other reading of the same gap) cannot keep someone on this device
for longer than that, and an answer without a ``Date`` defers by ``UNMEASURED_DEFERRAL``.
The hub's own purge reaches the device as a tombstone meanwhile, whatever the note says.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sync.store.clock import format_timestamp
from sync.store.state_rows import put_value

KEPT = "retention.kept."  # + a person's uid: when this device erases them next
# A clock days ahead (a date typed wrong) would otherwise be back to erasing at every sync;
# a hub clock that briefly ran behind (the other reading of the same gap) keeps someone at
# most this long on a device that then stays offline: online, the hub's purge reaches it.
MAX_DEFERRAL = timedelta(days=30)
UNMEASURED_DEFERRAL = timedelta(days=1)  # an answer without the hub's Date


def note_kept_by_hub(
    connection: Any,
    person_uid: str,
    retain_until: datetime,
    now: datetime,
    hub_now: datetime | None,
) -> None:
    """Inside a pull's transaction: the hub sent ``person_uid`` again after this device's
    retention erasure, in an answer dated ``hub_now`` (None: not said)."""
    ahead = UNMEASURED_DEFERRAL if hub_now is None else now - hub_now
    until = retain_until + min(max(ahead, timedelta(0)), MAX_DEFERRAL)
    put_value(connection, KEPT + person_uid, format_timestamp(until), now)


def forget_kept(connection: Any, person_uid: str) -> None:
    """Inside an erasure's transaction: nobody to keep any more."""
    connection.execute("DELETE FROM sync_state WHERE name = ?", (KEPT + person_uid,))


# ``People.expired``'s condition on ``people`` rows: not kept past ``?`` (now) by a note.
NOT_KEPT = (
    "NOT EXISTS (SELECT 1 FROM sync_state WHERE name = '" + KEPT + "' || people.person_uid"
    " AND value > ?)"
)

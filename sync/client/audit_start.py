"""Where a registration's anchoring of the audit chain begins: at the registration.

The hub's receipt is kept per device id (``sync.client.audit_state.anchored_name``), so a store
registered again (with another hub, or another site of the same hub: a new device id) has
none for the new device. Sent from entry 1, the whole chain would go to the new hub: the old
hub's person uids in enrolments, every access decision, an erasure's typed reason, another
organisation's (or another site's) records. So ``jaga sync register`` appends an entry of its
own (``REGISTERED_ACTION``, naming the new device) in the transaction that keeps the
registration, after the old site's ``person.left_site`` entries, and notes it as where the
new device's anchoring begins (``begins_name``: its sequence and its previous hash). The hub
takes a chain that begins with that entry from a device it holds none of (``sync.hub.audit``):
linked to what came before by its previous hash alone, so it verifies everything from there
on and receives nothing before. ``jaga audit verify`` still checks the whole chain here.
A restore that brings back a chain without this note for the registered device (a backup
made before registering) appends such an entry in the restored store
(``sync.store.audit_begins``).

The same device id again (a new code for the same device) keeps the receipt it has, or the
start noted first: its chain at the hub goes on as it was. Not so a device id the store had
before it was registered as another (``registered_as``): its receipt and start are of the
chain before that registration, and sent on from there, the chain would bring the hub what
the store recorded as the other device (another site's or hub's records). They are dropped,
and its anchoring begins at this registration's entry, as a new device's does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sync.client.config import Registration
from sync.protocol import REGISTERED_ACTION
from sync.store import Store
from sync.store.audit_begins import ANCHORED_AT_PREFIX, ANCHORED_PREFIX, BEGINS_PREFIX
from sync.store.state_rows import get_value, put_value


def begins_name(device_id: UUID | str) -> str:
    return f"{BEGINS_PREFIX}{device_id}"


def begin_at_registration(
    connection: Any,
    store: Store,
    registration: Registration,
    operator: str,
    now: datetime,
    *,
    registered_as: str | None = None,
) -> None:
    """Inside the registration's write transaction: append its entry and, for a device id
    with no receipt and no start of its own yet, note that entry as where its anchoring
    begins. ``registered_as``: the device id the store was registered as until now; another
    one leaves this device id's receipt and start, of its chain before, no longer applying."""
    device_id = str(registration.device_id)
    if registered_as is not None and registered_as != device_id:
        _forget_notes(connection, device_id)
    entry = store.audit.append(
        connection,
        actor=operator,
        action=REGISTERED_ACTION,
        subject=device_id,
        details={"device_id": device_id, "site": registration.site},
    )
    if get_value(connection, ANCHORED_PREFIX + device_id) is not None:
        return
    if get_value(connection, begins_name(device_id)) is None:
        put_value(connection, begins_name(device_id), f"{entry.sequence} {entry.prev_hash}", now)


def _forget_notes(connection: Any, device_id: str) -> None:
    """Drop the receipt (and when it came) and the start kept for ``device_id``."""
    names = (ANCHORED_PREFIX + device_id, ANCHORED_AT_PREFIX + device_id, begins_name(device_id))
    connection.execute(
        f"DELETE FROM sync_state WHERE name IN ({','.join('?' * len(names))})", names
    )

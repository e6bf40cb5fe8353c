"""A restored store's audit anchoring begins where its registration's would: never before it.

A device's anchoring begins at its registration's entry (``sync.client.audit_start``: the
``audit.begins.<device id>`` note), or goes on from the hub's receipt
(``audit.anchored.<device id>``). A restore keeps the replaced store's registration
(``sync.store.registration``) but the backup's chain and ``sync_state``: a backup made before
``jaga sync register`` (or under another device id of the same site and hub) holds neither
note for the registered device, nor its registration's entry. Its next sync would then send
the chain from entry 1: the records of before the registration (another hub's or site's
person uids, access decisions, an erasure's typed reason), which this hub never had.

So when the restored copy holds neither note for the device it stays registered as, the
restore appends that device's registration entry (``REGISTERED_ACTION``, naming it, as
``jaga sync register`` does) and notes it as where its anchoring begins. The replaced store's
notes are not carried: they name entries of its own chain, which the restored one does not
hold. The hub judges the restored chain as any restore's (a break its operator acknowledges,
where it holds entries of this device), but is never sent what came before that entry.
"""

from __future__ import annotations

from sync.protocol import REGISTERED_ACTION
from sync.store.registration import Rows, row_value
from sync.store.state_rows import get_value, put_value
from sync.store.store import Store

ANCHORED_PREFIX = "audit.anchored."  # the hub's receipt, per device id (``sync.client.audit``)
BEGINS_PREFIX = "audit.begins."  # where a device's anchoring begins (``sync.client.audit_start``)


def begin_after_restore(restored: Store, registration: Rows, operator: str) -> int | None:
    """In the restored copy, registered as ``registration`` (its rows): append the device's
    registration entry and note it as where its anchoring begins, unless the copy holds a
    start or a receipt for that device; the entry's sequence, None when none was needed."""
    device_id = row_value(registration, "device_id")
    if not device_id:
        return None
    with restored.database.write() as connection:
        if any(get_value(connection, f"{prefix}{device_id}") for prefix in _NOTES):
            return None
        entry = restored.audit.append(
            connection,
            actor=operator,
            action=REGISTERED_ACTION,
            subject=device_id,
            details={
                "device_id": device_id,
                "site": row_value(registration, "site"),
                "restored": True,
            },
        )
        start = f"{entry.sequence} {entry.prev_hash}"
        put_value(connection, f"{BEGINS_PREFIX}{device_id}", start, restored.clock.now())
    return entry.sequence


_NOTES = (ANCHORED_PREFIX, BEGINS_PREFIX)

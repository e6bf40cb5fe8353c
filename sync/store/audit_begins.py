"""Where a device's audit anchoring begins when no registration noted it: never before it.

A device's anchoring begins at its registration's entry (``sync.client.audit_start``: the
``audit.begins.<device id>`` note), or goes on from the hub's receipt
(``audit.anchored.<device id>``). Two stores hold neither for the device they are
registered as, and would send the chain from entry 1, the records of before the
registration (another hub's or site's person uids, access decisions, an erasure's typed
reason), which this hub never had:

* a restored one (``begin_after_restore``): a restore keeps the replaced store's
  registration (``sync.store.registration``) but the backup's chain and ``sync_state``, and a
  backup made before ``jaga sync register`` (or by another device id of the same site and
  hub) holds no note for the registered device, nor its registration's entry. The replaced
  store's notes are not carried: they name entries of its own chain. The restore appends
  the entry before those of the erasures it carries over (``sync.store.backups``), so the
  hub is sent them; a hub that holds entries of the device records a break at it
  (``sync.hub.audit_restart``);
* one registered anew before registrations noted a start (``begin_after_earlier_device``),
  and not anchored since: where the store holds a note of another device id (it was that
  device, and anchored its chain as it), the chain before is that device's.

Either appends the device's registration entry (``REGISTERED_ACTION``, naming it, as ``jaga
sync register`` does) and notes it as where its anchoring begins. A device registered once,
before starts were noted, holds no other device's note: it sends from entry 1, its own.
"""

from __future__ import annotations

from typing import Any

from sync.protocol import REGISTERED_ACTION
from sync.store.registration import Rows, row_value
from sync.store.state_rows import get_value, put_value
from sync.store.store import Store

ANCHORED_PREFIX = "audit.anchored."  # the hub's receipt per device id (``sync.client.audit_state``)
ANCHORED_AT_PREFIX = "audit.anchored_at."  # when the hub last said which entries it holds
BEGINS_PREFIX = "audit.begins."  # where anchoring begins (``sync.client.audit_start``)
_NOTES = (ANCHORED_PREFIX, BEGINS_PREFIX)


def begin_after_restore(restored: Store, registration: Rows, operator: str) -> int | None:
    """In the restored copy, registered as ``registration`` (its rows): begin the device's
    anchoring at a registration entry appended now, unless the copy holds a start or a
    receipt for it; the entry's sequence, None when none was needed."""
    device_id = row_value(registration, "device_id")
    if not device_id:
        return None
    with restored.database.write() as connection:
        if _noted(connection, device_id):
            return None
        site = row_value(registration, "site")
        return _begin(connection, restored, device_id, site, operator, why="restored")


def begin_after_earlier_device(store: Store, device_id: str, operator: str) -> int | None:
    """Before anchoring as ``device_id``, the store's registered device: begin its anchoring
    at a registration entry appended now when the store holds no start or receipt for it but
    one of another device id; the entry's sequence, None when none was needed."""
    with store.database.write() as connection:
        if _noted(connection, device_id) or get_value(connection, "device_id") != device_id:
            return None
        if not _noted_for_another(connection, device_id):
            return None
        site = get_value(connection, "site") or ""
        return _begin(connection, store, device_id, site, operator, why="noted_late")


def _noted(connection: Any, device_id: str) -> bool:
    return any(get_value(connection, f"{prefix}{device_id}") for prefix in _NOTES)


def _noted_for_another(connection: Any, device_id: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sync_state WHERE (name LIKE ? OR name LIKE ?) AND value != ''"
        " AND name NOT IN (?, ?) LIMIT 1",
        (*(f"{prefix}%" for prefix in _NOTES), *(f"{prefix}{device_id}" for prefix in _NOTES)),
    ).fetchone()
    return row is not None


def _begin(
    connection: Any, store: Store, device_id: str, site: str, operator: str, *, why: str
) -> int:
    entry = store.audit.append(
        connection,
        actor=operator,
        action=REGISTERED_ACTION,
        subject=device_id,
        details={"device_id": device_id, "site": site, why: True},
    )
    start = f"{entry.sequence} {entry.prev_hash}"
    put_value(connection, f"{BEGINS_PREFIX}{device_id}", start, store.clock.now())
    return entry.sequence

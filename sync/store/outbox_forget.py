"""Acknowledged outbox entries that nothing reads again, deleted (``sync.store.outbox``).

Once the hub has acknowledged an entry, nothing sends it again (no move leaves
``acknowledged``; a hub restored from a backup is sent again what it lost from the
records and these entries, ``sync.store.resend``). So an acknowledged access decision,
person or face template upsert, which nothing reads again, is deleted in the transaction
that records the acknowledgement
(``settle``; ``mark_acknowledged`` leaves it to the sweep): a kiosk's store then stops
growing by a whole entry per decision, and the freed pages are reused by the next writes (no
vacuum needed). The others stay, being read after: a
tombstone (its reason, ``sync.client.apply``; carried over a restore, ``sync.store.erasures``;
once acknowledged it keeps the retention purge's ``RETENTION_REASON``, but a reason an
operator typed, which may name whoever asked, gives way to ``REASON_NOT_KEPT``: the hub has
the erasure, and the ``person.erased`` audit entry keeps the reason until retention deletes
it; the purge that takes the old text out of the WAL is owed, as after an erasure),
a fish observation (the box a catch was first recorded with, ``sync.store.corrections``) and
a photo (its bytes are uploaded once the hub acknowledged it, ``sync.client.uploads``). The
``acknowledged`` count of ``jaga sync status`` and the metrics therefore counts those only.
Entries older releases kept are deleted by ``forget_acknowledged``, ``SWEEP_BATCH`` at a time.
The records themselves (access events, people, the audit log) are not touched here, but
for the time the hub took an access event (``held_since``, stamped with its acknowledgement
by ``settle``): old access events and audit entries the hub has held long enough go by
``sync.store.retention``.
"""

from __future__ import annotations

from typing import Any

from sync.protocol import RETENTION_REASON
from sync.store.clock import Clock
from sync.store.retention import REASON_NOT_KEPT
from sync.store.state_rows import get_value, put_value

# An acknowledged tombstone keeps no reason typed (see the module); the retention purge's own
# reason stays: it names no one, and ``sync.client.apply`` reads it.
_FORGET_REASON = (
    "UPDATE outbox SET payload = json_set(payload, '$.reason', ?) WHERE idempotency_key = ?"
    " AND state = 'acknowledged' AND operation = 'tombstone'"
    " AND json_extract(payload, '$.reason') NOT IN (?, ?)"
)
# The acknowledged entries nothing reads again (see the module); a new kind is kept.
_FORGETTABLE = (
    "state = 'acknowledged' AND operation = 'upsert'"
    " AND entity IN ('access_event', 'person', 'face_template')"
)
# How many acknowledged entries one sweep looks at: one short write transaction.
SWEEP_BATCH = 2000
_SWEPT = "outbox.swept_through"  # sync_state: the sweep has looked at every entry up to here


def sweep_acknowledged(connection: Any, clock: Clock) -> int:
    """``Outbox.forget_acknowledged``, inside its write transaction: delete what a release
    before this one kept of the next ``SWEEP_BATCH`` acknowledged entries, and keep where
    it got to with the change; returns how many."""
    start = int(get_value(connection, _SWEPT) or 0)
    looked = connection.execute(
        "SELECT max(sequence) FROM (SELECT sequence FROM outbox"
        " WHERE state = 'acknowledged' AND sequence > ? ORDER BY sequence LIMIT ?)",
        (start, SWEEP_BATCH),
    ).fetchone()[0]
    if looked is None:
        return 0
    forgotten = forget(connection, "sequence > ? AND sequence <= ?", start, looked)
    put_value(connection, _SWEPT, str(looked), clock.now())
    return forgotten


def forget(connection: Any, where: str, *values: Any) -> int:
    """Delete the acknowledged entries ``where`` names that nothing reads again."""
    cursor = connection.execute(f"DELETE FROM outbox WHERE {where} AND {_FORGETTABLE}", values)
    return int(cursor.rowcount)


def forget_reason(connection: Any, key: str) -> int:
    """Give an acknowledged tombstone ``REASON_NOT_KEPT`` for the reason typed; 1 if it did."""
    values = (REASON_NOT_KEPT, key, REASON_NOT_KEPT, RETENTION_REASON)
    return int(connection.execute(_FORGET_REASON, values).rowcount)

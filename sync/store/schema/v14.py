"""Schema version 14: an erasure this device sent keeps no reason typed once the hub took it.

The outbox keeps this device's tombstones after the hub acknowledged them (they are read
again: ``sync.client.apply``, ``sync.store.erasures``, ``sync.store.resend``), and with them
the reason an operator typed, free text that may name whoever asked. The hub has the
erasure by then, and the ``person.erased`` audit entry keeps the reason until retention
deletes it; so an acknowledged tombstone holds ``sync.store.retention.REASON_NOT_KEPT``
instead (``Outbox.settle`` from now on; this migration for those acknowledged before). The
retention purge's own reason (``RETENTION_REASON``) stays: it names no one, and the pull
reads it. No table changes; the migration owes a purge (``sync.store.purge_mark``), as v13
does, so the old rows leave the write-ahead log too.
"""

SQL = """
UPDATE outbox SET payload = json_set(payload, '$.reason', :not_kept)
WHERE operation = 'tombstone' AND state = 'acknowledged'
AND json_extract(payload, '$.reason') NOT IN (:not_kept, :retention)
"""

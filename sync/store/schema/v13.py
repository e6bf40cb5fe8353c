"""Schema version 13: the erasure ledger keeps who was erased and when, not the reason typed.

The ledger (schema 12, ``sync.store.schema.v12``) outlives every audit entry: it is there
so that a restore of an older backup erases the people erased since (``sync.store.erasures``)
and a restored hub is told again (``sync.store.resend``), and for that it needs the
person's uid and when they were erased. The reason is free text an operator typed, and may
name the person who asked or how ("John Smith asked by email ..."): kept for ever, it
would outlive the erasure it explains. So the ledger no longer has it; the ``person.erased``
entry still holds it until retention deletes the entry, as every decision's. An erasure read
from the ledger is given a fixed reason (``sync.store.retention.REASON_NOT_KEPT``).

A store upgraded from schema 12 has the reasons already in its ledger dropped with the
column (the other rows and both append-only triggers stay as they were: the column is
dropped as a change of the schema, not by an ``UPDATE`` the triggers would refuse). With
``secure_delete`` on, the rows are written again without it, and the migration owes a
purge (``sync.store.purge_mark``), as an erasure does, so the old rows leave the
write-ahead log too: the next open or write of the store runs it.
"""

SQL = """
ALTER TABLE erasure_ledger DROP COLUMN reason;
"""

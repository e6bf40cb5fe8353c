"""Rewrite the tables an erasure leaves the erased person's data in, so it leaves the files.

PostgreSQL never overwrites a row in place: the erasure's DELETE of the templates and the
change-log rows, and its UPDATE that blanks the person, leave the old rows in the table
files as dead tuples (the face vector, the HNSW index's normalized copy of it, the base64
template and the name in the change log's JSON). VACUUM, autovacuum included, only marks
their space free for later rows; it does not clear it. ``VACUUM FULL`` writes each table
(and its indexes) into new files and deletes the old ones, which is what takes the data out.

It runs once the erasing transaction commits (once per transaction, however many people it
erased), holding each table locked for the time its copy takes: pushes and pulls of every
site wait meanwhile. Should it fail (a lock held past ``lock_timeout``, no disk room for the
copy), the erasure stands and a warning says to run ``jaga hub manage rewrite_erased``.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction

_log = logging.getLogger(__name__)

# Where an erased person's data sits: their row, their templates (and the HNSW index),
# the change log's payloads.
ERASED_DATA_TABLES = ("hub_person", "hub_facetemplate", "hub_change")


def rewrite_tables() -> None:
    """``VACUUM FULL`` the tables an erasure leaves dead rows in; outside any transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (FULL) {', '.join(ERASED_DATA_TABLES)}")


def rewrite_after_commit() -> None:
    """Rewrite the tables once the caller's transaction commits (at most once for it)."""
    pending = (entry[1] for entry in connection.run_on_commit)
    if _rewrite_logged not in pending:
        transaction.on_commit(_rewrite_logged)


def _rewrite_logged() -> None:
    try:
        rewrite_tables()
    except DatabaseError as error:
        _log.warning(
            "erasure: the tables were not rewritten (%s); the erased data stays in the"
            " database files until `jaga hub manage rewrite_erased` succeeds",
            error,
        )

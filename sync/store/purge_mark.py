"""The mark an erasure leaves in the store until its data has left the store's files.

An erasure's rows are zeroed (``secure_delete``) in the pages it writes, but those pages go to
the write-ahead log: the person's photo and name stay in the main file, and in the log's older
frames, until a checkpoint folds the erasure in and empties the log (``Database.purge``).
Another connection's read holds that back, and the process that erased may exit first (the
CLI). So the erasure's own transaction writes this mark, a ``sync_state`` row (schema 2 on),
and whichever process opens or writes the store next retries the purge until one succeeds and
removes the mark. Its value changes with each erasure: a purge removes only the mark it saw
before it ran, never one an erasure committed after it.
"""

from __future__ import annotations

import secrets
from typing import Any

PURGE_OWED = "store.purge_owed"
SINCE_SCHEMA = 2  # the version that made sync_state


def owe_purge(connection: Any) -> None:
    """Inside an erasure's transaction: its purge is owed."""
    connection.execute(
        "INSERT INTO sync_state (name, value, updated_at)"
        " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (PURGE_OWED, secrets.token_hex(8)),
    )


def owed_mark(connection: Any) -> tuple[str, str] | None:
    """The mark's value and when the erasure that set it committed (UTC), or None."""
    row = connection.execute(
        "SELECT value, updated_at FROM sync_state WHERE name = ?", (PURGE_OWED,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def remove_mark(connection: Any, value: str) -> None:
    connection.execute("DELETE FROM sync_state WHERE name = ? AND value = ?", (PURGE_OWED, value))

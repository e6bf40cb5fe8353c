"""Versioned, forward-only schema migrations.

The schema version is SQLite's ``user_version``. Each migration runs in its own write
transaction together with the version bump, so a crash leaves the store at the old version
or the new one, never between. A store newer than this code is refused, not "downgraded".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlcipher3

from sync.errors import SchemaVersionError
from sync.protocol import RETENTION_REASON
from sync.store import purge_mark
from sync.store.retention import REASON_NOT_KEPT
from sync.store.schema import (
    v1,
    v2,
    v3,
    v4,
    v5,
    v6,
    v7,
    v8,
    v9,
    v10,
    v11,
    v12,
    v13,
    v14,
    v15,
    v16,
    v17,
    v18,
    v19,
    v20,
)

# "JAGA" in ASCII: tells a Jaga store from any other SQLCipher file with the same key.
APPLICATION_ID = 0x4A414741


@dataclass(frozen=True)
class Migration:
    """Brings the schema from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[Any], None]


def statements(script: str) -> list[str]:
    """Split a script into whole statements (trigger bodies keep their inner semicolons)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlcipher3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:80]!r}")
    return found


def run_script(script: str) -> Callable[[Any], None]:
    """A migration step that runs ``script`` statement by statement inside the transaction.

    (``executescript`` would commit first, which would break the one-transaction rule.)
    """

    def apply(connection: Any) -> None:
        for statement in statements(script):
            connection.execute(statement)

    return apply


def _initial_schema(connection: Any) -> None:
    run_script(v1.SQL)(connection)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _ledger_without_reasons(connection: Any) -> None:
    """Drop the reasons typed from the erasure ledger, and owe the purge that takes the old
    rows out of the write-ahead log (``v13``)."""
    run_script(v13.SQL)(connection)
    purge_mark.owe_purge(connection)


def _sent_erasures_without_reasons(connection: Any) -> None:
    """Give the erasures the hub acknowledged ``REASON_NOT_KEPT`` for the reason typed, and
    owe the purge that takes the old rows out of the write-ahead log (``v14``)."""
    reasons = {"not_kept": REASON_NOT_KEPT, "retention": RETENTION_REASON}
    if connection.execute(v14.SQL, reasons).rowcount:
        purge_mark.owe_purge(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "people, templates, photos, fish, access events, audit, outbox", _initial_schema),
    Migration(2, "sync client state and uploads; fish reviewer", run_script(v2.SQL)),
    Migration(3, "outbox counts the hub's retryable refusals", run_script(v3.SQL)),
    Migration(4, "fish observations keep their species pack version", run_script(v4.SQL)),
    Migration(5, "fish observations keep the fish's box in a shared photo", run_script(v5.SQL)),
    Migration(6, "the audit log refuses an insert over an existing entry", run_script(v6.SQL)),
    Migration(7, "photos are found by their sha256", run_script(v7.SQL)),
    Migration(8, "fish observations keep the species pack's verdict", run_script(v8.SQL)),
    Migration(
        9, "fish observations say whether this device knows the fish's box", run_script(v9.SQL)
    ),
    Migration(10, "pulled changes set aside until they can apply", run_script(v10.SQL)),
    Migration(
        11, "fish observations say whether they were recorded here or pulled", run_script(v11.SQL)
    ),
    Migration(
        12,
        "the audit chain may lose a prefix the hub holds, from a checkpoint; erasures kept",
        run_script(v12.SQL),
    ),
    Migration(13, "the erasure ledger keeps no reason typed", _ledger_without_reasons),
    Migration(14, "erasures the hub took keep no reason typed", _sent_erasures_without_reasons),
    Migration(15, "outbox entries left unsent for another hub", run_script(v15.SQL)),
    Migration(16, "access decisions recorded for another hub", run_script(v16.SQL)),
    Migration(17, "the hub each fish observation is of, known from then on", run_script(v17.SQL)),
    Migration(18, "access events are append-only but for their sync stamps", run_script(v18.SQL)),
    Migration(19, "access events say when the kiosk's clock was judged wrong", run_script(v19.SQL)),
    Migration(20, "a pulled catch names the photo the store lacks", run_script(v20.SQL)),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(connection: Any) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def pending_migrations(current: int, migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations still to run, in order; refuse a store newer than the code."""
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise SchemaVersionError(
            f"the store has schema version {current}, newer than this Jaga understands "
            f"({latest}); upgrade Jaga"
        )
    expected = list(range(1, latest + 1))
    if [m.version for m in migrations] != expected:
        raise ValueError("migrations must be numbered 1, 2, 3, ... without gaps")
    return [m for m in migrations if m.version > current]


def migrate(connection: Any, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every pending migration, each in its own ``BEGIN IMMEDIATE`` transaction.

    The version is read again inside each transaction, so two processes opening an old store
    at once do not both apply the same step. Returns the versions applied.
    """
    applied: list[int] = []
    for migration in pending_migrations(schema_version(connection), migrations):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(connection) >= migration.version:
                connection.execute("ROLLBACK")
                continue
            migration.apply(connection)
            connection.execute(f"PRAGMA user_version = {migration.version}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied

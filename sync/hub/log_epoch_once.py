"""``jaga hub renew-log-epoch`` renews every site's log epoch once per restore.

Each renewal has every device of every site push again all it holds and pull its site from
0. Run a second time with no restore in between (an operator repeating it, a retried script,
a run again once the erasure journal can be read, as the README says to), it would have the
devices that synced meanwhile do all that again, for nothing: the log was not rewound since.

The database's rows cannot tell: a backup taken after the renewal holds it as it was. So the
command keeps, with its renewal (``LogEpochRenewal``), PostgreSQL's identity of the database
(``database_identity``): the cluster's system identifier, its current timeline, the
database's oid and the oid of that record's own table. A restore changes one of them: ``pg_restore
--clean`` makes every table anew (new oids, the record restored into it naming the old
one), a data-only restore goes into a new database, a new host is a new cluster, and a
point-in-time recovery starts a new timeline. A later run renews nothing when the identity is
the same, no site was renewed by the hub itself since (it does so only on evidence of a
rewind: a tip it sealed past its log) and the restore time given, if any, is not after the
renewal. A restore PostgreSQL cannot show (a file-system snapshot of its data folder put
back as it was) needs ``--again``; so does a database whose identity cannot be read (a
PostgreSQL that keeps ``pg_control_system`` from the hub's user): every run renews then.
"""

from __future__ import annotations

from datetime import datetime

from django.db import DatabaseError, connection, transaction

from sync.hub.models import LogEpochRenewal

# The timeline is read from the name of the WAL file being written, not from
# pg_control_checkpoint(): after a promotion PostgreSQL only requests a spread checkpoint,
# so the control file names the old timeline for minutes, while a run right after the
# recovery must already see the new one.
_IDENTITY = """
SELECT s.system_identifier, substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8), d.oid,
       to_regclass(%s)::oid
FROM pg_control_system() s, pg_database d
WHERE d.datname = current_database()
"""


def database_identity() -> str | None:
    """PostgreSQL's identity of the hub's database, which a restore changes (the module);
    None when it cannot be read (the query is refused)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint in the caller's
            cursor.execute(_IDENTITY, [LogEpochRenewal._meta.db_table])
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return None if row is None else ":".join(str(part) for part in row)


def renewed_for_this_restore(
    renewed_by_hub: dict[str, datetime], restored_at: datetime | None
) -> datetime | None:
    """When the command last renewed every site, if the database was not restored since as
    far as it can tell (the module): no site renewed by the hub itself since
    (``renewed_by_hub``), the identity the same, and not restored after (``restored_at``,
    None: not said); else None."""
    last = LogEpochRenewal.objects.order_by("-pk").first()
    if last is None or renewed_by_hub:
        return None
    if restored_at is not None and restored_at > last.renewed_at:
        return None
    identity = database_identity()
    return last.renewed_at if identity is not None and identity == last.database else None


def record_renewal(at: datetime) -> None:
    """Keep the command's renewal of every site at ``at``, with the database's identity (""
    when it cannot be read: never the same, so the next run renews)."""
    LogEpochRenewal.objects.all().delete()
    LogEpochRenewal.objects.create(renewed_at=at, database=database_identity() or "")

"""Retention of a device's decisions: old access events and the audit chain's oldest entries.

A kiosk records an access event and an audit entry with every decision; kept for ever, they
grow its store without bound. So the store keeps them ``keep_days`` (``DEFAULT_KEEP_DAYS``,
90, unless ``jaga store retention --days N`` set another; 0 keeps them for ever), a setting
kept in the store itself, so that the app, the sync timer and every ``jaga`` command on the
store go by the same one. Older ones are deleted, but only once the hub holds them:

* an access event once the hub acknowledged it: no outbox entry of it is left that is not
  ``acknowledged`` (queued, in flight or quarantined). A device that does not sync, or has
  been offline, keeps every decision until it has synced it, however old;
* audit entries only as a prefix of the chain: from the oldest, up to the newest entry the
  hub has anchored for the device registered now (``sync.client.audit``'s receipt, checked
  against the entry's hash here), and never the chain's newest entry, nor while the hub
  reports an open audit break. The last entry deleted becomes the chain's checkpoint
  (schema 12, ``sync.store.schema.v12``): ``jaga audit verify`` and the integrity check walk
  the chain from it, and the triggers let nothing else be deleted. The hub keeps its own
  copy of every entry it anchored: nothing changes there, and the next sync sends from the
  entry after the hub's newest, which is always kept. An audit entry ``retention.applied``
  records what each run deleted.

The window is also the margin for a hub restored from an older backup: what the hub lost of
the last ``keep_days`` is still here to send again.

It runs with the device's periodic housekeeping, at the start of each sync (the app's service,
``jaga sync now``, the ``jaga-sync`` timer), at most once a day: each run deletes at most
``MAX_BATCHES`` batches of ``BATCH`` rows of each kind, each batch one short write transaction
(a kiosk's decisions go on between them), and a run that stopped there is continued by the
next sync. Deleted rows are zeroed in the file (``secure_delete``), and the write-ahead log is
folded back into the file after a run (``Database.purge``), as after an erasure. The file does
not shrink (no VACUUM, which would need the store's size again in free space and stop the
kiosk while it ran): the pages freed are reused by the next decisions, so the store stops
growing once its oldest decisions are deleted as fast as new ones come. ``jaga store info``
shows the setting, what is kept and since when, and the pages free for reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.store.audit import AuditLog, Checkpoint
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.state_rows import get_value, put_value

KEEP_DAYS_NAME = "retention.keep_days"  # sync_state: the setting, when not the default
LAST_RUN_NAME = "retention.last_run"  # sync_state: when a run last finished
DEFAULT_KEEP_DAYS = 90  # a quarter: attendance exports and disputes of the recent past
MAX_KEEP_DAYS = 36_500
RUN_EVERY = timedelta(days=1)
BATCH = 2000  # rows of one kind per write transaction
MAX_BATCHES = 50  # per kind and run: a years-old store is caught up over a few syncs
APPLIED = "retention.applied"
# The sync client's names for what the hub holds (``sync.client.audit``): read, never written.
ANCHORED_PREFIX = "audit.anchored."
BREAK_NAME = "audit.break_open"

_OLD_ACKNOWLEDGED_EVENTS = """
DELETE FROM access_events WHERE id IN (
    SELECT e.id FROM access_events e WHERE e.occurred_at < ? AND NOT EXISTS (
        SELECT 1 FROM outbox x WHERE x.entity = 'access_event'
        AND x.entity_uid = e.event_uid AND x.state != 'acknowledged'
    ) ORDER BY e.occurred_at LIMIT ?
)
"""


@dataclass(frozen=True)
class RetentionReport:
    """What one run deleted; ``complete`` False when it stopped at ``MAX_BATCHES``."""

    access_events: int = 0
    audit_entries: int = 0
    complete: bool = True


@dataclass(frozen=True)
class Kept:
    """What the store keeps, for ``jaga store info``."""

    keep_days: int
    default: bool
    oldest_event: datetime | None
    checkpoint: Checkpoint
    last_run: datetime | None


class Retention:
    def __init__(self, database: Database, clock: Clock, audit: AuditLog) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit

    def keep_days(self) -> int:
        """Days decisions are kept (0: for ever)."""
        with self._database.read() as connection:
            return _keep_days(connection)[0]

    def set_keep_days(self, days: int, *, operator: str) -> None:
        """Keep decisions ``days`` (0: for ever); audited, and the next sync applies it."""
        if not 0 <= days <= MAX_KEEP_DAYS:
            raise ValueError(f"days must lie in 0..{MAX_KEEP_DAYS}")
        now = self._clock.now()
        with self._database.write() as connection:
            put_value(connection, KEEP_DAYS_NAME, str(days), now)
            connection.execute("DELETE FROM sync_state WHERE name = ?", (LAST_RUN_NAME,))
            self._audit.append(
                connection,
                actor=operator,
                action="retention.set",
                subject="-",
                details={"keep_days": days},
            )

    def kept(self) -> Kept:
        with self._database.read() as connection:
            days, default = _keep_days(connection)
            oldest = connection.execute("SELECT min(occurred_at) FROM access_events").fetchone()
            last_run = get_value(connection, LAST_RUN_NAME)
        return Kept(
            days,
            default,
            None if oldest[0] is None else parse_timestamp(oldest[0]),
            self._audit.checkpoint(),
            None if last_run is None else parse_timestamp(last_run),
        )

    def apply(self, device_id: str | None, *, force: bool = False) -> RetentionReport:
        """Delete what is past the window and held by the hub (see the module), if a day has
        passed since the last run finished (``force``: now). ``device_id`` is the device the
        store is registered as now (None: not registered, and no audit entry is deleted)."""
        now = self._clock.now()
        with self._database.read() as connection:
            days = _keep_days(connection)[0]
            last_run = get_value(connection, LAST_RUN_NAME)
        if days == 0 or not (force or _due(last_run, now)):
            return RetentionReport()
        cutoff = format_timestamp(now - timedelta(days=days))
        events, events_done = self._in_batches(lambda c: _delete_events(c, cutoff))
        entries, entries_done = self._in_batches(lambda c: _delete_entries(c, cutoff, device_id))
        report = RetentionReport(events, entries, events_done and entries_done)
        with self._database.write() as connection:
            if events or entries:
                self._audit.append(
                    connection,
                    actor="retention",
                    action=APPLIED,
                    subject="-",
                    details={
                        "keep_days": days,
                        "access_events": events,
                        "audit_entries": entries,
                        "audit_checkpoint": _checkpoint_sequence(connection),
                    },
                )
            if report.complete:
                put_value(connection, LAST_RUN_NAME, format_timestamp(now), now)
        if events or entries:
            self._database.purge()  # the deleted rows leave the WAL too; a reader defers it
        return report

    def _in_batches(self, delete: Any) -> tuple[int, bool]:
        """Run ``delete`` (a batch, in its own transaction) until a short batch; the rows
        deleted, and whether it got there within ``MAX_BATCHES``."""
        total = 0
        for _ in range(MAX_BATCHES):
            with self._database.write() as connection:
                deleted = int(delete(connection))
            total += deleted
            if deleted < BATCH:
                return total, True
        return total, False


def _keep_days(connection: Any) -> tuple[int, bool]:
    """The setting, and whether it is the default."""
    value = get_value(connection, KEEP_DAYS_NAME)
    if value is None or not value.isdigit():
        return DEFAULT_KEEP_DAYS, True
    return int(value), False


def _due(last_run: str | None, now: datetime) -> bool:
    """A day since the last run finished, or a clock set back since."""
    if last_run is None:
        return True
    last = parse_timestamp(last_run)
    return last > now or now - last >= RUN_EVERY


def _delete_events(connection: Any, cutoff: str) -> int:
    return int(connection.execute(_OLD_ACKNOWLEDGED_EVENTS, (cutoff, BATCH)).rowcount)


def _delete_entries(connection: Any, cutoff: str, device_id: str | None) -> int:
    """Move the checkpoint over the next entries that are old enough and held by the hub,
    and delete them (at most ``BATCH``)."""
    through = _anchored_before_head(connection, device_id)
    start = _checkpoint_sequence(connection)
    rows = connection.execute(
        "SELECT sequence, entry_hash, at FROM audit_log WHERE sequence > ? AND sequence <= ?"
        " ORDER BY sequence LIMIT ?",
        (start, through, BATCH),
    ).fetchall()
    last = None
    for row in rows:
        if row[2] >= cutoff:  # a prefix: an entry within the window keeps all after it
            break
        last = row
    if last is None:
        return 0
    connection.execute(
        "UPDATE audit_checkpoint SET sequence = ?, entry_hash = ?, at = ? WHERE id = 1",
        tuple(last),
    )
    return int(connection.execute("DELETE FROM audit_log WHERE sequence <= ?", (last[0],)).rowcount)


def _anchored_before_head(connection: Any, device_id: str | None) -> int:
    """The newest entry that may be deleted: the hub's newest for this device, if the store
    holds it with the hash the hub gave, and before the chain's head; 0 for none."""
    if device_id is None or get_value(connection, BREAK_NAME) == "1":
        return 0
    sequence, _, digest = (get_value(connection, ANCHORED_PREFIX + device_id) or "").partition(" ")
    if not sequence.isdigit():
        return 0
    held = connection.execute(
        "SELECT 1 FROM audit_log WHERE sequence = ? AND entry_hash = ?", (int(sequence), digest)
    ).fetchone()
    if held is None:  # deleted already (nothing more to delete), or not the hub's chain
        return 0
    head = connection.execute("SELECT max(sequence) FROM audit_log").fetchone()[0]
    return min(int(sequence), int(head) - 1)


def _checkpoint_sequence(connection: Any) -> int:
    return int(connection.execute("SELECT sequence FROM audit_checkpoint").fetchone()[0])

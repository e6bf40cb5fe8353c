"""Retention of a device's decisions: old access events and the audit chain's oldest entries.

A kiosk records an access event and an audit entry with every decision; kept for ever, they
grow its store without bound. So the store keeps them ``keep_days`` (``DEFAULT_KEEP_DAYS``,
90, unless ``jaga store retention --days N`` set another; 0 keeps them for ever), a setting
kept in the store itself, so that the app, the sync timer and every ``jaga`` command on the
store go by the same one. A decision goes once it is older than the window AND the hub has
held it for the whole window too, counted from when the hub took it (schema 12,
``sync.store.schema.v12``). That second window is the margin for a hub restored from an
older backup: what the hub took in the last ``keep_days`` is still here to send again
(``sync.store.resend``), even from a device that came back after months offline and
delivered it all in one sync. So:

* an access event once the hub acknowledged it ``keep_days`` ago (``held_since``, stamped
  by ``Outbox.settle``) and no outbox entry of it is left that is not ``acknowledged``
  (queued, in flight or quarantined; a resend after a hub restore queues it again, and its
  acknowledgement stamps it again). A device that does not sync keeps every decision;
* audit entries only as a prefix of the chain: from the oldest, up to the newest entry the
  hub has anchored for the device registered now (``sync.client.audit_state``'s receipt, checked
  against the entry's hash here) that it already held ``keep_days`` ago (``audit_receipts``:
  each run notes the receipt the sync before it got, with its time, at most one a day and
  device; a receipt that goes back, after a hub restore, drops the later ones), never the
  chain's newest entry, nor while the hub reports an open audit break. The last entry
  deleted becomes the chain's checkpoint: ``jaga audit verify`` and the integrity check
  walk the chain from it, and the triggers let nothing else be deleted. The hub keeps its
  own copy of every entry it anchored, and the next sync sends from the entry after the
  hub's newest, which is always kept. Each move of the checkpoint appends, in its own
  transaction, a ``retention.applied`` entry naming it, which ``AuditLog.verify`` looks
  for (with a receipt at or past it) before it calls the prefix deleted by retention. The
  erasures (``person.erased``) among the entries deleted are kept in ``erasure_ledger``,
  in the same transaction, for a restore of an older backup (``sync.store.erasures``): the
  person's uid and when, not the reason typed, which may name whoever asked (schema 13,
  ``sync.store.schema.v13``); an erasure read from it is given ``REASON_NOT_KEPT``.

Ages are by the device's clock. A clock that runs far ahead when the hub takes a decision
only keeps it longer (its ``held_since`` is in the future); a clock that jumps more than the
window ahead after the hub took it, for one sync, still deletes it early: only what the hub
acknowledged, but with no margin left for a restore of the hub.

It runs with the device's periodic housekeeping, at the end of each sync (the app's service,
``jaga sync now``, the ``jaga-sync`` timer), and at the kiosk's start, beside its first
frames (``sync.store.retention_start``: a kiosk never registered never syncs), at most once
a day: in batches of ``BATCH`` rows
of each kind, each one short write transaction, with a pause of ``PAUSE_SECONDS`` between
them so a kiosk's decision never waits behind more than one batch; a run stops after
``RUN_SECONDS`` (half for each kind) and the next sync carries on. Deleted rows are zeroed
in the file (``secure_delete``), and the write-ahead log is folded back into the file after
a run (``Database.purge``), as after an erasure. The file does not shrink (no VACUUM, which would
need the store's size again in free space and stop the kiosk while it ran): the pages freed
are reused by the next decisions, so the store stops growing once its oldest decisions are
deleted as fast as new ones come. ``jaga store info`` shows the setting, what is kept and
since when, and the pages free for reuse.

The same run deletes the kiosk journals set aside beside the store under a key it no longer
has once the window has passed since they were set aside (``kiosk_waiting.delete_set_aside``):
their decisions, never recorded and never to be synced, would otherwise outlive every other
decision of theirs. The run's ``retention.applied`` entry counts them
(``kiosk_journals_deleted``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync import limits
from sync.store.audit import APPLIED, AuditLog, Checkpoint
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.state_rows import get_value, put_value

KEEP_DAYS_NAME = "retention.keep_days"  # sync_state: the setting, when not the default
LAST_RUN_NAME = "retention.last_run"  # sync_state: when a run last finished
# In sync.limits, which `jaga store --help` reads without loading the store
DEFAULT_KEEP_DAYS = limits.DEFAULT_KEEP_DAYS
MAX_KEEP_DAYS = limits.MAX_KEEP_DAYS
RUN_EVERY = timedelta(days=1)
BATCH = 500  # rows of one kind per write transaction: a kiosk's decision waits at most one
PAUSE_SECONDS = 0.05  # between batches, for the kiosk's writes
RUN_SECONDS = 20.0  # a run stops after this; the next sync carries on
# The sync client's names for what the hub holds (``sync.client.audit_state``): read, never written.
ANCHORED_PREFIX = "audit.anchored."
ANCHORED_AT_PREFIX = "audit.anchored_at."
BREAK_NAME = "audit.break_open"
# The reason an erasure read from the ledger is given (a tombstone sent again, an erasure
# carried over a restore): the ledger keeps no reason (schema 13, ``sync.store.schema.v13``);
# and the reason typed that a tombstone of this device gives way to once the hub has it
# (``Outbox.settle``, schema 14).
REASON_NOT_KEPT = "erased earlier; the reason given is no longer kept on this device"

# Every erasure this store recorded: the ``person.erased`` entries, with the reason given,
# and those retention deleted, kept in the ledger, with ``REASON_NOT_KEPT``
# (``sync.store.erasures``, ``sync.store.resend``).
RECORDED_ERASURES = f"""
SELECT sequence, subject AS person_uid, coalesce(json_extract(details, '$.reason'), '') AS reason,
    at FROM audit_log WHERE action = 'person.erased'
UNION ALL SELECT sequence, person_uid, '{REASON_NOT_KEPT}', erased_at AS at FROM erasure_ledger
"""

_OLD_HELD_EVENTS = """
DELETE FROM access_events WHERE id IN (
    SELECT e.id FROM access_events e WHERE e.occurred_at < ? AND e.held_since < ?
    AND NOT EXISTS (
        SELECT 1 FROM outbox x WHERE x.entity = 'access_event'
        AND x.entity_uid = e.event_uid AND x.state != 'acknowledged'
    ) ORDER BY e.occurred_at LIMIT ?
)
"""
_KEEP_ERASURES = """
INSERT OR IGNORE INTO erasure_ledger (sequence, person_uid, erased_at)
SELECT sequence, subject, at FROM audit_log WHERE action = 'person.erased' AND sequence <= ?
"""


@dataclass(frozen=True)
class RetentionReport:
    """What one run deleted; ``complete`` False when it stopped at ``RUN_SECONDS``."""

    access_events: int = 0
    audit_entries: int = 0
    complete: bool = True
    kiosk_journals: int = 0  # set aside under another key (``kiosk_waiting``)


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

    def due(self) -> bool:
        """Whether :meth:`apply` would run now: decisions are not kept for ever, and a day
        has passed since the last run finished (or the clock was set back since)."""
        with self._database.read() as connection:
            days = _keep_days(connection)[0]
            last_run = get_value(connection, LAST_RUN_NAME)
        return days != 0 and _due(last_run, self._clock.now())

    def apply(self, device_id: str | None, *, force: bool = False) -> RetentionReport:
        """Note the hub's receipt for the chain, then delete what is past the window and has
        been held by the hub as long (see the module), if a day has passed since the last run
        finished (``force``: now). ``device_id`` is the device the store is registered as now
        (None: not registered, and no audit entry is deleted)."""
        now = self._clock.now()
        if device_id is not None:
            with self._database.write() as connection:
                _note_receipt(connection, device_id, now)
        with self._database.read() as connection:
            days = _keep_days(connection)[0]
            last_run = get_value(connection, LAST_RUN_NAME)
        if days == 0 or not (force or _due(last_run, now)):
            return RetentionReport()
        cutoff = format_timestamp(now - timedelta(days=days))
        # here, not at the top: kiosk_waiting imports the access events, whose outbox imports
        # this module (sync.store imports its modules when first used, in no set order)
        from sync.store import kiosk_waiting

        journals = kiosk_waiting.delete_set_aside(self._database.path, now, days)
        half = RUN_SECONDS / 2  # each kind gets half the run, so both catch up
        events, events_done = self._in_batches(
            lambda c: _delete_events(c, cutoff), time.monotonic() + half
        )
        run = _AuditRun(self._audit, days, events, cutoff, device_id, journals=journals)
        entries, entries_done = self._in_batches(run.delete, time.monotonic() + half)
        report = RetentionReport(events, entries, events_done and entries_done, journals)
        with self._database.write() as connection:
            if run.unrecorded_events or run.unrecorded_journals:
                run.record(connection, 0)
            if report.complete:
                put_value(connection, LAST_RUN_NAME, format_timestamp(now), now)
        if events or entries:
            self._database.purge()  # the deleted rows leave the WAL too; a reader defers it
        return report

    def _in_batches(self, delete: Callable[[Any], int], deadline: float) -> tuple[int, bool]:
        """Run ``delete`` (a batch, in its own transaction) until a short batch; the rows
        deleted, and whether it got there before ``deadline`` (at least one batch runs)."""
        total = 0
        while True:
            with self._database.write() as connection:
                deleted = int(delete(connection))
            total += deleted
            if deleted < BATCH:
                return total, True
            if time.monotonic() >= deadline:
                return total, False
            time.sleep(PAUSE_SECONDS)  # the kiosk's decision waiting on the lock goes first


class _AuditRun:
    """The audit half of a run: each batch moves the checkpoint, keeps the erasures among
    the entries it deletes, and records itself (``retention.applied``, naming the new
    checkpoint), all in one transaction; the run's access events and kiosk journals go in
    the first record."""

    def __init__(
        self,
        audit: AuditLog,
        days: int,
        events: int,
        cutoff: str,
        device_id: str | None,
        *,
        journals: int = 0,
    ) -> None:
        self._audit = audit
        self._days = days
        self.unrecorded_events = events
        self.unrecorded_journals = journals
        self._cutoff = cutoff
        self._device_id = device_id

    def delete(self, connection: Any) -> int:
        deleted = _delete_entries(connection, self._cutoff, self._device_id)
        if deleted:
            self.record(connection, deleted)
        return deleted

    def record(self, connection: Any, entries: int) -> None:
        """Append the run's entry; one that moved the checkpoint names it (only such an
        entry vouches for a checkpoint: ``AuditLog.verify``)."""
        details = {
            "keep_days": self._days,
            "access_events": self.unrecorded_events,
            "audit_entries": entries,
        }
        if entries:
            details["audit_checkpoint"] = _checkpoint_sequence(connection)
        if self.unrecorded_journals:  # only then: older entries keep their shape
            details["kiosk_journals_deleted"] = self.unrecorded_journals
        self._audit.append(
            connection, actor="retention", action=APPLIED, subject="-", details=details
        )
        self.unrecorded_events = self.unrecorded_journals = 0


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
    return int(connection.execute(_OLD_HELD_EVENTS, (cutoff, cutoff, BATCH)).rowcount)


def _note_receipt(connection: Any, device_id: str, now: datetime) -> None:
    """Keep the hub's receipt for ``device_id``'s chain, with when it came, at most one a day:
    one that came within a day of the last kept counts as held from a day after it (later
    than it was: the safe side), once that day is past. The kept ones past it no longer
    count (``void``: the hub went back, restored from a backup), nor do those dated after
    ``now`` (noted while the clock ran ahead: counted, every receipt after it would fall
    "within a day" of it, and none would be noted until that date)."""
    sequence, _, digest = (get_value(connection, ANCHORED_PREFIX + device_id) or "").partition(" ")
    if not sequence.isdigit():
        return
    connection.execute(  # kept, as they vouch for the checkpoint (AuditLog.verify)
        "UPDATE audit_receipts SET void = 1 WHERE device_id = ? AND sequence > ?",
        (device_id, sequence),
    )
    connection.execute(  # noted with the clock ahead: else none is noted until that date
        "UPDATE audit_receipts SET void = 1 WHERE device_id = ? AND void = 0 AND received_at > ?",
        (device_id, format_timestamp(now)),
    )
    at = get_value(connection, ANCHORED_AT_PREFIX + device_id) or format_timestamp(now)
    last = connection.execute(
        "SELECT max(sequence), max(received_at) FROM audit_receipts"
        " WHERE device_id = ? AND void = 0",
        (device_id,),
    ).fetchone()
    if last[0] == int(sequence):
        return
    if last[1] is not None and at < _day_after(last[1]):
        at = _day_after(last[1])
        if at > format_timestamp(now):
            return  # a later sync notes it
    connection.execute(
        "INSERT OR REPLACE INTO audit_receipts (device_id, sequence, entry_hash, received_at,"
        " void) VALUES (?, ?, ?, ?, 0)",
        (device_id, int(sequence), digest, at),
    )


def _day_after(stamp: str) -> str:
    return format_timestamp(parse_timestamp(stamp) + RUN_EVERY)


def _delete_entries(connection: Any, cutoff: str, device_id: str | None) -> int:
    """Move the checkpoint over the next entries that are old enough and held by the hub
    long enough, keep the erasures among them, and delete them (at most ``BATCH``)."""
    through = _held_before_head(connection, device_id, cutoff)
    start = _checkpoint_sequence(connection)
    rows = connection.execute(
        "SELECT sequence, entry_hash, at FROM audit_log WHERE sequence > ? AND sequence <= ?"
        " ORDER BY sequence LIMIT ?",
        (start, through, BATCH),
    ).fetchall()
    # A prefix, up to the last entry older than the window: one before it dated later (the
    # clock ran ahead when it was written) was written before it all the same, and kept for
    # its date it would keep every entry after it until then.
    last = next((row for row in reversed(rows) if row[2] < cutoff), None)
    if last is None:
        return 0
    connection.execute(
        "UPDATE audit_checkpoint SET sequence = ?, entry_hash = ?, at = ? WHERE id = 1",
        tuple(last),
    )
    connection.execute(_KEEP_ERASURES, (last[0],))
    return int(connection.execute("DELETE FROM audit_log WHERE sequence <= ?", (last[0],)).rowcount)


def _held_before_head(connection: Any, device_id: str | None, cutoff: str) -> int:
    """The newest entry that may be deleted: the hub's newest for this device, if the store
    holds it with the hash the hub gave, that the hub already held at ``cutoff``, and before
    the chain's head; 0 for none."""
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
    since = connection.execute(
        "SELECT max(sequence) FROM audit_receipts WHERE device_id = ? AND void = 0"
        " AND received_at < ?",
        (device_id, cutoff),
    ).fetchone()[0]
    if since is None:
        return 0
    connection.execute(  # older receipts say nothing more: a short history
        "DELETE FROM audit_receipts WHERE device_id = ? AND sequence < ? AND void = 0",
        (device_id, since),
    )
    head = connection.execute("SELECT max(sequence) FROM audit_log").fetchone()[0]
    return min(int(sequence), int(since), int(head) - 1)


def _checkpoint_sequence(connection: Any) -> int:
    return int(connection.execute("SELECT sequence FROM audit_checkpoint").fetchone()[0])

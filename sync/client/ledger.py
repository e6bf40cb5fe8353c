"""Outbox state changes for a push, each set in one store transaction.

The store's ``Outbox`` moves entries one call per state; a push needs the hub's whole verdict
(acknowledged, rejected with reasons, and any entry the answer did not mention) written
together, so a crash between two of them cannot leave half a verdict. This belongs in
``sync.store.outbox`` as ``Outbox.settle``; it lives here until the store grows it, and
keeps the store's state machine: only ``sent`` entries move, and ``rejected`` carries a reason.
The one way out of ``rejected`` is an operator's ``requeue_quarantined``, once the cause is
fixed; it is written to the audit trail with the entries it moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sync.errors import RecordNotFoundError
from sync.store import Store
from sync.store.clock import format_timestamp
from sync.store.database import Database


@dataclass(frozen=True)
class Verdict:
    """What became of the entries of one push."""

    acknowledged: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    requeued: tuple[str, ...] = ()  # no verdict heard: sent again, nothing counted
    refused: tuple[str, ...] = ()  # refused as retryable: sent again, the refusal counted

    def __post_init__(self) -> None:
        if any(not reason.strip() for _, reason in self.rejected):
            raise ValueError("a rejection needs a reason")

    def merged(self, other: Verdict) -> Verdict:
        return Verdict(
            self.acknowledged + other.acknowledged,
            self.rejected + other.rejected,
            self.requeued + other.requeued,
            self.refused + other.refused,
        )


@dataclass(frozen=True)
class Quarantined:
    """An entry the hub (or the client's own check) refused for good, with the reason."""

    sequence: int
    idempotency_key: str
    entity: str
    entity_uid: str
    reason: str


def recover_interrupted(database: Database, now: datetime) -> int:
    """Requeue entries left ``sent`` by a sync that died before hearing the hub.

    Safe only while this process holds the store's sync lock: then no other sync has a push
    in flight. The hub may already have them; their idempotency keys make the retry
    acknowledged without storing anything twice.
    """
    with database.write() as connection:
        cursor = connection.execute(
            "UPDATE outbox SET state = 'queued', state_changed_at = ? WHERE state = 'sent'",
            (format_timestamp(now),),
        )
        return int(cursor.rowcount)


def settle(database: Database, verdict: Verdict, now: datetime) -> None:
    """Write a push's whole verdict in one transaction (only entries still ``sent`` move)."""
    stamp = format_timestamp(now)
    with database.write() as connection:
        for key in verdict.acknowledged:
            connection.execute(
                "UPDATE outbox SET state = 'acknowledged', state_changed_at = ?"
                " WHERE idempotency_key = ? AND state = 'sent'",
                (stamp, key),
            )
        for key, reason in verdict.rejected:
            connection.execute(
                "UPDATE outbox SET state = 'rejected', state_changed_at = ?, reject_reason = ?"
                " WHERE idempotency_key = ? AND state = 'sent'",
                (stamp, reason, key),
            )
        for key in verdict.requeued:
            connection.execute(
                "UPDATE outbox SET state = 'queued', state_changed_at = ?"
                " WHERE idempotency_key = ? AND state = 'sent'",
                (stamp, key),
            )
        for key in verdict.refused:
            connection.execute(
                "UPDATE outbox SET state = 'queued', state_changed_at = ?,"
                " refusals = refusals + 1 WHERE idempotency_key = ? AND state = 'sent'",
                (stamp, key),
            )


def quarantined(database: Database, limit: int = 100) -> list[Quarantined]:
    rows = database.query(
        "SELECT sequence, idempotency_key, entity, entity_uid, reject_reason FROM outbox"
        " WHERE state = 'rejected' ORDER BY sequence LIMIT ?",
        (limit,),
    )
    return [Quarantined(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def requeue_quarantined(store: Store, sequences: Sequence[int] | None, *, operator: str) -> int:
    """Put quarantined entries back in the queue (``None``: all of them); returns how many.

    Their reason is cleared and their count of refusals starts again from 0, so an entry the
    hub still refuses as retryable gets the whole ``Tuning.max_retryable_attempts`` once more
    instead of going back to quarantine on its first refusal. A sequence that names no quarantined
    entry fails the whole request before anything moves. The move and its audit entry commit
    together.
    """
    stamp = format_timestamp(store.clock.now())
    with store.database.write() as connection:
        found = [
            int(row[0])
            for row in connection.execute(
                "SELECT sequence FROM outbox WHERE state = 'rejected' ORDER BY sequence"
            ).fetchall()
        ]
        chosen = found if sequences is None else sorted(set(sequences))
        missing = sorted(set(chosen) - set(found))
        if missing:
            named = ", ".join(f"#{n}" for n in missing)
            raise RecordNotFoundError(f"not quarantined (see `jaga sync status`): {named}")
        for sequence in chosen:
            connection.execute(
                "UPDATE outbox SET state = 'queued', state_changed_at = ?, reject_reason = NULL,"
                " refusals = 0 WHERE sequence = ? AND state = 'rejected'",
                (stamp, sequence),
            )
        if chosen:
            store.audit.append(
                connection,
                actor=operator,
                action="outbox.requeued",
                subject="outbox",
                details={"entries": len(chosen), "sequences": chosen},
            )
    return len(chosen)

"""Quarantined outbox entries (``rejected``), listed and put back in the queue by an operator.

``rejected -> queued`` is the operator's move only (``Outbox.requeue_quarantined``), and it
is audited: the move and its ``outbox.requeued`` audit entries commit together. Entries held
for another hub (``sync.store.outbox_hub``) are neither listed nor requeued: a requeue here
would send them to this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.errors import RecordNotFoundError
from sync.store.audit import AuditLog
from sync.store.database import Database
from sync.store.verdict import Quarantined

# Sequences one ``outbox.requeued`` audit entry names: 1,000 of up to 12 digits stay near
# 14 KB of JSON, within what an entry may carry to the hub (``MAX_PAYLOAD_BYTES``, 64 KiB).
REQUEUED_PER_AUDIT_ENTRY = 1000


_QUARANTINED = (
    "SELECT sequence, idempotency_key, entity, entity_uid, reject_reason FROM outbox"
    " WHERE state = 'rejected' AND for_hub IS NULL"
)


def quarantined(database: Database, limit: int) -> list[Quarantined]:
    """``Outbox.quarantined``: the rejected entries with their reasons, oldest first."""
    rows = database.query(f"{_QUARANTINED} ORDER BY sequence LIMIT ?", (limit,))
    return [Quarantined(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def refused_erasures(database: Database) -> list[Quarantined]:
    """``Outbox.refused_erasures``: the quarantined erasures, oldest first."""
    rows = database.query(
        f"{_QUARANTINED} AND entity = 'person' AND operation = 'tombstone' ORDER BY sequence"
    )
    return [Quarantined(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def requeue(
    connection: Any,
    audit: AuditLog,
    sequences: Sequence[int] | None,
    *,
    operator: str,
    stamp: str,
) -> int:
    """``Outbox.requeue_quarantined``, inside its write transaction; returns how many."""
    chosen = _chosen_quarantined(connection, sequences)
    for sequence in chosen:
        connection.execute(
            "UPDATE outbox SET state = 'queued', state_changed_at = ?,"
            " reject_reason = NULL, refusals = 0 WHERE sequence = ? AND state = 'rejected'",
            (stamp, sequence),
        )
    for details in _requeued_details(chosen):
        audit.append(
            connection,
            actor=operator,
            action="outbox.requeued",
            subject="outbox",
            details=details,
        )
    return len(chosen)


def _chosen_quarantined(connection: Any, sequences: Sequence[int] | None) -> list[int]:
    """The quarantined sequences a requeue names, sorted (``None``: all); refuses any other."""
    rows = connection.execute(
        "SELECT sequence, for_hub FROM outbox WHERE state = 'rejected' ORDER BY sequence"
    ).fetchall()
    found = [int(sequence) for sequence, hub in rows if hub is None]
    held = {int(sequence): str(hub) for sequence, hub in rows if hub is not None}
    chosen = found if sequences is None else sorted(set(sequences))
    if held.keys() & set(chosen):
        named = ", ".join(f"#{n} held for {held[n]}" for n in chosen if n in held)
        raise RecordNotFoundError(f"not requeued: {named}, never sent to another hub")
    missing = sorted(set(chosen) - set(found))
    if missing:
        named = ", ".join(f"#{n}" for n in missing)
        raise RecordNotFoundError(f"not quarantined (see `jaga sync status`): {named}")
    return chosen


def _requeued_details(chosen: list[int]) -> list[dict[str, Any]]:
    """The audit entries' details for a requeue of ``chosen``: one entry listing them all
    (as it always was) up to ``REQUEUED_PER_AUDIT_ENTRY``, else one per part. An entry that
    listed every sequence of a large quarantine (``requeue --all``) outgrew what an audit
    entry may carry to the hub, and the chain could be anchored no further than it."""
    parts = [
        chosen[start : start + REQUEUED_PER_AUDIT_ENTRY]
        for start in range(0, len(chosen), REQUEUED_PER_AUDIT_ENTRY)
    ]
    if len(parts) <= 1:
        return [{"entries": len(chosen), "sequences": chosen}] if chosen else []
    return [
        {"entries": len(chosen), "part": number, "parts": len(parts), "sequences": part}
        for number, part in enumerate(parts, start=1)
    ]

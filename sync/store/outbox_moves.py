"""The outbox's state machine: entries moved one state at a time, or by a push's verdict.

States move ``queued -> sent -> acknowledged | rejected``, and ``sent -> queued`` when a push
is retried (counting a refusal when the hub asked for the retry); ``Outbox.mark_*`` move
entries one state at a time and refuse any other move (``move_entries``), and a push writes
its whole ``Verdict`` with ``Outbox.settle`` (``settle_verdict``), which moves only entries
still ``sent``. An acknowledgement forgets what nothing reads again (``sync.store.outbox_forget``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sync.errors import RecordNotFoundError
from sync.store import purge_mark
from sync.store.catch_hub import stamp_acknowledged
from sync.store.outbox_forget import forget, forget_reason
from sync.store.records import OutboxState
from sync.store.verdict import Verdict

# The moves of ``mark_*``. The operator's ``rejected -> queued`` is ``requeue_quarantined`` only.
_ALLOWED = {
    OutboxState.QUEUED: {OutboxState.SENT},
    OutboxState.SENT: {OutboxState.ACKNOWLEDGED, OutboxState.REJECTED, OutboxState.QUEUED},
    OutboxState.ACKNOWLEDGED: set(),
    OutboxState.REJECTED: set(),
}
# What each part of a verdict sets on an entry (``settle`` moves only ``sent`` ones).
_ACKNOWLEDGE = "state = 'acknowledged', state_changed_at = ?"
_REJECT = "state = 'rejected', state_changed_at = ?, reject_reason = ?"
_REQUEUE = "state = 'queued', state_changed_at = ?"
_REQUEUE_REFUSED = "state = 'queued', state_changed_at = ?, refusals = refusals + 1"
# The hub holds an access event from its acknowledgement on (``sync.store.retention``).
_HELD_SINCE = (
    "UPDATE access_events SET held_since = ? WHERE event_uid = (SELECT entity_uid FROM outbox"
    " WHERE idempotency_key = ? AND entity = 'access_event' AND state = 'acknowledged')"
)


def settle_verdict(
    connection: Any, verdict: Verdict, stamp: str, hub: str | None, *, holds_catches: bool
) -> None:
    """``Outbox.settle``, inside its write transaction: ``hub`` gave the verdict (a
    ``hub_stamp``), and the catches it took are its own where the store says whose
    (``holds_catches``)."""
    for key in verdict.acknowledged:
        _settle(connection, key, _ACKNOWLEDGE, stamp)
        connection.execute(_HELD_SINCE, (stamp, key))
    if hub is not None and holds_catches:
        stamp_acknowledged(connection, verdict.acknowledged, hub)
    for key, reason in verdict.rejected:
        _settle(connection, key, _REJECT, stamp, reason)
    for key in verdict.requeued:
        _settle(connection, key, _REQUEUE, stamp)
    for key in verdict.refused:
        _settle(connection, key, _REQUEUE_REFUSED, stamp)
    forgot_reasons = 0
    for key in verdict.acknowledged:
        forget(connection, "idempotency_key = ?", key)
        forgot_reasons += forget_reason(connection, key)
    if forgot_reasons:  # the reason typed leaves the WAL's older frames too
        purge_mark.owe_purge(connection)


def move_entries(
    connection: Any,
    keys: Iterable[str],
    target: OutboxState,
    now: str,
    *,
    count_attempt: bool = False,
    reason: str | None = None,
) -> None:
    """Move each entry to ``target``, inside the caller's write transaction; a move
    ``_ALLOWED`` does not name fails the whole transaction."""
    forgot_reasons = 0
    for key in keys:
        current = _state_of(connection, key)
        if current == target and target == OutboxState.ACKNOWLEDGED:
            continue  # the hub may acknowledge a retried push twice
        if target not in _ALLOWED[current]:
            raise ValueError(f"outbox entry {key}: cannot go from {current} to {target}")
        connection.execute(
            "UPDATE outbox SET state = ?, state_changed_at = ?, reject_reason = ?,"
            " attempts = attempts + ? WHERE idempotency_key = ?",
            (target.value, now, reason, int(count_attempt), key),
        )
        forgot_reasons += forget_reason(connection, key)
    if forgot_reasons:
        purge_mark.owe_purge(connection)


def _settle(connection: Any, key: str, changes: str, *values: str) -> None:
    """Apply one entry's part of a verdict, if the entry is still ``sent``.

    A verdict can name an entry that has moved since (requeued by a failed push's cleanup,
    already settled): the one written first stands, so this move is skipped, not an error.
    """
    connection.execute(
        f"UPDATE outbox SET {changes} WHERE idempotency_key = ? AND state = 'sent'",
        (*values, key),
    )


def _state_of(connection: Any, key: str) -> OutboxState:
    row = connection.execute(
        "SELECT state FROM outbox WHERE idempotency_key = ?", (key,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(f"no outbox entry {key}")
    return OutboxState(row[0])

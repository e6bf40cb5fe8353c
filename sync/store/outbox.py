"""The outbox: every change to synced data, queued in the transaction that made it.

``enqueue`` takes the caller's connection, so the rows and their outbox entry commit together
or not at all. The sequence is an AUTOINCREMENT key: strictly increasing, never reused even
after entries are deleted. Each entry has a uuid4 idempotency key, so the hub applies a batch
pushed twice (a lost acknowledgement) once. States move
``queued -> sent -> acknowledged | rejected``, and ``sent -> queued`` when a push is retried
(counting a refusal when the hub asked for the retry), and ``rejected -> queued`` only when an
operator requeues a quarantined entry. The push's whole verdict and the requeue are written by
``sync.client.ledger`` in one transaction each, with these same rules; they belong here as
methods, and move when the verdict type does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sync.errors import RecordNotFoundError
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.records import OutboxEntry, OutboxState

_COLUMNS = (
    "sequence, idempotency_key, entity, entity_uid, operation, payload, state, created_at, "
    "state_changed_at, attempts, reject_reason, refusals"
)
_ALLOWED = {
    OutboxState.QUEUED: {OutboxState.SENT},
    OutboxState.SENT: {OutboxState.ACKNOWLEDGED, OutboxState.REJECTED, OutboxState.QUEUED},
    OutboxState.ACKNOWLEDGED: set(),
    OutboxState.REJECTED: set(),
}
ERASED_PAYLOAD = json.dumps({"erased": True})


class Outbox:
    """Queue and state machine of changes bound for the hub."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def enqueue(
        self,
        connection: Any,
        *,
        entity: str,
        entity_uid: str,
        operation: str,
        payload: Mapping[str, Any],
    ) -> int:
        """Queue a change inside the caller's write transaction; returns its sequence."""
        now = format_timestamp(self._clock.now())
        cursor = connection.execute(
            "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload, state,"
            " created_at, state_changed_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
            (str(uuid.uuid4()), entity, entity_uid, operation, json.dumps(payload), now, now),
        )
        return int(cursor.lastrowid)

    def queued(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest entries still waiting to be sent, in sequence order."""
        return self._select("WHERE state = 'queued' ORDER BY sequence LIMIT ?", (limit,))

    def entries(self, after: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        return self._select("WHERE sequence > ? ORDER BY sequence LIMIT ?", (after, limit))

    def get(self, idempotency_key: str) -> OutboxEntry:
        found = self._select("WHERE idempotency_key = ?", (idempotency_key,))
        if not found:
            raise RecordNotFoundError(f"no outbox entry {idempotency_key}")
        return found[0]

    def counts(self) -> dict[OutboxState, int]:
        rows = self._database.query("SELECT state, count(*) FROM outbox GROUP BY state")
        counts = dict.fromkeys(OutboxState, 0)
        counts.update({OutboxState(state): int(n) for state, n in rows})
        return counts

    def mark_sent(self, keys: Iterable[str]) -> None:
        self._move(keys, OutboxState.SENT, count_attempt=True)

    def mark_acknowledged(self, keys: Iterable[str]) -> None:
        self._move(keys, OutboxState.ACKNOWLEDGED)

    def mark_requeued(self, keys: Iterable[str]) -> None:
        """Sent but not answered (timeout, link lost): send again later, same key."""
        self._move(keys, OutboxState.QUEUED)

    def mark_rejected(self, key: str, reason: str) -> None:
        if not reason.strip():
            raise ValueError("a rejection needs a reason")
        self._move([key], OutboxState.REJECTED, reason=reason)

    def scrub(self, connection: Any, entity_uids: Sequence[str]) -> int:
        """For an erasure: drop unsent entries about these records, blank the others' payloads.

        Returns how many entries were dropped. Runs inside the erasure's transaction.
        """
        if not entity_uids:
            return 0
        marks = ",".join("?" * len(entity_uids))
        dropped = connection.execute(
            f"DELETE FROM outbox WHERE state = 'queued' AND entity_uid IN ({marks})",
            tuple(entity_uids),
        ).rowcount
        connection.execute(
            f"UPDATE outbox SET payload = ? WHERE entity_uid IN ({marks})",
            (ERASED_PAYLOAD, *entity_uids),
        )
        return int(dropped)

    def _move(
        self,
        keys: Iterable[str],
        target: OutboxState,
        *,
        count_attempt: bool = False,
        reason: str | None = None,
    ) -> None:
        now = format_timestamp(self._clock.now())
        with self._database.write() as connection:
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

    def _select(self, clause: str, parameters: Sequence[Any]) -> list[OutboxEntry]:
        rows = self._database.query(f"SELECT {_COLUMNS} FROM outbox {clause}", parameters)
        return [_entry(row) for row in rows]


def _state_of(connection: Any, key: str) -> OutboxState:
    row = connection.execute(
        "SELECT state FROM outbox WHERE idempotency_key = ?", (key,)
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(f"no outbox entry {key}")
    return OutboxState(row[0])


def _entry(row: Sequence[Any]) -> OutboxEntry:
    return OutboxEntry(
        sequence=int(row[0]),
        idempotency_key=row[1],
        entity=row[2],
        entity_uid=row[3],
        operation=row[4],
        payload_json=row[5],
        state=OutboxState(row[6]),
        created_at=parse_timestamp(row[7]),
        state_changed_at=parse_timestamp(row[8]),
        attempts=int(row[9]),
        reject_reason=row[10],
        refusals=int(row[11]),
    )

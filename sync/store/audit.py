"""The audit trail: access decisions and administrative actions in a SHA-256 hash chain.

Each entry's hash covers its own fields and the previous entry's hash, so editing, removing
or reordering any entry breaks the chain from that point on; ``verify`` names the first
broken entry. Triggers refuse UPDATE and DELETE through SQL. Removing the *newest* entries
leaves a shorter valid chain: that is caught only against a head kept elsewhere (the hub),
which is why ``verify`` reports the head hash.

Details are written once and never erased, so callers put no biometric data and no names in
them: person uids, counts, model refs, scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.records import AuditEntry, AuditReport

GENESIS_HASH = "0" * 64
_COLUMNS = "sequence, at, actor, action, subject, details, prev_hash, entry_hash"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(fields: Sequence[object]) -> str:
    """SHA-256 over (sequence, at, actor, action, subject, details, prev_hash)."""
    material = canonical_json(list(fields))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class AuditLog:
    """Appends to and verifies the chain."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def append(
        self,
        connection: Any,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
    ) -> AuditEntry:
        """Add an entry inside the caller's write transaction (so it commits with the change)."""
        last = connection.execute(
            "SELECT sequence, entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
        sequence, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        at = format_timestamp(self._clock.now())
        details_json = canonical_json(dict(details))
        digest = entry_hash((sequence, at, actor, action, subject, details_json, prev_hash))
        row = (sequence, at, actor, action, subject, details_json, prev_hash, digest)
        connection.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", row)
        return _entry(row)

    def record(
        self, *, actor: str, action: str, subject: str, details: Mapping[str, Any]
    ) -> AuditEntry:
        """Append an administrative action in a transaction of its own."""
        with self._database.write() as connection:
            return self.append(
                connection, actor=actor, action=action, subject=subject, details=details
            )

    def entries(self, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
        rows = self._database.query(
            f"SELECT {_COLUMNS} FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after, limit),
        )
        return [_entry(row) for row in rows]

    def verify(self) -> AuditReport:
        """Walk the whole chain from the first entry; stop at the first broken link."""
        expected_sequence, prev_hash, count = 1, GENESIS_HASH, 0
        for row in self._rows():
            problem = _problem(row, expected_sequence, prev_hash)
            if problem is not None:
                return AuditReport(
                    entries=count, first_bad_sequence=expected_sequence, problem=problem
                )
            count += 1
            expected_sequence, prev_hash = row[0] + 1, row[7]
        return AuditReport(entries=count)

    def head(self) -> tuple[int, str]:
        """The newest entry's sequence and hash (0 and the genesis hash when empty)."""
        rows = self._database.query(
            "SELECT sequence, entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1"
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        after = 0
        while True:
            batch = self._database.query(
                f"SELECT {_COLUMNS} FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT 5000",
                (after,),
            )
            if not batch:
                return
            yield from (tuple(row) for row in batch)
            after = batch[-1][0]


def _problem(row: tuple[Any, ...], expected_sequence: int, prev_hash: str) -> str | None:
    sequence, stored_prev, stored_hash = row[0], row[6], row[7]
    if sequence != expected_sequence:
        return f"entry {expected_sequence} is missing (next entry found: {sequence})"
    if stored_prev != prev_hash:
        return f"entry {sequence} does not follow entry {sequence - 1}: removed or reordered"
    if entry_hash(row[:7]) != stored_hash:
        return f"entry {sequence} was edited: its hash does not match its contents"
    return None


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    sequence, at, actor, action, subject, details, prev_hash, digest = row
    return AuditEntry(
        sequence=int(sequence),
        at=parse_timestamp(at),
        actor=actor,
        action=action,
        subject=subject,
        details_json=details,
        prev_hash=prev_hash,
        entry_hash=digest,
    )

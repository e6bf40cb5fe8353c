"""The audit trail: access decisions and administrative actions in a SHA-256 hash chain.

Each entry's hash covers its own fields and the previous entry's hash, and entry 1 is the
store's creation (``store.created``, written before a new store takes its name, so no store
is found without it). Triggers refuse UPDATE and DELETE through SQL. Against someone who gets
past them but leaves the hashes as they were, ``verify`` names the first broken entry when any
entry was edited, removed, reordered or inserted; and whatever was done to the hashes, when
the oldest entries, or all of them, are gone, but for a prefix retention deleted once the hub
held it: the chain then verifies from its checkpoint, the last entry deleted
(``sync.store.retention``; the triggers let SQL delete only entries up to it, and move it only
forward, never to the newest entry). A checkpoint is taken for retention's only if a kept
``retention.applied`` entry names it and the hub's receipt (``audit_receipts``) reaches it:
otherwise the missing prefix is reported, as one SQL could have moved the checkpoint over
(whoever holds the key can forge both, like any entry; the hub's copy still shows it).

``verify`` also checks every access event against its ``access.decision`` entry: the
table the export and the sync read is not in the chain (``sync.store.event_audit``).

Two things the chain cannot show by itself, as whoever holds the store's key can compute
every hash: removal of its *newest* entries (a shorter chain is still whole), and a chain
rewritten from an edit or removal on, every hash after it computed again. Both are caught only
against what was recorded off the device:

* the hub: a registered device's every sync sends the entries the hub does not hold yet, with
  the chain's head (``sync.client.audit``), and the hub keeps them append-only per device and
  refuses, and records as an audit break, a chain that does not extend what it holds
  (``sync.hub.audit``): removed newest entries, a rewrite, a rewind. ``jaga sync status``
  shows how far the hub holds the chain and any refusal; the hub's admin lists the breaks.
  What was written after the last sync and removed before the next one is not caught;
* a head the operator recorded: ``jaga audit verify`` prints the head (sequence and hash), and
  given one recorded earlier (``--head``) also checks that that entry is still there,
  unchanged. The operator keeps it somewhere the device's key does not reach (a ticket, a log
  shipped elsewhere): for a device that never syncs.

A restore from a backup older than what the hub holds (or a recorded head) rewinds the chain
as well (its entry ``store.restored`` says so): the hub refuses the restored chain until an
operator acknowledges the break in its admin, after which it anchors the restored chain as a
new segment from the entry the break names, keeping the old one; record a new head after one.

Details are written once and never erased, here or at the hub, so callers put no biometric
data and no names of the people verified in them: person uids, counts, model refs, scores.
The other fields name no such person either: ``actor`` is who acted (an operator as the
command or ``--operator`` names them, a kiosk device, ``hub``), ``subject`` a person's uid, a
file's name (:func:`file_subject`: bytes that are not UTF-8 as ``\\xNN``) or ``-``. An
erasure's reason is kept as typed: it travels to the hub in the tombstone too, and must not
name the person.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.protocol.audit_messages import CREATED_ACTION, GENESIS_HASH, canonical_json
from sync.protocol.audit_messages import audit_entry_hash as entry_hash
from sync.protocol.names import BIDI_CONTROLS
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.event_audit import mismatched_events
from sync.store.records import AuditEntry, AuditReport

CREATED = CREATED_ACTION  # entry 1's action
APPLIED = "retention.applied"  # retention moved the checkpoint (``sync.store.retention``)
_COLUMNS = "sequence, at, actor, action, subject, details, prev_hash, entry_hash"


__all__ = [
    "APPLIED",
    "CREATED",
    "GENESIS_HASH",
    "AuditLog",
    "canonical_json",
    "entry_hash",
    "file_subject",
    "terminal_text",
]


@dataclass(frozen=True)
class Checkpoint:
    """The last entry retention deleted (``sequence`` 0: none): the kept chain follows it."""

    sequence: int
    entry_hash: str
    at: str | None  # that entry's time, as stored


def file_subject(path: Path) -> str:
    """``path``'s name as an entry records it. Linux lets a file name hold bytes that are
    not UTF-8 (a Latin-1 name: Python gives them as surrogates), which the chain's UTF-8 JSON
    cannot: they are written as ``\\xNN``, so a backup or a restore under such a name is not
    reported failed, and unaudited, after it was done."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


# C0 controls, DEL and C1 controls: what a terminal acts on (a line feed, ESC and the CSI
# that start ANSI sequences, clearing the screen or recolouring what follows) instead of
# showing; the marks and overrides that show text right to left (Unicode's bidirectional
# controls: what "Trojan Source" hid code with); and the backslash that starts each escape,
# without which the four characters ``\x1b`` typed would read as an ESC escaped.
_TO_ESCAPE = re.compile("[\\\\\x00-\x1f\x7f-\x9f" + re.escape("".join(sorted(BIDI_CONTROLS))) + "]")


def terminal_text(text: str) -> str:
    """``text`` as a terminal may show it: each control character written as ``\\xNN``, the
    form :func:`file_subject` gives the bytes of a file name that are not UTF-8 (``\\uNNNN``
    past U+00FF), and a backslash as ``\\\\``, so what is shown reads back one way (a file
    name's ``\\xe9`` is shown ``\\\\xe9``: it is stored as those four characters). An entry's
    actor, subject and details hold text others typed (a file name, an operator's name, a
    reason), which must not move the cursor, split one entry into two lines, imitate an
    escape, or show its characters in another order than they are stored."""
    return _TO_ESCAPE.sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    character = found.group()
    if character == "\\":
        return "\\\\"
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


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
        return [_entry(row) for row in self.links(after, limit)]

    def verify(self, recorded_head: tuple[int, str] | None = None) -> AuditReport:
        """The chain (``verify_chain``), and each access event against its entry: the table
        the export and the sync read may have been edited with the chain left whole
        (``sync.store.event_audit``)."""
        report = self.verify_chain(recorded_head)
        return dataclasses.replace(report, events=mismatched_events(self._database))

    def verify_chain(self, recorded_head: tuple[int, str] | None = None) -> AuditReport:
        """Walk the whole chain from the first entry kept; stop at the first broken link.

        The first entry kept must follow the checkpoint (entry 0 and the genesis hash while
        retention has deleted nothing), and a checkpoint must be retention's (see the module):
        ``sync.store.retention``. ``recorded_head`` is a sequence and hash ``head`` gave
        earlier: that entry must still be in the chain, unchanged; one retention has deleted
        since cannot be checked here, and the report says so (``out_of_reach``).
        """
        checkpoint = self.checkpoint()
        expected_sequence, prev_hash, count = checkpoint.sequence + 1, checkpoint.entry_hash, 0
        for row in self._rows(after=checkpoint.sequence):
            problem = _problem(row, expected_sequence, prev_hash) or _not_the_head(
                row, recorded_head
            )
            if problem is not None:
                return AuditReport(
                    entries=count, first_bad_sequence=expected_sequence, problem=problem
                )
            count += 1
            expected_sequence, prev_hash = row[0] + 1, row[7]
        if count == 0:
            return AuditReport(
                entries=0,
                first_bad_sequence=expected_sequence,
                problem=f"the chain is empty: no {CREATED} entry"
                if checkpoint.sequence == 0
                else f"the chain is empty after its checkpoint at entry {checkpoint.sequence}",
            )
        unconfirmed = self._unconfirmed(checkpoint)
        if unconfirmed is not None:
            return AuditReport(entries=count, first_bad_sequence=1, problem=unconfirmed)
        if recorded_head is not None and recorded_head[0] <= checkpoint.sequence:
            return _before_checkpoint(count, checkpoint, recorded_head)
        if recorded_head is not None and expected_sequence <= recorded_head[0]:
            return AuditReport(
                entries=count,
                first_bad_sequence=expected_sequence,
                problem=f"the chain ends at entry {expected_sequence - 1}, before the recorded"
                f" head {recorded_head[0]}: {_REWOUND}",
            )
        return AuditReport(entries=count)

    def checkpoint(self) -> Checkpoint:
        """Where the chain kept begins: after the last entry retention deleted (entry 0, the
        genesis hash, when it deleted none, or the schema is older than the checkpoint)."""
        rows = self._database.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoint'"
        )
        if not rows:
            return Checkpoint(0, GENESIS_HASH, None)
        row = self._database.query("SELECT sequence, entry_hash, at FROM audit_checkpoint")[0]
        return Checkpoint(int(row[0]), str(row[1]), None if row[2] is None else str(row[2]))

    def _unconfirmed(self, checkpoint: Checkpoint) -> str | None:
        """Why the checkpoint is not known to be retention's (see the module); None if it is."""
        if checkpoint.sequence == 0:
            return None
        applied, held = self._database.query(
            "SELECT (SELECT count(*) FROM audit_log WHERE action = ? AND actor = 'retention'"
            " AND json_extract(details, '$.audit_checkpoint') = ?),"
            " (SELECT max(sequence) FROM audit_receipts)",
            (APPLIED, checkpoint.sequence),
        )[0]
        gone = f"entries 1-{checkpoint.sequence} are not on this device (its checkpoint)"
        if not applied:
            return f"{gone}, and no retention run here records deleting them: entries removed"
        if held is None or held < checkpoint.sequence:
            return f"{gone}, though the hub never held them: entries removed"
        return None

    def links(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Raw rows after ``after`` (the stored text, as hashed): what the hub is sent."""
        rows = self._database.query(
            f"SELECT {_COLUMNS} FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after, limit),
        )
        return [tuple(row) for row in rows]

    def newest_links(self, limit: int) -> list[tuple[Any, ...]]:
        """The newest ``limit`` raw rows, oldest first."""
        rows = self._database.query(
            f"SELECT {_COLUMNS} FROM audit_log ORDER BY sequence DESC LIMIT ?", (limit,)
        )
        return [tuple(row) for row in reversed(rows)]

    def count_after(self, after: int) -> int:
        rows = self._database.query("SELECT count(*) FROM audit_log WHERE sequence > ?", (after,))
        return int(rows[0][0])

    def head(self) -> tuple[int, str]:
        """The newest entry's sequence and hash (0 and the genesis hash when empty)."""
        rows = self._database.query(
            "SELECT sequence, entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1"
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)

    def _rows(self, after: int) -> Iterator[tuple[Any, ...]]:
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
    if sequence == 1 and row[3] != CREATED:
        return f"entry 1 is {row[3]!r}, not the store's creation ({CREATED}): entries removed"
    return None


def page_problem(rows: list[tuple[Any, ...]]) -> str | None:
    """The first break within ``rows`` (raw rows, consecutive, as ``links`` gives them):
    an entry whose hash does not match its contents, or that does not follow the one before
    it; None if they hold. What a page shown to someone can check without walking the whole
    chain (``verify`` does)."""
    for before, row in zip([None, *rows], rows, strict=False):
        if before is not None:
            problem = _problem(row, before[0] + 1, before[7])
        elif entry_hash(row[:7]) != row[7]:
            problem = f"entry {row[0]} was edited: its hash does not match its contents"
        else:
            problem = None
        if problem is not None:
            return problem
    return None


_REWOUND = "entries were removed or rewritten, or the store restored from an older backup"


def _before_checkpoint(
    count: int, checkpoint: Checkpoint, recorded_head: tuple[int, str]
) -> AuditReport:
    """A recorded head at the checkpoint is checked against its hash; one before it is out
    of reach: the chain is whole, but that head can only be checked on the hub."""
    sequence, digest = recorded_head
    if sequence == checkpoint.sequence and digest == checkpoint.entry_hash:
        return AuditReport(entries=count)
    if sequence == checkpoint.sequence:
        problem = f"entry {sequence} (the checkpoint) is not the recorded head: {_REWOUND}"
        return AuditReport(entries=count, first_bad_sequence=sequence, problem=problem)
    reason = (
        f"the recorded head {sequence} is before the checkpoint at entry"
        f" {checkpoint.sequence}: retention deleted it once the hub held it"
    )
    return AuditReport(entries=count, out_of_reach=reason)


def _not_the_head(row: tuple[Any, ...], recorded_head: tuple[int, str] | None) -> str | None:
    if recorded_head is None or row[0] != recorded_head[0] or row[7] == recorded_head[1]:
        return None
    return f"entry {row[0]} is not the recorded head: {_REWOUND}"


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

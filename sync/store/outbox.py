"""The outbox: every change to synced data, queued in the transaction that made it.

``enqueue`` takes the caller's connection, so the rows and their outbox entry commit together
or not at all. The sequence is an AUTOINCREMENT key: strictly increasing, never reused even
after entries are deleted. Each entry has a uuid4 idempotency key, so the hub applies a batch
pushed twice (a lost acknowledgement) once. States move
``queued -> sent -> acknowledged | rejected``, and ``sent -> queued`` when a push is retried
(counting a refusal when the hub asked for the retry), and ``rejected -> queued`` only when an
operator requeues a quarantined entry. ``mark_*`` move entries one state at a time and refuse
any other move; a push writes its whole ``Verdict`` with ``settle``, recovers a crashed push
with ``recover_interrupted``, and an operator's ``requeue_quarantined`` is audited: each is one
transaction, and each moves only entries in the state it starts from
(``sync.store.outbox_moves``, ``sync.store.outbox_quarantine``).

An acknowledged entry that nothing reads again is deleted (``sync.store.outbox_forget``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sync.errors import RecordInvalidError, RecordNotFoundError
from sync.protocol import PayloadError, parse_payload
from sync.store import outbox_quarantine
from sync.store.audit import AuditLog
from sync.store.catch_hub import catch_held_for, vouched_for
from sync.store.clock import Clock, format_timestamp, parse_timestamp
from sync.store.database import Database
from sync.store.edit_clock import edit_time
from sync.store.hub_keys import UNKNOWN_HUB
from sync.store.outbox_forget import sweep_acknowledged
from sync.store.outbox_moves import move_entries, settle_verdict
from sync.store.records import OutboxEntry, OutboxState
from sync.store.verdict import Quarantined, Verdict

_COLUMNS = (
    "sequence, idempotency_key, entity, entity_uid, operation, payload, state, created_at, "
    "state_changed_at, attempts, reject_reason, refusals"
)
ERASED_PAYLOAD = json.dumps({"erased": True})
# ``json_insert``: what an earlier send of the entry said stays (``Outbox.note_withheld``).
_NOTE_WITHHELD = (
    "UPDATE outbox SET payload = json_insert(payload, '$.withheld', json(?))"
    " WHERE idempotency_key = ? AND entity = 'photo' AND operation = 'upsert'"
)
# The store schema that holds entries for another hub (``outbox.for_hub``).
HOLDS_SINCE_SCHEMA = 15
# The store schema whose catches say which hub they are of (``fish_observations.for_hub``).
CATCHES_HELD_SINCE_SCHEMA = 17
# The newest entry held about either record (by the entity index), or, still unsent (by the
# state index: a store keeps thousands of acknowledged catches and photos, and this runs at
# every enqueue), naming either as its person, as ``sync.store.outbox_hub`` tells people held.
_HOLDING = (
    "SELECT for_hub, sequence FROM outbox WHERE entity_uid IN (?, ?) AND for_hub IS NOT NULL"
    " UNION ALL SELECT for_hub, sequence FROM outbox WHERE state IN ('queued', 'sent', 'rejected')"
    " AND for_hub IS NOT NULL AND json_extract(payload, '$.person_uid') IN (?, ?)"
    " ORDER BY sequence DESC LIMIT 1"
)


class Outbox:
    """Queue and state machine of changes bound for the hub."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        audit: AuditLog,
        *,
        holds: bool = True,
        holds_catches: bool = True,
    ) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit  # an operator's requeue is audited in its own transaction
        # Whether the schema has ``outbox.for_hub`` (and ``fish_observations.for_hub``): a
        # store is opened at the latest schema, but tests write stores of older ones with
        # this code.
        self._holds = holds
        self._holds_catches = holds_catches

    def enqueue(
        self,
        connection: Any,
        *,
        entity: str,
        entity_uid: str,
        operation: str,
        payload: Mapping[str, Any],
        made_at: str | None = None,
        held_for: str | None = None,
        quarantine_invalid: bool = False,
    ) -> int:
        """Queue a change inside the caller's write transaction; returns its sequence.

        A payload the hub's schema refuses (a site name it does not accept, an erasure reason
        over its limit) raises ``RecordInvalidError``, which rolls the caller's change back:
        saved here, it would be quarantined on push and never reach the hub, and for an
        erasure that means the other devices keep the person. With ``quarantine_invalid``
        it is written quarantined with that reason instead, as the hub would answer it: for
        a record stored before a rule of the schema refused it, sent again
        (``sync.store.resend``), which no change of the caller's can mend.

        Its ``created_at`` is the time the hub resolves conflicts by: ``edit_time``, never
        earlier than what this device has seen from the hub, however far behind its clock;
        or ``made_at`` (a store timestamp), for a record made before and queued again for a
        hub that lost it (``sync.store.resend``): an old version must not win as a new edit.

        An entry about a record whose entries are held for a hub left since is held for it
        too (``sync.store.outbox_hub``), or for ``held_for`` (a hub key) when the caller
        read it before its change dropped them.
        """
        refused = None
        try:
            parse_payload(entity, operation, dict(payload))
        except PayloadError as error:
            if not quarantine_invalid:
                raise RecordInvalidError(f"not saved: {error}") from None
            refused = f"not sendable: {error}"
        now = format_timestamp(self._clock.now())
        stamp = made_at or format_timestamp(edit_time(connection, self._clock, entity_uid))
        cursor = connection.execute(
            "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload, state,"
            " created_at, state_changed_at, reject_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), entity, entity_uid, operation, json.dumps(payload),
             "queued" if refused is None else "rejected", stamp, now, refused),
        )  # fmt: skip
        sequence = int(cursor.lastrowid)
        hub = held_for or self.hub_holding(connection, entity_uid, payload.get("person_uid"))
        if hub is not None:
            connection.execute("UPDATE outbox SET for_hub = ? WHERE sequence = ?", (hub, sequence))
        return sequence

    def hub_holding(self, connection: Any, uid: str, person_uid: str | None = None) -> str | None:
        """``hub_holding`` (below), inside the caller's transaction, or else the hub the
        catch ``uid`` is of, when another than the registered one (one pulled from the old
        hub has no entry held: ``sync.store.catch_hub``), also in place of no known hub once
        a hub vouched for the catch; None for a store of a schema before
        ``HOLDS_SINCE_SCHEMA``, which holds none."""
        if not self._holds:
            return None
        held = hub_holding(connection, uid, person_uid)
        # An entry of the catch kept as of no known hub does not hold what a pull or an
        # acknowledgement has vouched for since: the catch's stamp says.
        vouched = held == UNKNOWN_HUB and vouched_for(connection, uid)
        if self._holds_catches and (held is None or vouched):
            held = catch_held_for(connection, uid)
        return held

    def held_for(self, entity_uid: str) -> str | None:
        """The hub the newest entry about ``entity_uid`` is held for (``hub_stamp``: its id,
        or its address); None when it goes to the registered hub, or there is none."""
        if not self._holds:
            return None
        rows = self._database.query(
            "SELECT for_hub FROM outbox WHERE entity_uid = ? ORDER BY sequence DESC LIMIT 1",
            (entity_uid,),
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def quarantine_reason(self, entity_uid: str) -> str | None:
        """Why the newest entry about ``entity_uid`` waits in quarantine (written so by
        ``enqueue``'s ``quarantine_invalid``, or refused by the hub since); None if it does not."""
        rows = self._database.query(
            "SELECT state, reject_reason FROM outbox WHERE entity_uid = ?"
            " ORDER BY sequence DESC LIMIT 1",
            (entity_uid,),
        )
        return str(rows[0][1]) if rows and rows[0][0] == "rejected" else None

    def tombstones(self) -> list[OutboxEntry]:
        """Every erasure this device queued, whatever became of it."""
        return self._select("WHERE operation = 'tombstone' ORDER BY sequence", ())

    def carry(self, connection: Any, entry: OutboxEntry, *, held_for: str | None = None) -> bool:
        """Queue another store's entry here under its own idempotency key (once).

        For a restore: the hub applies a key once, so an entry it already has costs one
        duplicate answer. An acknowledged or quarantined entry keeps its state; one queued or
        in flight is queued again; each is held for ``held_for`` (a hub key), if given, as
        this store holds the record's entries (``sync.store.outbox_hub``). Returns False if this
        store already holds the key.
        """
        if connection.execute(
            "SELECT 1 FROM outbox WHERE idempotency_key = ?", (entry.idempotency_key,)
        ).fetchone():
            return False
        kept = entry.state in (OutboxState.ACKNOWLEDGED, OutboxState.REJECTED)
        state = entry.state if kept else OutboxState.QUEUED
        connection.execute(
            "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload, state,"
            " created_at, state_changed_at, reject_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.idempotency_key,
                entry.entity,
                entry.entity_uid,
                entry.operation,
                entry.payload_json,
                state.value,
                format_timestamp(entry.created_at),
                format_timestamp(self._clock.now()),
                entry.reject_reason if state == OutboxState.REJECTED else None,
            ),
        )
        if held_for is not None:  # acknowledged too: a move holds those (``hold_for_hub``)
            connection.execute(
                "UPDATE outbox SET for_hub = ? WHERE idempotency_key = ?",
                (held_for, entry.idempotency_key),
            )
        return True

    def queued(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest entries still waiting to be sent, in sequence order; never one held for
        another hub than the registered one (``sync.store.outbox_hub``)."""
        return self._select(
            "WHERE state = 'queued' AND for_hub IS NULL ORDER BY sequence LIMIT ?", (limit,)
        )

    def entries(self, after: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        return self._select("WHERE sequence > ? ORDER BY sequence LIMIT ?", (after, limit))

    def get(self, idempotency_key: str) -> OutboxEntry:
        found = self._select("WHERE idempotency_key = ?", (idempotency_key,))
        if not found:
            raise RecordNotFoundError(f"no outbox entry {idempotency_key}")
        return found[0]

    def counts(self) -> dict[OutboxState, int]:
        """Entries by state, but for the unsent ones held for another hub
        (``sync.store.outbox_hub``): a sync never sends those, so they are not what it waits
        on. The acknowledged are all counted: the store keeps them, whichever hub has them."""
        rows = self._database.query(
            "SELECT state, count(*) FROM outbox WHERE for_hub IS NULL OR state = 'acknowledged'"
            " GROUP BY state"
        )
        counts = dict.fromkeys(OutboxState, 0)
        counts.update({OutboxState(state): int(n) for state, n in rows})
        return counts

    def note_withheld(self, told: Mapping[str, bool]) -> None:
        """Keep in each photo upsert's payload what its first send tells the hub: whether
        the device keeps the face image (``withheld``, decided by the site's policy as it is
        first sent). Never changed after: every later send under the entry's key says the
        same (``push.to_wire``), as the hub refuses a key that comes back with other content.
        A policy changed after a send that said ``False`` is told in a new entry
        (``sync.client.withheld``)."""
        if not told:
            return
        with self._database.write() as connection:
            connection.executemany(
                _NOTE_WITHHELD, [(json.dumps(w), key) for key, w in told.items()]
            )

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

    def recover_interrupted(self) -> int:
        """Requeue entries left ``sent`` by a sync that died before hearing the hub.

        Safe only while the caller holds the store's sync lock: then no other sync has a push
        in flight. The hub may already have them; their idempotency keys make the retry
        acknowledged without storing anything twice. Returns how many were requeued.
        """
        stamp = format_timestamp(self._clock.now())  # read before waiting for the write lock
        with self._database.write() as connection:
            cursor = connection.execute(
                "UPDATE outbox SET state = 'queued', state_changed_at = ? WHERE state = 'sent'",
                (stamp,),
            )
            return int(cursor.rowcount)

    def settle(self, verdict: Verdict, hub: str | None = None) -> None:
        """Write a push's whole verdict in one transaction (only entries still ``sent`` move).
        ``hub``: the hub that gave it (a ``hub_stamp``), whose the catches it took are."""
        stamp = format_timestamp(self._clock.now())
        with self._database.write() as connection:
            settle_verdict(connection, verdict, stamp, hub, holds_catches=self._holds_catches)

    def forget_acknowledged(self) -> int:
        """Delete what a release before this one kept of the next ``SWEEP_BATCH``
        acknowledged entries, in sequence order (``sync.store.outbox_forget``); returns how
        many.

        One write transaction, bounded, so it never needs much free space or holds the
        kiosk's writes up for long; where it got to is kept with the change, so a crash
        only repeats a batch. Entries acknowledged since drop theirs as they are settled.
        """
        with self._database.write() as connection:
            return sweep_acknowledged(connection, self._clock)

    def quarantined(self, limit: int = 100) -> list[Quarantined]:
        """The rejected entries with their reasons, oldest first; not those held for another
        hub (``sync.store.outbox_hub``), which a requeue here would send to this one."""
        return outbox_quarantine.quarantined(self._database, limit)

    def refused_erasures(self) -> list[Quarantined]:
        """The erasures the hub refused (``quarantined``, all of them): until they are
        applied there, the hub and the other devices keep those people."""
        return outbox_quarantine.refused_erasures(self._database)

    def requeue_quarantined(self, sequences: Sequence[int] | None, *, operator: str) -> int:
        """Put quarantined entries back in the queue (``None``: all of them, but those held for
        another hub, which a sequence named refuses); returns how many.

        Their reason is cleared and their count of refusals starts again from 0, so an entry the
        hub still refuses as retryable gets the whole ``Tuning.max_retryable_attempts`` once more
        instead of going back to quarantine on its first refusal. A sequence that names no
        quarantined entry fails the whole request before anything moves. The move and its audit
        entries commit together: one names up to ``REQUEUED_PER_AUDIT_ENTRY`` sequences, and a
        larger requeue writes as many entries as it takes (``part``/``parts``). A photo upsert
        the hub refused for its key's other content goes under a new key, its ``withheld``
        left to its next send (``sync.store.outbox_quarantine``).
        """
        stamp = format_timestamp(self._clock.now())
        with self._database.write() as connection:
            return outbox_quarantine.requeue(
                connection, self._audit, sequences, operator=operator, stamp=stamp
            )

    def scrub(self, connection: Any, entity_uids: Sequence[str]) -> int:
        """For an erasure: drop unsent entries about these records, blank the others' payloads.

        Tombstones are left alone: they carry no biometric data, and they are how the erasure
        reaches the hub. Returns how many entries were dropped. Runs inside the erasure's
        transaction.
        """
        if not entity_uids:
            return 0
        marks = ",".join("?" * len(entity_uids))
        about_them = f"entity_uid IN ({marks}) AND operation != 'tombstone'"
        dropped = connection.execute(
            f"DELETE FROM outbox WHERE state = 'queued' AND {about_them}", tuple(entity_uids)
        ).rowcount
        connection.execute(
            f"UPDATE outbox SET payload = ? WHERE {about_them}", (ERASED_PAYLOAD, *entity_uids)
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
            move_entries(connection, keys, target, now, count_attempt=count_attempt, reason=reason)

    def _select(self, clause: str, parameters: Sequence[Any]) -> list[OutboxEntry]:
        rows = self._database.query(f"SELECT {_COLUMNS} FROM outbox {clause}", parameters)
        return [_entry(row) for row in rows]


def hub_holding(connection: Any, uid: str, person_uid: str | None = None) -> str | None:
    """The hub the entries about the record ``uid``, or about its person ``person_uid``, are
    held for (a person's: also those naming them, such as their face templates and access
    decisions); None when none is held."""
    uids = (uid, person_uid or uid)
    row = connection.execute(_HOLDING, uids * 2).fetchone()
    return None if row is None else str(row[0])


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

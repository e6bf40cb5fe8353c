"""Erasures carried over a restore.

A backup holds everyone enrolled when it was taken. Restoring it over the store in use must
not bring back a person erased since: erasure is the data subject's right, and the kiosk
would verify them again. So before a restored copy is put in place, every erasure the store
it replaces recorded is applied to it again: this device's own, with their tombstones (which
may not have reached the hub yet, and then exist nowhere else), and those pulled from the
hub. Each person removed this way gets a ``person.erased`` entry that says it was carried. A
tombstone carried for a person whose entries the restored copy holds for a hub left since
(``sync.store.outbox_hub``) is held for that hub too, as the erasure was.
The erasures are read from those entries, and from the erasure ledger for the entries
decision retention has deleted since (``sync.store.retention.RECORDED_ERASURES``); the
ledger keeps no reason, so the entry of an erasure carried from it gives
``REASON_NOT_KEPT``.
An erasure of someone the replaced store holds again (a retention erasure the hub overruled)
is not carried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync.store.people import remove_person
from sync.store.records import OutboxEntry
from sync.store.retention import RECORDED_ERASURES
from sync.store.store import Store


@dataclass(frozen=True)
class Erasure:
    """One person erased in a store, and this device's tombstone for them if it made one."""

    person_uid: str
    reason: str
    tombstone: OutboxEntry | None


def recorded_erasures(store: Store) -> list[Erasure]:
    """Every erasure ``store``'s audit trail records (or recorded, before retention deleted
    the entry), oldest first, with its own tombstones."""
    tombstones = {entry.entity_uid: entry for entry in store.outbox.tombstones()}
    rows = store.database.query(
        f"SELECT person_uid, reason FROM ({RECORDED_ERASURES}) ORDER BY sequence"
    )
    found: dict[str, Erasure] = {}
    for subject, reason in rows:
        found.setdefault(subject, Erasure(subject, str(reason), tombstones.pop(subject, None)))
    # A tombstone with no audit entry cannot be written by this code; carry it all the same.
    found.update({uid: Erasure(uid, "", entry) for uid, entry in tombstones.items()})
    # Someone the store holds again was given back by the hub after an early retention
    # erasure here (``sync.client.apply``): that erasure no longer stands.
    held = {uid for (uid,) in store.database.query("SELECT person_uid FROM people")}
    return [erasure for uid, erasure in found.items() if uid not in held]


def carry_erasures(store: Store, erasures: Sequence[Erasure], *, operator: str) -> int:
    """Apply ``erasures`` to ``store`` in one transaction; returns how many people it removed."""
    removed_count = 0
    with store.database.write() as connection:
        for erasure in erasures:
            # Read before the removal drops them: the hub the person's entries are held for.
            held_for = store.outbox.hub_holding(connection, erasure.person_uid)
            removed = remove_person(connection, store.outbox, erasure.person_uid)
            if erasure.tombstone is not None:
                store.outbox.carry(connection, erasure.tombstone, held_for=held_for)
            if removed is None:
                continue
            store.audit.append(
                connection,
                actor=operator,
                action="person.erased",
                subject=erasure.person_uid,
                details={**removed.details(erasure.reason), "carried_over_restore": True},
            )
            removed_count += 1
    if removed_count:
        store.database.purge(wait=True)  # no reader but ours: the copy is not in place yet
    return removed_count

"""Access events against the audit chain: each must say what its ``access.decision`` says.

The chain shows an edited entry, but the attendance export, the sync and the hub read the
``access_events`` table, not the chain. Schema 18's triggers refuse an edit through SQL
(``sync.store.schema.v18``); whoever holds the key can drop them, so ``AuditLog.verify``
also compares every event with the entry written in the same transaction
(``sync.store.access``), field by field, over every field the entry carries.

Retention deletes events and entries each by its own rule (``sync.store.retention``), so
neither missing is by itself a break:

* an entry whose event is gone: retention deleted the event once the hub held it;
* an event whose entry is gone: retention deleted the chain's prefix, and the event stayed
  (the hub refused it, or it waits to be sent again to a restored hub). Events are numbered
  (``id``) in the order they were recorded, each with its entry, so the events recorded
  after the prefix all have theirs: an event with none is accepted only while the chain has a
  checkpoint and no earlier-numbered event has a kept entry. An event added through SQL
  after the others has none, and is reported.

What this cannot show: an edit of an event whose entry retention deleted (the hub holds
the entry, and the event as sent), an event deleted (retention deletes them too; the hub
holds what it acknowledged), an event added under a number before every checked one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sync.store.database import Database

ACTION = "access.decision"
FIELDS = (
    "event_uid",
    "occurred_at",
    "site",
    "device",
    "decision",
    "person_uid",
    "similarity",
    "liveness",
    "clock_suspect",
)
# Written into an entry only when set (``sync.store.access.access_payload``): an entry
# without it says the event has none, so one given a flag afterwards differs from it.
_UNSET_WHEN_ABSENT = {"clock_suspect": None}
_ENTRIES = "SELECT sequence, details FROM audit_log WHERE action = ?"


class _Missing:
    def __repr__(self) -> str:
        return "(no such column)"


_MISSING = _Missing()


def mismatched_events(database: Database) -> tuple[str, ...]:
    """Why each event that does not match its entry (or has none it should) is wrong, in
    the order they were recorded; empty when every event matches."""
    with database.read() as connection:
        pruned = _chain_pruned(connection)
        entries = {
            json.loads(details).get("event_uid"): (int(sequence), details)
            for sequence, details in connection.execute(_ENTRIES, (ACTION,))
        }
        rows = connection.execute(_events_query(connection)).fetchall()
    return tuple(_problems(rows, entries, pruned))


def _problems(
    rows: Iterable[tuple[Any, ...]], entries: Mapping[Any, tuple[int, str]], pruned: bool
) -> Iterable[str]:
    entry_seen = False
    for row in rows:
        event = dict(zip(FIELDS, row, strict=True))
        found = entries.get(event["event_uid"])
        if found is None:
            if not (pruned and not entry_seen):
                yield (
                    f"access event {event['event_uid']} has no {ACTION} audit entry:"
                    " added outside Jaga"
                )
            continue
        entry_seen = True
        sequence, details = found
        recorded = {**_UNSET_WHEN_ABSENT, **json.loads(details)}
        differences = _differences(event, recorded, sequence)
        if differences:
            yield f"access event {event['event_uid']} differs from its audit entry: {differences}"


def _differences(event: Mapping[str, Any], recorded: Mapping[str, Any], sequence: int) -> str:
    """``name value (entry N: value)`` for each field the entry carries that the event
    stores otherwise (one the event has no column for counts as different)."""
    return "; ".join(
        f"{name} {event.get(name, _MISSING)!r} (entry {sequence}: {value!r})"
        for name, value in recorded.items()
        if event.get(name, _MISSING) != value
    )


def _events_query(connection: Any) -> str:
    """Every event's ``FIELDS``, oldest first; NULL for a column the store's schema has not
    added yet (a store before schema 19 flagged no event)."""
    held = {row[1] for row in connection.execute("PRAGMA table_info(access_events)")}
    fields = (name if name in held else f"NULL AS {name}" for name in FIELDS)
    return f"SELECT {', '.join(fields)} FROM access_events ORDER BY id"


def _chain_pruned(connection: Any) -> bool:
    """Whether retention deleted a prefix of the chain (``sync.store.audit.Checkpoint``);
    a store older than schema 12 has no checkpoint."""
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoint'"
    ).fetchone()
    if found is None:
        return False
    return int(connection.execute("SELECT sequence FROM audit_checkpoint").fetchone()[0]) > 0

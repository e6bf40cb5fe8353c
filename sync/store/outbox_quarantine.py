"""Quarantined outbox entries (``rejected``), listed and put back in the queue by an operator.

``rejected -> queued`` is the operator's move only (``Outbox.requeue_quarantined``), and it
is audited: the move and its ``outbox.requeued`` audit entries commit together. Entries held
for another hub (``sync.store.outbox_hub``) are neither listed nor requeued: a requeue here
would send them to this one.

An entry keeps its idempotency key, but for a photo upsert the hub refused because its key
came back with other content (``KEY_REUSED_REASON``), which that key never passes: an older
release kept in the entry what its LAST send said (whether a face image stays here,
``withheld``), where ``Outbox.note_withheld`` now keeps what its first said, so such an
entry sent again after the site's policy changed was refused for good, and requeued as it
was it would be refused again. It goes under a new key, without that answer: its next send
decides it from the policy then (``sync.client.push.to_wire``). That is safe on the hub,
which applies a photo's upsert by its uid: the same device's again is an edit of what it
says of the photo, and never touches bytes stored, nor an upload under way, of the same
sha256 (``sync.hub.apply.records``). The sequence stays (the hub's ledger keeps it with the
first key), and the audit entry names the entries that went under a new key
(``new_keys``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sync.errors import RecordNotFoundError
from sync.protocol import KEY_REUSED_REASON
from sync.store.audit import AuditLog
from sync.store.audit_parts import audit_parts
from sync.store.database import Database
from sync.store.verdict import Quarantined

# Sequences one ``outbox.requeued`` audit entry names: 1,000 of up to 12 digits stay near
# 14 KB of JSON, twice that with as many under a new key, within what an entry may carry to
# the hub (``MAX_PAYLOAD_BYTES``, 64 KiB).
REQUEUED_PER_AUDIT_ENTRY = 1000
# Quarantined photo upserts whose key the hub holds with other content (see the module); not
# one an erasure blanked, which never leaves the device.
_KEY_REUSED = (
    "SELECT sequence, payload FROM outbox WHERE state = 'rejected' AND entity = 'photo'"
    " AND operation = 'upsert' AND reject_reason = ?"
    " AND json_extract(payload, '$.photo_uid') IS NOT NULL"
)


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
    new_keys = _give_new_keys(connection, chosen)  # by the reason, before it is cleared
    for sequence in chosen:
        connection.execute(
            "UPDATE outbox SET state = 'queued', state_changed_at = ?,"
            " reject_reason = NULL, refusals = 0 WHERE sequence = ? AND state = 'rejected'",
            (stamp, sequence),
        )
    for details in _requeued_details(chosen, new_keys):
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


def _give_new_keys(connection: Any, chosen: list[int]) -> set[int]:
    """A new key for each of ``chosen`` that is a photo upsert refused for its key's other
    content, its ``withheld`` dropped (see the module); returns their sequences."""
    wanted = set(chosen)
    given: set[int] = set()
    for sequence, text in connection.execute(_KEY_REUSED, (KEY_REUSED_REASON,)).fetchall():
        if int(sequence) not in wanted:
            continue
        payload = json.loads(text)
        payload.pop("withheld", None)
        connection.execute(
            "UPDATE outbox SET idempotency_key = ?, payload = ? WHERE sequence = ?",
            (str(uuid.uuid4()), json.dumps(payload), sequence),
        )
        given.add(int(sequence))
    return given


def _requeued_details(chosen: list[int], new_keys: set[int]) -> list[dict[str, Any]]:
    """The audit entries' details for a requeue of ``chosen``: one entry listing them all
    (as it always was) up to ``REQUEUED_PER_AUDIT_ENTRY``, else one per part. An entry that
    listed every sequence of a large quarantine (``requeue --all``) outgrew what an audit
    entry may carry to the hub, and the chain could be anchored no further than it. Each
    names those of its sequences that went under a new key (``new_keys``), when any did."""
    details = audit_parts(chosen, REQUEUED_PER_AUDIT_ENTRY, counted="entries", listed="sequences")
    return [_with_new_keys(part, new_keys) for part in details]


def _with_new_keys(details: dict[str, Any], new_keys: set[int]) -> dict[str, Any]:
    """``details`` naming which of its sequences went under a new key, if any did."""
    renewed = [sequence for sequence in details["sequences"] if sequence in new_keys]
    return details | {"new_keys": renewed} if renewed else details

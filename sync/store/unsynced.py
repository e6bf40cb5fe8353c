"""What a restore would lose of the store it replaces: changes the hub never acknowledged
that the backup does not hold, and photos whose bytes the hub never received.

A change the backup holds is not lost. For most entries the backup holds it when its outbox
holds the entry (the same idempotency key: in whatever state, the backup sends it, or the hub
took it). But an access decision, person or face template upsert leaves the outbox once the
hub acknowledges it (``Outbox.settle``): a backup taken after a sync no longer lists what the
replaced store (an older backup restored since) still has queued. For those, the backup holds
the change when its record, as the entry would carry it (the same payload function), is the
entry's payload: the record is there, in the version the entry sends. A decision and a
template never change once made, so that is "the record is there"; a person's version that
differs (edited since, here or by a pull) is counted, not assumed sent. Whatever the backup
holds is either still queued in it or was acknowledged by the hub: nothing of it is lost.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.errors import RecordNotFoundError
from sync.store.access import COLUMNS as ACCESS_COLUMNS
from sync.store.access import access_event, access_payload
from sync.store.outbox import ERASED_PAYLOAD
from sync.store.people import person_payload, template_payload
from sync.store.records import ModelRef
from sync.store.store import Store

PHOTO_BYTES = "photo bytes"  # how the refusal names never uploaded photos
# The entries ``Outbox.settle`` deletes once acknowledged: matched by their record instead.
_MATCHED_BY_RECORD = ("access_event", "person", "face_template")


@dataclass(frozen=True)
class Unsynced:
    """An entry the hub has not acknowledged; its payload only for ``_MATCHED_BY_RECORD``."""

    entity: str
    entity_uid: str
    payload: str | None = None


def unsynced(store: Store) -> dict[str, Unsynced]:
    """Entries the hub has not acknowledged, by idempotency key, but tombstones (carried as
    erasures) and entries an erasure blanked (nothing of them is lost)."""
    rows = store.database.query(
        "SELECT idempotency_key, entity, entity_uid, operation, payload FROM outbox"
        " WHERE state != 'acknowledged' AND operation != 'tombstone' AND payload != ?",
        (ERASED_PAYLOAD,),
    )
    return {
        str(key): Unsynced(str(entity), str(uid), _matched_payload(entity, operation, payload))
        for key, entity, uid, operation, payload in rows
    }


def _matched_payload(entity: str, operation: str, payload: str) -> str | None:
    """The payload kept to compare with the backup's record; only for those matched so."""
    return str(payload) if entity in _MATCHED_BY_RECORD and operation == "upsert" else None


def unuploaded(store: Store) -> frozenset[str]:
    """Photos whose metadata the hub acknowledged and whose bytes it has not confirmed: no
    upload outcome (``sync_uploads``, the client's) of ``done``, or of ``skipped`` (the hub
    no longer holds the metadata: a person erased since). A photo with an unacknowledged
    entry is counted as that entry instead. Which photos the client uploads at all (face
    images by the site's policy, which the environment may override) is the client's to
    decide, out of the store's reach: so a face image kept on the device by that policy is
    counted too. It exists nowhere else either, and the operator can discard it."""
    rows = store.database.query(
        "SELECT p.photo_uid FROM photos p"
        " WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.entity = 'photo'"
        " AND o.entity_uid = p.photo_uid AND o.state = 'acknowledged')"
        " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity = 'photo'"
        " AND o.entity_uid = p.photo_uid AND o.state != 'acknowledged')"
        " AND NOT EXISTS (SELECT 1 FROM sync_uploads u WHERE u.photo_uid = p.photo_uid"
        " AND u.outcome IN ('done', 'skipped'))"
    )
    return frozenset(str(row[0]) for row in rows)


def lost(restored: Store, entries: Mapping[str, Unsynced], photos: frozenset[str]) -> Counter[str]:
    """How many of ``entries`` and ``photos`` (a replaced store's) the restored copy lacks,
    by kind (``PHOTO_BYTES`` for the photos)."""
    held = {str(row[0]) for row in restored.database.query("SELECT idempotency_key FROM outbox")}
    counts: Counter[str] = Counter()
    for key, entry in entries.items():
        if key not in held and not _record_holds(restored, entry):
            counts[entry.entity] += 1
    kept = {str(row[0]) for row in restored.database.query("SELECT photo_uid FROM photos")}
    if bytes_lost := len(photos - kept):
        counts[PHOTO_BYTES] = bytes_lost
    return counts


def _record_holds(store: Store, entry: Unsynced) -> bool:
    """Whether the restored copy's record is what ``entry`` would send (see the module)."""
    if entry.payload is None:
        return False
    payload = _record_payload(store, entry.entity, entry.entity_uid)
    return payload is not None and json.loads(json.dumps(payload)) == json.loads(entry.payload)


def _record_payload(store: Store, entity: str, uid: str) -> Any:
    """The payload the restored copy's record of ``entity`` would be queued with; None:
    it holds no such record."""
    if entity == "access_event":
        rows = store.database.query(
            f"SELECT {ACCESS_COLUMNS} FROM access_events WHERE event_uid = ?", (uid,)
        )
        return access_payload(access_event(rows[0])) if rows else None
    if entity == "person":
        try:
            return person_payload(store.people.get(uid))
        except RecordNotFoundError:
            return None
    rows = store.database.query(
        "SELECT p.person_uid, t.model_id, t.model_version, t.vector, t.quality, t.source"
        " FROM face_templates t JOIN people p ON p.id = t.person_id WHERE t.template_uid = ?",
        (uid,),
    )
    if not rows:
        return None
    person_uid, model_id, version, blob, quality, source = rows[0]
    return template_payload(
        uid, str(person_uid), model=ModelRef(model_id, version), blob=bytes(blob),
        quality=quality, source=source,
    )  # fmt: skip

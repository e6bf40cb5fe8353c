"""Photos whose upload the hub refused for good: kept in view until someone sends them again.

A final refusal of a photo's upload (``sync.client.uploads``: an outcome of ``failed``) is
kept in ``sync_uploads`` with the hub's words, and the photo is not offered again on its
own. Each such refusal is about the photo itself: its size or sha256 is not what the hub
holds for it (``upload_conflict``: another device replaced the photo's metadata, or an upload
of other contents is under way), its bytes failed their checksum twice, or the hub refused
the request's shape; the same bytes against the same metadata get the same answer, so a
retry with each sync would only repeat the warning.

Its bytes then exist only on this device, so it is never forgotten: ``jaga sync status``
names each with the hub's reason and its last sync reads "ok, 1 photo failed to upload"
rather than "ok"; each sync's summary counts them; ``jaga store info`` counts them; the
metrics have ``jaga_sync_photo_uploads_failed``. A photo erased here since (its person
erased) is no longer counted: there are no bytes left to lose.

``jaga sync retry-uploads`` (``retry_failed_uploads``) sends them again once the cause is
dealt with: each photo's metadata is queued again (its newest upsert, as this device holds
it; for a face image, whether its bytes stay here is decided afresh by the site's policy
as it is first sent) and its failed outcome is forgotten, so the next sync pushes the
metadata, then uploads the bytes. A hub holding no bytes for the photo yet takes this
device's metadata back, and the upload goes through; one that stored other bytes under the
photo's uid refuses the metadata (the entry is quarantined, as ``jaga sync status``
shows) and the upload fails again, named again. Like a requeue of quarantined entries, a
retry is an operator's change of what the next sync sends, so it is audited: an
``uploads.retried`` entry naming who, how many photos and their uids (as a requeue's names
its sequences, in parts when there are many) commits with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sync import plural
from sync.errors import RecordNotFoundError
from sync.store import Store
from sync.store.audit_parts import audit_parts
from sync.store.outbox import ERASED_PAYLOAD

FAILED = "failed"  # the ``sync_uploads`` outcome of a final refusal
RETRIED_ACTION = "uploads.retried"
# Photo uids one ``uploads.retried`` audit entry names: 500 of 36 characters stay near
# 20 KB of JSON, within what an entry may carry to the hub (``MAX_PAYLOAD_BYTES``, 64 KiB).
RETRIED_PER_AUDIT_ENTRY = 500
_FAILED_PHOTOS = (
    "SELECT u.photo_uid, u.detail, u.at FROM sync_uploads u"
    " JOIN photos p ON p.photo_uid = u.photo_uid WHERE u.outcome = 'failed'"
)
# The newest upsert of a photo this device holds for its own hub: what is queued again.
_NEWEST_UPSERT = (
    "SELECT payload FROM outbox WHERE entity = 'photo' AND operation = 'upsert'"
    " AND entity_uid = ? AND for_hub IS NULL AND payload != ? ORDER BY sequence DESC LIMIT 1"
)


@dataclass(frozen=True)
class FailedUpload:
    """A photo whose upload the hub refused for good: its uid, the refusal, and when."""

    photo_uid: str
    detail: str
    at: str


def failed_uploads(store: Store, limit: int | None = None) -> list[FailedUpload]:
    """The photos whose upload failed for good (see the module), oldest refusal first."""
    shown = "" if limit is None else f" LIMIT {int(limit)}"
    rows = store.database.query(f"{_FAILED_PHOTOS} ORDER BY u.at, u.photo_uid{shown}")
    return [FailedUpload(str(uid), str(detail), str(at)) for uid, detail, at in rows]


def failed_upload_words(count: int) -> str:
    """How a sync's summary and ``jaga sync status`` name ``count`` failed uploads."""
    return (
        f"{plural.counted(count, 'photo')} failed to upload, the bytes only on this device"
        " (`jaga sync status` says why; `jaga sync retry-uploads` sends them again)"
    )


def count_failed_uploads(store: Store) -> int:
    rows = store.database.query(f"SELECT count(*) FROM ({_FAILED_PHOTOS})")
    return int(rows[0][0])


def retry_failed_uploads(store: Store, photo_uids: Sequence[str] | None, *, operator: str) -> int:
    """Queue the metadata of these failed photos again (``None``: all of them) and forget
    their failure, so the next sync pushes it and uploads the bytes; returns how many. A uid
    that names no failed upload fails the whole request before anything changes. The change
    and its audit entries (``operator``'s, ``RETRIED_ACTION``) commit together."""
    with store.database.write() as connection:
        failed = sorted(str(row[0]) for row in connection.execute(_FAILED_PHOTOS).fetchall())
        chosen = failed if photo_uids is None else sorted(set(photo_uids))
        missing = sorted(set(chosen) - set(failed))
        if missing:
            raise RecordNotFoundError(
                f"no failed upload of photo {', '.join(missing)} (see `jaga sync status`)"
            )
        for photo_uid in chosen:
            _queue_metadata_again(store, connection, photo_uid)
            connection.execute("DELETE FROM sync_uploads WHERE photo_uid = ?", (photo_uid,))
        for details in _retried_details(chosen):
            store.audit.append(
                connection,
                actor=operator,
                action=RETRIED_ACTION,
                subject="uploads",
                details=details,
            )
    return len(chosen)


def _retried_details(chosen: list[str]) -> list[dict[str, Any]]:
    """The audit entries' details for a retry of ``chosen``, split as a requeue's are
    (``sync.store.outbox_quarantine``): one entry up to ``RETRIED_PER_AUDIT_ENTRY`` photos,
    else one per part; none for a retry of nothing."""
    return audit_parts(chosen, RETRIED_PER_AUDIT_ENTRY, counted="photos", listed="photo_uids")


def _queue_metadata_again(store: Store, connection: Any, photo_uid: str) -> None:
    """The photo's newest upsert, queued again: a hub whose metadata of the photo another
    device replaced takes this device's back before the upload (``upload_conflict``).
    Under a new key, so without what the old entry's first send said of a face image
    (``withheld``, ``Outbox.note_withheld``): its own first send decides it from the policy
    then (``push.to_wire``), rather than repeat an answer the policy may have changed since,
    which a notice would then have to correct (``sync.client.withheld``)."""
    row = connection.execute(_NEWEST_UPSERT, (photo_uid, ERASED_PAYLOAD)).fetchone()
    if row is not None:
        payload = json.loads(row[0])
        payload.pop("withheld", None)
        store.outbox.enqueue(
            connection,
            entity="photo",
            entity_uid=photo_uid,
            operation="upsert",
            payload=payload,
        )

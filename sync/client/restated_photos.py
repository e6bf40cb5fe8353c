"""Face photo upserts a hub before refused for good, sent again once the hub takes them.

A store strips its face photos' metadata once (``sync.store.face_photo_metadata``) and
queues each photo's new sha256 for the hub. A hub of a release before
``FACE_PHOTOS_RESTATED_HEADER`` refused that for a photo it had stored already
(``OLDER_HUB_RESTATE_REFUSAL``: a device upgraded before its hub), and the device
quarantined it. The hub, upgraded, takes it as the same photo (``sync.hub.face_photos``) and
says so on every pull answer: then those entries, and only those (a face photo's upsert
refused with exactly those words), go back to the queue for the next push, as an operator's
``jaga sync requeue`` would put them, audited under ``REQUEUED_BY``. A hub that refuses one
again says more than those words, so none is sent again twice.
"""

from __future__ import annotations

import logging

from sync.protocol import OLDER_HUB_RESTATE_REFUSAL
from sync.store import Store

log = logging.getLogger(__name__)

REQUEUED_BY = "sync:hub-takes-stripped-face-photos"
_REFUSED_FACE_PHOTOS = (
    "SELECT sequence, reject_reason FROM outbox WHERE state = 'rejected'"
    " AND for_hub IS NULL AND entity = 'photo' AND operation = 'upsert'"
    " AND json_extract(payload, '$.person_uid') IS NOT NULL"
)


def requeue_restated_face_photos(store: Store) -> int:
    """Put back in the queue the face photo upserts a hub before refused as restated;
    returns how many (0: none, nothing written)."""
    rows = store.database.query(_REFUSED_FACE_PHOTOS)
    chosen = [int(row[0]) for row in rows if OLDER_HUB_RESTATE_REFUSAL.fullmatch(str(row[1]))]
    if not chosen:
        return 0
    moved = store.outbox.requeue_quarantined(chosen, operator=REQUEUED_BY)
    log.info("sending again %d face photo upserts an older hub refused", moved)
    return moved

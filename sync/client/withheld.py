"""Telling the hub a face image stays on the device after all.

``PhotoUpsert.withheld`` is decided as a photo's entry is first sent (``push.to_wire``), by
the site's policy then, and kept in the entry (``Outbox.note_withheld``): every later send
under its key says the same, since the hub refuses a key that comes back with other content.
A face image pushed while the policy let it travel, whose bytes had not gone up when the
policy changed to keep it, would leave the hub waiting for an upload that never comes
(``awaiting_upload`` for good, and its alert with it). So before each push, every such photo
gets its upsert queued again under a new key: the hub applies it as an edit of the same
photo. The notice says nothing of ``withheld`` as it is queued: like any new entry, its first
send decides it by the policy then (``push.to_wire``), which says ``withheld`` unless the
policy let the photo travel again before the notice went (a push the link cut), when the hub
must go on waiting for the bytes now on their way. That covers a send whose answer was lost
too (queued again, it says ``False`` again, and the notice goes after it), and one queued
again for a renewed hub (``sync.store.resend``). Once: the one queued here is the newest,
and until its first send it says nothing the query below takes for ``False``.

The other way needs no notice: a face image the hub was told is withheld is uploaded once the
policy lets it travel (``uploads.pending_uploads``), and the hub keeps the bytes it is sent.
"""

from __future__ import annotations

import json
from typing import Any

from sync.client.config import SitePolicy
from sync.store import Store

# The newest upsert of each face image not uploaded, when it told the hub the bytes would
# follow: acknowledged so (one acknowledged before sends were noted said nothing: the same),
# or sent so and waiting to go again under its key (an answer lost; a renewed hub's resend),
# which says so again. None while the newest was never sent: its first send decides. A
# rejected one told the hub nothing.
_TOLD_NOT_WITHHELD = (
    "SELECT o.entity_uid, o.payload FROM outbox o"
    " JOIN photos p ON p.photo_uid = o.entity_uid"
    " LEFT JOIN sync_uploads u ON u.photo_uid = p.photo_uid"
    " WHERE p.person_id IS NOT NULL AND u.photo_uid IS NULL"
    " AND o.entity = 'photo' AND o.operation = 'upsert'"
    " AND o.sequence = (SELECT max(n.sequence) FROM outbox n WHERE n.entity = 'photo'"
    "  AND n.operation = 'upsert' AND n.entity_uid = o.entity_uid AND n.state != 'rejected')"
    " AND json_extract(o.payload, '$.photo_uid') IS NOT NULL"
    " AND (o.state = 'acknowledged' AND coalesce(json_extract(o.payload, '$.withheld'), 0) = 0"
    "  OR o.state IN ('queued', 'sent') AND json_extract(o.payload, '$.withheld') = 0)"
)


def queue_withheld_notices(store: Store, policy: SitePolicy) -> int:
    """Queue a ``withheld`` upsert of each face image the hub still waits for, though the
    policy now keeps it here; returns how many."""
    if policy.send_face_images or not store.database.query(_TOLD_NOT_WITHHELD):
        return 0  # a read: most syncs have nothing to tell, and need no write lock for it
    with store.database.write() as connection:  # read again: an erasure may have come between
        rows = connection.execute(_TOLD_NOT_WITHHELD).fetchall()
        for photo_uid, payload in rows:
            store.outbox.enqueue(
                connection,
                entity="photo",
                entity_uid=photo_uid,
                operation="upsert",
                payload=_undecided(json.loads(payload)),
            )
    return len(rows)


def _undecided(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` without what its entry's first send said of ``withheld``: the notice's own
    first send decides it by the policy then, not by the one it was queued under."""
    payload.pop("withheld", None)
    return payload

"""Face photos an older kiosk kept whole lose their metadata, once, when the store opens.

A kiosk now keeps an enrolment photo as its pixels and orientation only
(``sync.photo_metadata``, applied by ``desktop.kiosk.enrol``); the photos an older kiosk
kept still hold the GPS position, serial numbers and names their camera wrote.
:func:`strip_face_photos_once` gives them the same rule, without re-encoding, in one write
transaction that also writes its mark: a process killed midway leaves every photo as it was
and the next open starts again, and an open after it finished changes nothing (the mark says
so, and stripping what is stripped changes nothing anyway). A store without face photos is
neither written nor marked. Catch photos are left as they are: where and when a fish was
caught is the record.

A photo's bytes change, so its sha256 and size do: the new ones are queued for the hub as
the photo's upsert (``photo_uid`` is the photo's, not its contents', and stays). A hub holds
either nothing of the photo yet (the new sha256 is what its upload will carry), or the same
bytes already: it strips a face photo's metadata as it keeps it (``sync.hub.face_photos``),
by this very rule, and so takes the new sha256 as the same photo (a hub of a release before
refused it for good, and the entry is sent again once that hub is upgraded:
``sync.client.restated_photos``). The old bytes leave the
store's files as an erasure's do (a purge owed, ``sync.store.purge_mark``). A photo whose
metadata cannot be removed (not a JPEG, PNG or WebP; damaged) is left as it is and logged:
nothing is lost, and its upload is refused by a hub until it is enrolled again.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from sync.errors import UnreadablePhotoError
from sync.photo_metadata import strip_metadata
from sync.store import purge_mark
from sync.store.clock import parse_timestamp
from sync.store.photos import photo_payload
from sync.store.records import Photo
from sync.store.schema.migrations import schema_version

if TYPE_CHECKING:
    from sync.store.store import Store

log = logging.getLogger(__name__)

# The ``sync_state`` row that says the face photos were stripped (its value: how many). A
# rule that removes more one day (``sync.photo_metadata``) needs a mark of its own, to run
# again over photos this one left.
STRIPPED_MARK = "store.face_photos_stripped"


def strip_face_photos_once(store: Store) -> int:
    """Strip the metadata of every face photo kept whole, queue their new contents for the
    hub, and mark it done, in one transaction; returns how many photos changed (0 once the
    mark is there)."""
    with store.database.translated():
        connection = store.database.connection
        if schema_version(connection) < purge_mark.SINCE_SCHEMA:
            return 0  # a store of a schema without sync_state: a test's, never opened so
        if not _owed(connection):  # read first: an open that has nothing to do writes nothing
            return 0
    with store.database.write() as connection:
        if not _owed(connection):  # done meanwhile by another process
            return 0
        ids = [int(row[0]) for row in connection.execute(_FACE_PHOTO_IDS)]
        changed = sum(_stripped(store, connection, photo_id) for photo_id in ids)
        connection.execute(
            "INSERT INTO sync_state (name, value, updated_at)"
            " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            (STRIPPED_MARK, str(changed)),
        )
        if changed:
            purge_mark.owe_purge(connection)  # the old bytes are in the file and its log
    if changed:
        log.info("removed the metadata of %d face photos an older kiosk kept whole", changed)
    return changed


_FACE_PHOTO_IDS = "SELECT id FROM photos WHERE person_id IS NOT NULL ORDER BY id"
_FACE_PHOTO = (
    "SELECT p.photo_uid, p.data, p.media_type, p.taken_at, pe.person_uid"
    " FROM photos p JOIN people pe ON pe.id = p.person_id WHERE p.id = ?"
)


def _owed(connection: Any) -> bool:
    """Whether the store holds face photos and no mark yet: a store with none has nothing
    to strip, and every photo a kiosk adds from now on is stripped before it is stored."""
    found = connection.execute(
        "SELECT 1 FROM photos WHERE person_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM sync_state WHERE name = ?) LIMIT 1",
        (STRIPPED_MARK,),
    )
    return found.fetchone() is not None


def _stripped(store: Store, connection: Any, photo_id: int) -> bool:
    """Whether the photo ``photo_id`` changed: read one at a time (each may be MBs)."""
    row = connection.execute(_FACE_PHOTO, (photo_id,)).fetchone()
    if row is None:
        return False
    photo_uid, data, media_type, taken_at, person_uid = row
    data = bytes(data)
    try:
        kept = strip_metadata(data, f"photo {photo_uid}")
    except UnreadablePhotoError as error:
        log.warning("face photo kept as it is: %s", error)
        return False
    if kept == data:
        return False
    connection.execute(
        "UPDATE photos SET data = ?, sha256 = ?, byte_size = ? WHERE id = ?",
        (kept, hashlib.sha256(kept).hexdigest(), len(kept), photo_id),
    )
    photo = Photo(kept, media_type, parse_timestamp(taken_at), photo_uid)
    store.outbox.enqueue(
        connection,
        entity="photo",
        entity_uid=photo_uid,
        operation="upsert",
        payload=photo_payload(photo, person_uid),
    )
    return True

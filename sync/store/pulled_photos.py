"""The photo a pulled catch is on, when the store lacks it (``fish_observations.pulled_photo_uid``,
schema 20), and putting that photo in from where it is still kept.

Photos never travel in pulls. A catch this device recorded, lost from the store by a restore
of a backup taken before it (``jaga store restore``) and pulled back by a sync, comes back
without its photo, whose only bytes on the device may then be the Catch panel's spool entry
of it (``desktop.catch_spool``: a Record whose entry a kill left after the store's commit).
The pull notes the photo the catch names (``note_pulled_photo``), so that:

- the entry is found held, even one kept by a Jaga before entries carried their catch's
  observation uids, by the rule the hub applies to a catch pushed again
  (``sync.hub.apply.same_catch``): a catch of this device (``recorded_here``) on the entry's
  photo (the entry's uid is its photo's uid, made once per Record) is that entry's catch,
  not one to record again (``HELD_HERE``);
- the entry's photo is put into the store for the catches that name it
  (``keep_pulled_photo``) before the entry is deleted: a photo any catch names is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.store.clock import Clock, parse_timestamp
from sync.store.database import Database
from sync.store.outbox import Outbox
from sync.store.photos import insert_photo, photo_payload
from sync.store.records import Photo

# A row of this device's catch on the photo named by the one parameter, which the store lacks.
HELD_HERE = "(o.pulled_photo_uid = ? AND o.recorded_here = 1)"
_NAMING = "o.photo_id IS NULL AND (o.pulled_photo_uid = ? OR o.observation_uid IN ({}))"


def note_pulled_photo(connection: Any, observation_uid: str, photo_uid: str | None) -> None:
    """The catch ``observation_uid`` was just pulled naming ``photo_uid``: noted while the
    store lacks that photo (the pull links a photo it has: ``photo_id``)."""
    connection.execute(
        "UPDATE fish_observations SET pulled_photo_uid = CASE WHEN photo_id IS NULL THEN ? END"
        " WHERE observation_uid = ?",
        (photo_uid, observation_uid),
    )


def keep_pulled_photo(
    database: Database,
    clock: Clock,
    outbox: Outbox,
    photo: tuple[str, bytes, str],
    *,
    observation_uids: Sequence[str],
    made_at: str | None = None,
) -> bool:
    """Put ``photo`` (its uid, bytes and media type) into the store, in one transaction, for
    the catches that lack it and name it (pulled so) or are among ``observation_uids``,
    when one of them is this device's catch of it (``HELD_HERE``) or among those uids; its
    outbox entry dated ``made_at`` (as a Retry's), so that a hub without its bytes gets them.
    Whether it was put in: False when no such catch is held (nothing written)."""
    photo_uid, data, media_type = photo
    naming = _NAMING.format(", ".join("?" * len(observation_uids)))
    held_here = f"{HELD_HERE} OR o.observation_uid IN ({', '.join('?' * len(observation_uids))})"
    with database.write() as connection:
        rows = connection.execute(
            f"SELECT o.id, o.observed_at FROM fish_observations o WHERE {naming}"
            f" AND ({held_here}) ORDER BY o.id",
            (photo_uid, *observation_uids, photo_uid, *observation_uids),
        ).fetchall()
        if not rows:
            return False
        stored = connection.execute(
            "SELECT id FROM photos WHERE photo_uid = ?", (photo_uid,)
        ).fetchone()
        if stored is None:
            kept = Photo(data, media_type, parse_timestamp(rows[0][1]), photo_uid)
            photo_id = insert_photo(connection, database.config, clock, kept, None)
            outbox.enqueue(
                connection, entity="photo", entity_uid=photo_uid, operation="upsert",
                payload=photo_payload(kept, None), made_at=made_at,
            )  # fmt: skip
        else:
            photo_id = int(stored[0])
        connection.execute(
            f"UPDATE fish_observations AS o SET photo_id = ?, pulled_photo_uid = NULL"
            f" WHERE {naming}",
            (photo_id, photo_uid, *observation_uids),
        )
    return True

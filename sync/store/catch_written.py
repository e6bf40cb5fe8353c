"""Which of the catches a caller still holds (the Catch panel's spool) the store has already.

A catch's photo uid and its observations' uids are made once, when Record is pressed, and
kept with it until the store has it (``desktop.catch_spool``). The store has it when its
photo is stored with its observations (a Record or Retry that committed before the app was
killed, ahead of its spool entry's deletion), or when one of its observations is: the same
catch pulled back from the hub into a store restored to a backup taken before it (without
its photo: photos never travel in pulls), found by its observations' uids or, for a catch
kept by a Jaga before it kept them, by the photo the pull noted (this device's catch of the
photo: ``sync.store.pulled_photos``). Either way a Retry would write nothing
(``Observations.add_with_photo``: ``CatchRecordedError``); the caller puts the photo into
the store for it (``keep_pulled_photo``) before deleting the entry holding its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sync.store.database import Database


def written_catches(database: Database, catches: Mapping[str, Sequence[str]]) -> set[str]:
    """Of ``catches`` (each catch's photo uid, with its observations' uids), the photo uids
    of those the store has."""
    photo_uids = list(catches)
    if not photo_uids:
        return set()
    stored = database.query(
        f"SELECT DISTINCT p.photo_uid FROM photos p JOIN fish_observations o"
        f" ON o.photo_id = p.id WHERE p.photo_uid IN ({_marks(photo_uids)})",
        tuple(photo_uids),
    )
    written = {str(uid) for (uid,) in stored}
    pulled = database.query(  # a catch of this device pulled without its photo
        f"SELECT DISTINCT o.pulled_photo_uid FROM fish_observations o"
        f" WHERE o.recorded_here = 1 AND o.pulled_photo_uid IN ({_marks(photo_uids)})",
        tuple(photo_uids),
    )
    written |= {str(uid) for (uid,) in pulled}
    observation_uids = [uid for uids in catches.values() for uid in uids]
    if observation_uids:
        rows = database.query(
            f"SELECT observation_uid FROM fish_observations"
            f" WHERE observation_uid IN ({_marks(observation_uids)})",
            tuple(observation_uids),
        )
        held = {str(uid) for (uid,) in rows}
        written |= {photo for photo, uids in catches.items() if held.intersection(uids)}
    return written


def _marks(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))

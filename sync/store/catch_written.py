"""Which of the catches a caller still holds (the Catch panel's spool) the store has already,
and, of one it has in part, which fish it lacks.

A catch's photo uid and its observations' uids are made once, when Record is pressed, and
kept with it until the store has it (``desktop.catch_spool``). The store has a fish of it
when the fish's observation is stored under its uid, or when a catch of this photo with the
fish's box is (the rule the hub applies to a catch pushed again under new uids,
``sync.hub.apply.same_catch``: the photo's uid is made once per Record, so a catch of it
with that box is that fish): linked to the photo (a Record or Retry that committed before
the app was killed, ahead of its spool entry's deletion), or this device's catch pulled
back from the hub into a store restored to a backup taken before it, without its photo
(photos never travel in pulls), which the pull noted (``sync.store.pulled_photos``).

A catch is written only once the store has every one of its fish. A pull may bring back
part of one: a fish whose push the hub had not taken when the store was restored (still
queued, or quarantined) is in neither the store nor the hub, and the spool entry holds
all that is left of it. Counted written, the entry was deleted and the fish lost; it
stays instead, and its Retry records the fish the store lacks (``missing_fish``) on the
photo put back from the entry (``keep_pulled_photo``). A Retry of a catch the store has
whole writes nothing (``Observations.add_with_photo``: ``CatchRecordedError``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sync.store.database import Database
from sync.store.observation_rows import crop_of
from sync.store.records import Crop


@dataclass(frozen=True)
class KeptCatch:
    """A catch a caller holds: its fish's observation uids and boxes, one each per fish, in
    order (the uids of an entry kept before entries kept them are new: never found)."""

    observation_uids: Sequence[str]
    crops: Sequence[Crop | None]


# This photo's catches: linked to it, this device's pulled naming it, or one of the uids.
_ON_PHOTO = (
    "SELECT o.observation_uid, o.crop_x, o.crop_y, o.crop_w, o.crop_h FROM fish_observations o"
    " WHERE o.photo_id = (SELECT id FROM photos WHERE photo_uid = ?)"
    " OR (o.pulled_photo_uid = ? AND o.recorded_here = 1) OR o.observation_uid IN ({})"
)


def written_catches(database: Database, catches: Mapping[str, KeptCatch]) -> set[str]:
    """Of ``catches`` (by their photo's uid), the photo uids of those the store has whole."""
    return whole_of(catches, fish_lacking(database, catches))


def fish_lacking(database: Database, catches: Mapping[str, KeptCatch]) -> dict[str, list[int]]:
    """Of ``catches`` (by their photo's uid), the positions of each one's fish the store
    lacks (``missing_fish``)."""
    return {
        photo_uid: missing_fish(database, photo_uid, kept) for photo_uid, kept in catches.items()
    }


def whole_of(catches: Mapping[str, KeptCatch], lacking: Mapping[str, list[int]]) -> set[str]:
    """The photo uids of ``catches`` the store has whole, by what it lacks of each."""
    return {
        photo_uid for photo_uid, kept in catches.items() if kept.crops and not lacking[photo_uid]
    }


def missing_fish(database: Database, photo_uid: str, kept: KeptCatch) -> list[int]:
    """The positions of the fish of ``kept`` (on the photo ``photo_uid``) the store lacks."""
    uids = list(kept.observation_uids)
    rows = database.query(
        _ON_PHOTO.format(",".join("?" * len(uids))), (photo_uid, photo_uid, *uids)
    )
    held_uids = {str(row[0]) for row in rows}
    boxes = {crop_of(*row[1:]) for row in rows}
    return [
        number
        for number, crop in enumerate(kept.crops)
        if crop not in boxes and (number >= len(uids) or uids[number] not in held_uids)
    ]

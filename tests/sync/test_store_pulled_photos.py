"""A pulled catch that names a photo the store lacks (``sync.store.pulled_photos``): the photo
is put in for it from where it is still kept only when the catch is this device's, or one
the caller names by its observation uid; another boat's catch of the photo is not the
caller's catch. A real SQLCipher store; the pull's note is written as the pull writes it."""

from __future__ import annotations

from sync.store import Store
from sync.store.catch_written import KeptCatch, written_catches
from sync.store.photos import load_photo
from sync.store.pulled_photos import keep_pulled_photo, note_pulled_photo
from tests.inference.fish.test_images import grey_png
from tests.sync.client.devices import add_observations

PHOTO_UID = "5c0ffee0-0000-4000-8000-000000000001"


def _pulled_without_photo(store: Store, *, here: bool) -> str:
    """A catch as a pull leaves it in a store without its photo; returns its uid."""
    (uid,) = add_observations(store, 1, "pulled")
    with store.database.write() as connection:
        connection.execute(
            "UPDATE fish_observations SET recorded_here = ? WHERE observation_uid = ?",
            (int(here), uid),
        )
        note_pulled_photo(connection, uid, PHOTO_UID)
    return uid


def _keep(store: Store, observation_uids: tuple[str, ...] = ()) -> bool:
    photo = (PHOTO_UID, grey_png(8, 8), "image/png")
    return keep_pulled_photo(
        store.database, store.clock, store.outbox, photo, observation_uids=observation_uids
    )


def _photo_entries(store: Store) -> int:
    rows = store.database.query(
        "SELECT count(*) FROM outbox WHERE entity = 'photo' AND entity_uid = ?", (PHOTO_UID,)
    )
    return int(rows[0][0])


def test_this_devices_pulled_catch_gets_the_photo_and_is_written(store: Store) -> None:
    uid = _pulled_without_photo(store, here=True)
    assert written_catches(store.database, {PHOTO_UID: KeptCatch((), (None,))}) == {PHOTO_UID}

    assert _keep(store)
    assert store.observations.get(uid).photo_uid == PHOTO_UID
    assert load_photo(store.database, PHOTO_UID).data == grey_png(8, 8)
    assert _photo_entries(store) == 1, "a hub without the photo's bytes would never get them"
    assert not _keep(store), "kept twice"
    assert _photo_entries(store) == 1


def test_another_boats_catch_of_the_photo_is_not_the_callers(store: Store) -> None:
    uid = _pulled_without_photo(store, here=False)
    assert written_catches(store.database, {PHOTO_UID: KeptCatch((), (None,))}) == set()

    assert not _keep(store), "another boat's catch taken for this device's"
    assert store.observations.get(uid).photo_uid is None
    assert store.database.query("SELECT count(*) FROM photos")[0][0] == 0
    assert _photo_entries(store) == 0


def test_a_catch_named_by_its_uid_gets_the_photo_whoever_recorded_it(store: Store) -> None:
    """A catch pulled before schema 20 noted no photo: the caller's observation uids name it."""
    uid = _pulled_without_photo(store, here=False)
    with store.database.write() as connection:
        connection.execute("UPDATE fish_observations SET pulled_photo_uid = NULL")

    assert _keep(store, (uid,))
    assert store.observations.get(uid).photo_uid == PHOTO_UID


def test_a_pull_of_a_catch_whose_photo_is_here_notes_nothing(store: Store) -> None:
    uid = _pulled_without_photo(store, here=True)
    assert _keep(store)
    with store.database.write() as connection:
        note_pulled_photo(connection, uid, PHOTO_UID)
    rows = store.database.query(
        "SELECT pulled_photo_uid FROM fish_observations WHERE observation_uid = ?", (uid,)
    )
    assert rows == [(None,)]


def test_a_catch_the_store_holds_in_part_is_not_written(store: Store) -> None:
    """Two fish on the photo, one pulled back: the other is missing, by uid or by box."""
    from sync.store.catch_written import missing_fish
    from sync.store.records import Crop

    uid = _pulled_without_photo(store, here=True)
    left, right = Crop(0, 0, 4, 8), Crop(4, 0, 4, 8)
    with store.database.write() as connection:
        connection.execute(
            "UPDATE fish_observations SET crop_x = 0, crop_y = 0, crop_w = 4, crop_h = 8,"
            " crop_known = 1 WHERE observation_uid = ?",
            (uid,),
        )
    by_uid = KeptCatch((uid, "5c0ffee0-0000-4000-8000-000000000002"), (left, right))
    by_box = KeptCatch((), (left, right))
    assert written_catches(store.database, {PHOTO_UID: by_uid}) == set()
    assert written_catches(store.database, {PHOTO_UID: by_box}) == set()
    assert missing_fish(store.database, PHOTO_UID, by_uid) == [1]
    assert missing_fish(store.database, PHOTO_UID, by_box) == [1]

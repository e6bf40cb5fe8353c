"""Face photos an older kiosk kept whole lose their metadata when the store is opened: once,
as the kiosk's rule removes it (``sync.photo_metadata``), their new sha256 queued for the
hub; a catch photo is left as it is, and so is a photo whose metadata cannot be removed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from sync.photo_metadata import strip_metadata
from sync.store import FishObservation, Passphrase, Photo, SpeciesScore, Store
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, enrol
from tests.sync.images import CAMERA_SECRET, photo_with_metadata


def _photos(store: Store) -> dict[str, tuple[bytes, str, int]]:
    rows = store.database.query("SELECT photo_uid, data, sha256, byte_size FROM photos")
    return {str(uid): (bytes(data), str(sha), int(size)) for uid, data, sha, size in rows}


def _photo_entries(store: Store, photo_uid: str) -> list[dict[str, object]]:
    rows = store.database.query(
        "SELECT payload FROM outbox WHERE entity = 'photo' AND entity_uid = ? ORDER BY sequence",
        (photo_uid,),
    )
    return [json.loads(row[0]) for row in rows]


def _old_kiosks_store(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> list[str]:
    """A store an older kiosk wrote: two face photos kept whole, an unreadable one, and a
    catch photo with its GPS. Returns the uids: faces, unreadable, catch."""
    faces = [Photo(photo_with_metadata(seed), "image/jpeg", clock.now()) for seed in (1, 2)]
    unreadable = Photo(b"\xff\xd8\xff\xe1\x00\x40Exif cut short", "image/jpeg", clock.now())
    catch = Photo(photo_with_metadata(3), "image/jpeg", clock.now())
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        enrol(store, clock, "B-1", seed=1, photos=faces)
        enrol(store, clock, "B-2", seed=2, photos=[unreadable])
        record = FishObservation(
            observed_at=clock.now(),
            predictions=(SpeciesScore("Lutjanus", 0.9),),
            needs_review=False,
            officer="officer-7",
        )
        store.observations.add(record, catch)
    return [faces[0].photo_uid, faces[1].photo_uid, unreadable.photo_uid, catch.photo_uid]


def test_face_photos_kept_whole_lose_their_metadata_once(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    first, second, unreadable, catch = _old_kiosks_store(db_path, passphrase, clock)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        photos = _photos(store)
        for uid in (first, second):
            data, sha256, size = photos[uid]
            assert CAMERA_SECRET not in data, "an old enrolment photo kept its GPS and serial"
            assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
            assert data == strip_metadata(data, "again")  # the kiosk's rule, done
            # The hub is told the new contents (it holds, or will hold, those very bytes).
            assert _photo_entries(store, uid)[-1]["sha256"] == sha256
        assert CAMERA_SECRET in photos[catch][0]  # where the fish was caught stays
        assert photos[unreadable][0].endswith(b"cut short")
        entries = store.database.query("SELECT count(*) FROM outbox")[0][0]
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:  # once only
        assert _photos(store) == photos
        assert store.database.query("SELECT count(*) FROM outbox")[0][0] == entries
        assert len(_photo_entries(store, first)) == 2  # enrolled, then stripped


# Opens the store with the second photo's stripping ending the process: the first photo's
# change is written, uncommitted, when it dies.
_KILLED_MIDWAY = """
import os, sys
from sync.store import Passphrase, Store
from sync.store import face_photo_metadata as module
from tests.sync.conftest import FAST
stripped = []
real = module.strip_metadata
def dying(data, name):
    if stripped:
        os._exit(9)
    stripped.append(name)
    return real(data, name)
module.strip_metadata = dying
Store.open(__import__("pathlib").Path(sys.argv[1]), Passphrase(sys.argv[2]), config=FAST)
"""


def test_a_process_killed_while_it_strips_leaves_it_to_the_next_open(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    first, second, *_ = _old_kiosks_store(db_path, passphrase, clock)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_MIDWAY, str(db_path), "correct horse battery staple"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == 9, killed.stderr
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        photos = _photos(store)
        assert all(CAMERA_SECRET not in photos[uid][0] for uid in (first, second))
        assert [len(_photo_entries(store, uid)) for uid in (first, second)] == [2, 2]

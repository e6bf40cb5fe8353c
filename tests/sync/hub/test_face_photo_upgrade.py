"""Face photos a hub kept whole before it stripped them on receipt (``sync.hub.face_photos``)
lose their metadata at the upgrade (migration ``face_photos_stripped``), without their
device: else the hub keeps a face's GPS position and serial numbers for good where its
device never pushes it again.

Each hub is a database of its own on the session's server (``upgraded``), filled at 0051 as
an older hub filled it, then migrated as a hub start migrates it."""

from __future__ import annotations

import hashlib
import logging
import uuid
from time import monotonic, sleep
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader

from sync.hub.face_photo_upgrade import strip_stored_face_photos
from sync.hub.models import Photo
from sync.photo_metadata import strip_metadata
from sync.protocol import FACE_PHOTOS_RESTATED_HEADER, PROTOCOL_VERSION
from tests.sync.hub import entries as e
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import REPO, Api, run_migrate, start_migrate
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_face_photo_metadata import _pushed_face, _uploaded
from tests.sync.hub.test_migrations import upgraded  # noqa: F401  (a fixture)
from tests.sync.hub.test_photos import _start
from tests.sync.images import CAMERA_SECRET, photo_with_metadata

BEFORE = ("hub", "0051_fish_photo_index")
# Found by its name, not its number: a branch merged beside it may take the number first.
STRIPPING = next((REPO / "sync/hub/migrations").glob("*_face_photos_stripped.py")).stem
UNREADABLE = b"\x00\x00\x00\x18ftypheic" + CAMERA_SECRET  # a HEIC, say: no rule strips it


def _migrate(alias: str, *target: str) -> None:
    call_command("migrate", *target, database=alias, interactive=False, verbosity=0)


def _older_hub(alias: str) -> dict[str, bytes | None]:
    """A hub at 0051 holding, as it kept them, photos by their sha256: face photos whole
    (a JPEG with GPS and serials, one already without, one no rule can read, one whose
    bytes never came) and a catch photo with its boat's GPS."""
    migrated_to(alias, ("auth",), BEFORE)  # auth's whole: permission names past 50 characters
    apps = MigrationLoader(connections[alias]).project_state(BEFORE).apps
    site = apps.get_model("hub", "Site").objects.using(alias).create(slug="kiosks")
    person = (
        apps.get_model("hub", "Person").objects.using(alias).create(uid=uuid.uuid4(), site=site)
    )
    held: dict[str, bytes | None] = {
        "face whole": photo_with_metadata(1),
        "face stripped": strip_metadata(photo_with_metadata(2), "kiosk"),
        "face unreadable": UNREADABLE,
        "face waiting": None,
        "catch": photo_with_metadata(3),
    }
    photos = apps.get_model("hub", "Photo").objects.using(alias)
    for name, data in held.items():
        photos.create(
            uid=uuid.uuid4(), site=site, person=person if name.startswith("face") else None,
            media_type="image/jpeg", sha256=name, byte_size=len(data or b""), data=data,
            thumbnail=b"a thumbnail of the whole photo" if data else None,
        )  # fmt: skip
    return held


def _held(alias: str) -> dict[str, Any]:
    rows = Photo.objects.using(alias).values_list("sha256", "data", "thumbnail", "byte_size")
    return {
        name: (None if data is None else bytes(data), thumbnail, size)
        for name, data, thumbnail, size in rows
    }


def test_a_face_photo_an_older_hub_kept_whole_loses_its_metadata_at_the_upgrade(
    upgraded: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = _older_hub(upgraded)
    with caplog.at_level(logging.INFO):
        _migrate(upgraded)
    after = _held(upgraded)
    data, thumbnail, size = after["face whole"]
    assert CAMERA_SECRET not in data, "the upgraded hub kept a face photo's GPS and serial"
    assert data == strip_metadata(photo_with_metadata(1), "whole")  # the kiosk's rule
    assert thumbnail is None  # made of the whole photo: made again, of the stripped one
    # Declared as its device declared it: its push and upload sent again are the same photo.
    assert size == len(photo_with_metadata(1))
    # Left as they were: a photo without metadata, the catch (its GPS is the record), one
    # whose bytes have not come.
    for name in ("face stripped", "catch", "face waiting"):
        assert after[name][0] == held[name], name
        assert (after[name][1] is None) == (held[name] is None), name
    # One no rule can read is kept as it is, and named for the operator.
    assert after["face unreadable"][0] == UNREADABLE
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    photo_uid = Photo.objects.using(upgraded).get(sha256="face unreadable").uid
    assert str(photo_uid) in warning.getMessage()
    assert "1 face photo" in caplog.text


def test_a_second_run_writes_nothing(upgraded: str) -> None:  # noqa: F811
    """Migrated back (nothing to undo: the metadata is gone for good) and forward again, the
    hub rewrites no photo: no row has a new version."""
    _older_hub(upgraded)
    _migrate(upgraded)

    def versions() -> dict[str, str]:
        with connections[upgraded].cursor() as cursor:
            cursor.execute("SELECT sha256, xmin::text FROM hub_photo")
            return dict(cursor.fetchall())

    first = versions()
    _migrate(upgraded, *BEFORE)
    _migrate(upgraded)
    assert len(first) == 5  # every photo, by its name
    assert versions() == first


def test_a_start_killed_midway_leaves_each_face_photo_whole_or_stripped(
    upgraded: str,  # noqa: F811
) -> None:
    """A real ``migrate`` process, killed while it waits for the third face photo's row (a
    push holds it): the two before are stripped, the rest whole, none half, and the migration
    is unrecorded; the next start strips the rest."""
    photo_uids = [_face_photo_at_0051(upgraded, seed) for seed in range(5)]
    name = connections[upgraded].settings_dict["NAME"]
    connections[upgraded].close()
    url = SERVER.url(name)
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND query ILIKE '%%hub_photo%%FOR UPDATE%%'"
    )
    with psycopg.connect(url) as push, psycopg.connect(url, autocommit=True) as watch:
        push.execute("SELECT 1 FROM hub_photo WHERE uid = %s FOR UPDATE", [photo_uids[2]])
        start = start_migrate(url)
        try:
            deadline = monotonic() + 120
            while not watch.execute(waiting, [name]).fetchall():
                assert start.poll() is None and monotonic() < deadline
                sleep(0.1)
        finally:
            start.kill()
            start.wait(timeout=30)
        for (pid,) in watch.execute(waiting, [name]).fetchall():  # as the server would
            watch.execute("SELECT pg_terminate_backend(%s, 30000)", [pid])
        push.rollback()
        assert _states(watch, photo_uids) == ["stripped"] * 2 + ["whole"] * 3
        assert not _recorded(watch)
    again = run_migrate(url)
    assert again.returncode == 0, again.stderr
    assert "3 face photos stripped" in again.stderr  # the two stripped before: not again
    with psycopg.connect(url, autocommit=True) as check:
        assert _states(check, photo_uids) == ["stripped"] * 5
        assert _recorded(check)


def _face_photo_at_0051(alias: str, seed: int) -> str:
    """A face photo kept whole, as a hub at 0051 kept it, in a database at 0051."""
    if seed == 0:
        migrated_to(alias, ("auth",), BEFORE)
    apps = MigrationLoader(connections[alias]).project_state(BEFORE).apps
    site, _ = apps.get_model("hub", "Site").objects.using(alias).get_or_create(slug="kiosks")
    person = (
        apps.get_model("hub", "Person").objects.using(alias).create(uid=uuid.uuid4(), site=site)
    )
    whole = photo_with_metadata(seed)
    photo = apps.get_model("hub", "Photo").objects.using(alias).create(
        uid=uuid.uuid4(), site=site, person=person, media_type="image/jpeg",
        sha256=hashlib.sha256(whole).hexdigest(), byte_size=len(whole), data=whole,
    )  # fmt: skip
    return str(photo.uid)


def _states(connection: psycopg.Connection[Any], photo_uids: list[str]) -> list[str]:
    """Each photo, in ``photo_uids``' order: whole (the bytes declared), stripped (those
    without their metadata), or neither."""
    states = []
    for uid in photo_uids:
        ((sha256, data),) = connection.execute(
            "SELECT sha256, data FROM hub_photo WHERE uid = %s", [uid]
        ).fetchall()
        data = bytes(data)
        if hashlib.sha256(data).hexdigest() == sha256:
            states.append("whole")
        else:
            states.append("stripped" if CAMERA_SECRET not in data else "half")
    return states


def _recorded(connection: psycopg.Connection[Any]) -> bool:
    found = connection.execute(
        "SELECT 1 FROM django_migrations WHERE app = 'hub' AND name = %s", [STRIPPING]
    )
    return bool(found.fetchall())


def test_after_the_upgrade_both_of_a_photos_declarations_are_the_same_photo(api: Api) -> None:
    """On a live hub: a face photo kept whole before, stripped by the upgrade's rule. Its
    device, still older, pushes it again as it holds it (the whole bytes' sha256): the same
    photo. A device upgraded before its hub, whose push of the stripped sha256 the older
    hub refused ("stored with a different sha256") and which it quarantined, sends that
    entry again (``sync.client.restated_photos``, or ``jaga sync requeue``): the same photo
    too, now declared as kept."""
    whole = photo_with_metadata(7)
    portrait = _pushed_face(api, whole)
    # Every pull answer says so: a device sends again what an older hub refused of it.
    pulled = api.get(api.site_path("changes"), {"cursor": 0, "protocol_version": PROTOCOL_VERSION})
    assert pulled.headers[FACE_PHOTOS_RESTATED_HEADER] == "1"
    assert _uploaded(api, whole, portrait["photo_uid"]).json()["complete"] is True
    Photo.objects.filter(uid=portrait["photo_uid"]).update(data=whole)  # as an older hub did
    strip_stored_face_photos(Photo, DEFAULT_DB_ALIAS)
    photo = Photo.objects.get(uid=portrait["photo_uid"])
    stripped = strip_metadata(whole, "whole")
    assert bytes(photo.data) == stripped
    assert (photo.sha256, photo.byte_size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert not api.push(e.entry("photo", "upsert", portrait))["rejected"]
    renewed = portrait | {
        "sha256": hashlib.sha256(stripped).hexdigest(),
        "byte_size": len(stripped),
    }
    assert not api.push(e.entry("photo", "upsert", renewed))["rejected"]
    photo = Photo.objects.get(uid=portrait["photo_uid"])
    assert (bytes(photo.data), photo.sha256) == (stripped, renewed["sha256"])
    # Its upload of the stripped bytes, which the older hub refused as a conflict, is done.
    again = _start(api, stripped, uid=portrait["photo_uid"])
    assert again.status_code == 200 and again.json()["complete"] is True

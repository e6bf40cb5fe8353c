"""A face photo an older kiosk kept whole (GPS, serial numbers, names) is kept by the hub
without its metadata, as a new kiosk keeps it (``sync.photo_metadata``); a catch photo is
kept as sent. The photo's sha256 stays the one the device declared, so its push and upload
sent again are the same photo; a device that stripped its own copy since is the same too."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from sync.hub.models import Photo
from sync.photo_metadata import strip_metadata
from sync.protocol import OLDER_HUB_RESTATE_REFUSAL
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_photos import _put, _start
from tests.sync.images import CAMERA_SECRET, photo_with_metadata


def _pushed_face(api: Api, data: bytes) -> dict[str, Any]:
    person = e.person(api.site)
    portrait = e.photo(data, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", portrait))
    return portrait


def _uploaded(api: Api, data: bytes, uid: str) -> Any:
    upload_id = _start(api, data, uid=uid).json()["upload_id"]
    return _put(api, upload_id, 0, data)


def test_a_face_photo_from_an_older_kiosk_is_kept_without_its_metadata(api: Api) -> None:
    whole = photo_with_metadata(1)
    portrait = _pushed_face(api, whole)
    assert _uploaded(api, whole, portrait["photo_uid"]).json()["complete"] is True
    photo = Photo.objects.get(uid=portrait["photo_uid"])
    kept = bytes(photo.data)
    assert CAMERA_SECRET not in kept, "the hub kept the face photo's GPS and serial number"
    assert kept == strip_metadata(whole, "whole")  # the kiosk's rule, byte for byte
    assert (photo.sha256, photo.byte_size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    # The device sends it again (an answer lost): the same photo, already complete.
    again = _start(api, whole, uid=portrait["photo_uid"])
    assert again.status_code == 200 and again.json()["complete"] is True
    replay = api.push(e.entry("photo", "upsert", portrait))
    assert not replay["rejected"]


def test_a_catch_photo_is_kept_as_it_was_sent(api: Api) -> None:
    whole = photo_with_metadata(2)  # a boat's GPS says where the fish was caught
    started = _start(api, whole).json()
    assert _put(api, started["upload_id"], 0, whole).json()["complete"] is True
    assert bytes(Photo.objects.get(uid=started["photo_uid"]).data) == whole


def test_a_device_that_stripped_its_copy_pushes_the_same_photo(api: Api) -> None:
    """A device stripped its stored face photos since (``sync.store.face_photo_metadata``)
    and pushes the photo's new sha256: the hub holds those very bytes, so it is the same
    photo, now declared as the hub keeps it, not a conflict quarantined for good."""
    whole = photo_with_metadata(3)
    portrait = _pushed_face(api, whole)
    _uploaded(api, whole, portrait["photo_uid"])
    stripped = strip_metadata(whole, "whole")
    renewed = portrait | {"sha256": hashlib.sha256(stripped).hexdigest()}
    answer = api.push(e.entry("photo", "upsert", renewed | {"byte_size": len(stripped)}))
    assert not answer["rejected"], answer["rejected"]
    photo = Photo.objects.get(uid=portrait["photo_uid"])
    assert (photo.sha256, photo.byte_size) == (renewed["sha256"], len(stripped))
    assert bytes(photo.data) == stripped


def test_a_face_photo_stored_whole_before_is_stripped_when_its_device_says_so(api: Api) -> None:
    """A hub that kept a face photo whole (before this rule) holds bytes whose sha256 is not
    the stripped copy's: they are stripped when the device pushes the stripped sha256."""
    whole = photo_with_metadata(4)
    portrait = _pushed_face(api, whole)
    Photo.objects.filter(uid=portrait["photo_uid"]).update(data=whole)  # as an older hub did
    stripped = strip_metadata(whole, "whole")
    renewed = portrait | {
        "sha256": hashlib.sha256(stripped).hexdigest(),
        "byte_size": len(stripped),
    }
    assert not api.push(e.entry("photo", "upsert", renewed))["rejected"]
    assert bytes(Photo.objects.get(uid=portrait["photo_uid"]).data) == stripped
    # Other bytes than the stored ones, stripped, are still refused.
    other = portrait | {"sha256": "ab" * 32}
    (refused,) = api.push(e.entry("photo", "upsert", other))["rejected"]
    assert "different sha256" in refused["reason"]
    # In more words than an older hub's refusal, which a device sends again on its own
    # (``sync.client.restated_photos``): this one it must not.
    assert not OLDER_HUB_RESTATE_REFUSAL.fullmatch(refused["reason"])


def test_a_face_photo_whose_metadata_cannot_be_removed_is_not_stored(api: Api) -> None:
    """Not kept whole (its metadata would stay), and refused with a code every device's
    client records as this photo's failure (its copy stays on the device, named)."""
    unreadable = b"\xff\xd8\xff\xe1\x00\x40Exif" + os.urandom(1000)
    portrait = _pushed_face(api, unreadable)
    response = _uploaded(api, unreadable, portrait["photo_uid"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_body"
    assert "metadata" in response.json()["reason"]
    assert Photo.objects.get(uid=portrait["photo_uid"]).data is None

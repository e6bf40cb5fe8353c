"""An unfinished photo upload is its starting device's: another device of the site (a
broken one, or one an attacker holds) sent a wrong last chunk to it and the hub threw
every chunk away (sha256 held: nothing substituted, an upload disrupted at will). Another
device of the site uploading the same photo, as a store restored onto new hardware and
registered again does (a new device id; devices keep no upload id, they start and are told
where to resume), gets its own upload instead."""

from __future__ import annotations

import os

from sync.hub.models import Photo, PhotoUpload
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_photos import CHUNK, _put, _start

PHOTO = os.urandom(3 * CHUNK + 123)


def _begun(api: Api) -> tuple[str, str]:
    """A photo pushed by ``api``'s device and its first chunk uploaded: (photo, upload)."""
    meta = e.photo(PHOTO)
    api.push(e.entry("photo", "upsert", meta))
    upload_id = _start(api, data=PHOTO, uid=meta["photo_uid"]).json()["upload_id"]
    assert _put(api, upload_id, 0, PHOTO[:CHUNK]).json()["received"] == CHUNK
    return meta["photo_uid"], upload_id


def test_another_device_cannot_make_the_hub_drop_an_upload_it_did_not_start(api: Api) -> None:
    other = Api.register_new(api.site, "other")
    photo_uid, upload_id = _begun(api)
    wrong_last = os.urandom(len(PHOTO) - CHUNK)
    refused = _put(other, upload_id, CHUNK, wrong_last)
    assert refused.status_code == 404 and refused.json()["error"] == "unknown_upload"
    assert PhotoUpload.objects.get(uid=upload_id).received == CHUNK
    done = _put(api, upload_id, CHUNK, PHOTO[CHUNK:])
    assert done.json()["complete"] is True
    assert bytes(Photo.objects.get(uid=photo_uid).data) == PHOTO


def test_a_store_registered_again_uploads_the_photo_as_its_own(api: Api) -> None:
    """The old device's upload is left to it; the new device's, from offset 0, completes,
    and the old one's next chunk is then told the photo is stored."""
    photo_uid, old_upload = _begun(api)
    again = Api.register_new(api.site, "restored")
    started = _start(again, data=PHOTO, uid=photo_uid).json()
    assert started["upload_id"] != old_upload and started["received"] == 0
    assert _put(again, started["upload_id"], 0, PHOTO).json()["complete"] is True
    assert bytes(Photo.objects.get(uid=photo_uid).data) == PHOTO
    late = _put(api, old_upload, CHUNK, PHOTO[CHUNK : 2 * CHUNK])
    assert late.status_code == 200 and late.json()["complete"] is True
    assert _start(api, data=PHOTO, uid=photo_uid).json()["complete"] is True

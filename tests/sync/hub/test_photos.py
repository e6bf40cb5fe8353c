"""Photo uploads resume at the hub's offset; bad chunk or photo checksums keep nothing."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sync.hub import review, uploads
from sync.hub.models import Person, Photo, PhotoUpload, UploadChunk
from sync.protocol import CHUNK_SHA256_HEADER, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.images import noisy_jpeg

PHOTO = os.urandom(300_000)
# A face photo: the hub keeps one only once its metadata is removed, so it is a real JPEG
# (noise, as large as PHOTO), with none to remove: kept byte for byte.
FACE = noisy_jpeg(300_000)
CHUNK = 128 * 1024


def _start(api: Api, data: bytes = PHOTO, sha256: str | None = None, uid: str | None = None) -> Any:
    """Start an upload; of a new photo (no ``uid``) after pushing its metadata, as a device
    does (the hub refuses to upload a photo it has no metadata of)."""
    if uid is None:
        meta = e.photo(data) | ({"sha256": sha256} if sha256 else {})
        api.push(e.entry("photo", "upsert", meta))
        uid = meta["photo_uid"]
    body = {
        "photo_uid": uid,
        "sha256": sha256 or hashlib.sha256(data).hexdigest(),
        "total_size": len(data),
        "media_type": "image/jpeg",
    }
    return api.post(api.site_path("uploads"), body)


def _put(api: Api, upload_id: str, offset: int, chunk: bytes, sha256: str | None = None) -> Any:
    headers = api.auth() | {CHUNK_SHA256_HEADER: sha256 or hashlib.sha256(chunk).hexdigest()}
    return api.client.put(
        f"{api.site_path('uploads')}/{upload_id}?offset={offset}",
        chunk,
        content_type="application/octet-stream",
        headers=headers,
    )


def test_an_interrupted_upload_resumes_where_the_hub_stands(api: Api) -> None:
    started = _start(api).json()
    upload_id, photo_uid = started["upload_id"], started["photo_uid"]
    assert started["received"] == 0
    assert _put(api, upload_id, 0, PHOTO[:CHUNK]).json()["received"] == CHUNK
    # The link drops; the device restarts and asks (start again = resume, same upload).
    resumed = _start(api, uid=photo_uid).json()
    assert (resumed["upload_id"], resumed["received"]) == (upload_id, CHUNK)
    status = api.get(f"{api.site_path('uploads')}/{upload_id}").json()
    assert status["received"] == CHUNK
    offset = status["received"]
    while offset < len(PHOTO):
        offset = _put(api, upload_id, offset, PHOTO[offset : offset + CHUNK]).json()["received"]
    assert bytes(Photo.objects.get(uid=photo_uid).data) == PHOTO
    assert not UploadChunk.objects.filter(upload__uid=upload_id).exists()
    # A retried last chunk whose answer was lost is answered, not stored twice.
    again = _put(api, upload_id, len(PHOTO) - 10, PHOTO[-10:])
    assert again.status_code == 200 and again.json()["complete"] is True


def test_a_chunk_at_the_wrong_offset_gets_409_with_the_right_one(api: Api) -> None:
    upload_id = _start(api).json()["upload_id"]
    _put(api, upload_id, 0, PHOTO[:CHUNK])
    response = _put(api, upload_id, 2 * CHUNK, PHOTO[2 * CHUNK : 3 * CHUNK])
    assert response.status_code == 409
    assert response.json()["expected_offset"] == CHUNK


def test_a_corrupt_chunk_is_refused_and_not_kept(api: Api) -> None:
    upload_id = _start(api).json()["upload_id"]
    response = _put(api, upload_id, 0, PHOTO[:CHUNK], sha256="0" * 64)
    assert response.status_code == 400
    assert response.json()["error"] == "chunk_checksum_mismatch"
    assert PhotoUpload.objects.get(uid=upload_id).received == 0
    assert not UploadChunk.objects.filter(upload__uid=upload_id).exists()


def test_a_photo_whose_whole_checksum_fails_is_discarded(api: Api) -> None:
    started = _start(api, sha256="ab" * 32).json()  # announced checksum is not the bytes'
    upload_id = started["upload_id"]
    _put(api, upload_id, 0, PHOTO[:CHUNK])
    _put(api, upload_id, CHUNK, PHOTO[CHUNK : 2 * CHUNK])
    response = _put(api, upload_id, 2 * CHUNK, PHOTO[2 * CHUNK :])
    assert response.status_code == 400
    assert response.json() | {"reason": ""} == {
        "error": "photo_checksum_mismatch",
        "reason": "",
        "expected_offset": 0,
    }
    assert Photo.objects.get(uid=started["photo_uid"]).data is None
    assert not UploadChunk.objects.filter(upload__uid=upload_id).exists()
    assert PhotoUpload.objects.get(uid=upload_id).received == 0


def test_chunk_headers_and_types_are_checked(api: Api) -> None:
    upload_id = _start(api).json()["upload_id"]
    path = f"{api.site_path('uploads')}/{upload_id}"
    sha = {CHUNK_SHA256_HEADER: hashlib.sha256(b"x").hexdigest()}
    cases = [
        (
            api.client.put(
                f"{path}?offset=0",
                b"x",
                content_type="application/octet-stream",
                headers=api.auth(),
            ),
            400,
        ),  # no checksum header
        (
            api.client.put(
                f"{path}?offset=zero",
                b"x",
                content_type="application/octet-stream",
                headers=api.auth() | sha,
            ),
            400,
        ),
        (
            api.client.put(
                f"{path}?offset=0", b"x", content_type="text/plain", headers=api.auth() | sha
            ),
            415,
        ),
        (
            api.client.put(
                f"{path}?offset=0",
                b"x" * (1024 * 1024 + 1),
                content_type="application/octet-stream",
                headers=api.auth() | sha,
            ),
            413,
        ),
        (
            api.client.put(
                f"{api.site_path('uploads')}/{e.uid()}?offset=0",
                b"x",
                content_type="application/octet-stream",
                headers=api.auth() | sha,
            ),
            404,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.content
        assert response.json()["reason"]
    assert PhotoUpload.objects.get(uid=upload_id).received == 0


def test_photo_metadata_and_upload_must_agree(api: Api) -> None:
    meta = e.photo(PHOTO)
    api.push(e.entry("photo", "upsert", meta))
    conflict = _start(api, data=PHOTO[:-1], uid=meta["photo_uid"])
    assert conflict.status_code == 409
    assert _start(api, uid=meta["photo_uid"]).status_code == 200


def test_a_photo_the_hub_has_no_metadata_of_is_not_uploaded(api: Api) -> None:
    """Erasing a person deletes their photos' rows; an upload begun before (or never pushed)
    must not store the face again, linked to nobody."""
    person = e.person(api.site, name="Ana Gone")
    portrait = e.photo(PHOTO, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", portrait))
    review.erase_person(Person.objects.get(uid=person["person_uid"]).pk, "asked")
    for uid in (portrait["photo_uid"], e.uid()):
        response = _start(api, uid=uid)
        assert response.status_code == 404 and response.json()["error"] == "unknown_photo"
        assert not Photo.objects.filter(uid=uid).exists()


def test_new_photo_metadata_mid_upload_restarts_the_upload_with_the_new_bytes(api: Api) -> None:
    """A device re-pushes a photo's metadata with other contents while its upload is half
    done: the old bytes must not complete and be kept under the new checksum, and the new
    bytes must still be uploadable."""
    replaced = PHOTO[::-1]
    meta = e.photo(PHOTO)
    api.push(e.entry("photo", "upsert", meta))
    upload_id = _start(api, uid=meta["photo_uid"]).json()["upload_id"]
    assert _put(api, upload_id, 0, PHOTO[:CHUNK]).status_code == 200
    assert (
        api.push(e.entry("photo", "upsert", e.photo(replaced, photo_uid=meta["photo_uid"])))[
            "rejected"
        ]
        == []
    )
    late = _put(api, upload_id, CHUNK, PHOTO[CHUNK:])
    assert late.status_code == 404 and late.json()["error"] == "unknown_upload"
    fresh = _start(api, data=replaced, uid=meta["photo_uid"])
    assert fresh.status_code == 200, fresh.content
    assert _put(api, fresh.json()["upload_id"], 0, replaced[:CHUNK]).status_code == 200
    done = _put(api, fresh.json()["upload_id"], CHUNK, replaced[CHUNK:])
    assert done.json()["complete"] is True
    photo = Photo.objects.get(uid=meta["photo_uid"])
    assert bytes(photo.data) == replaced and photo.sha256 == hashlib.sha256(replaced).hexdigest()


def test_a_photo_never_changes_whose_it_is(api: Api) -> None:
    """A re-pushed person photo naming nobody would survive the person's erasure (which
    deletes the person's photos) and be shown to reviewers as a catch."""
    person = e.person(api.site)
    portrait = e.photo(PHOTO, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", portrait))
    (rejection,) = api.push(e.entry("photo", "upsert", portrait | {"person_uid": None}))["rejected"]
    assert "person" in rejection["reason"] and rejection["retryable"] is False
    review.erase_person(Person.objects.get(uid=person["person_uid"]).pk, "asked")
    assert not Photo.objects.filter(uid=portrait["photo_uid"]).exists()
    other = e.person(api.site)
    catch = e.photo(PHOTO[:1000])
    api.push(e.entry("person", "upsert", other), e.entry("photo", "upsert", catch))
    claim = catch | {"person_uid": other["person_uid"]}  # a catch photo turned into a face's
    (claimed,) = api.push(e.entry("photo", "upsert", claim))["rejected"]
    assert claimed["retryable"] is False
    assert Photo.objects.get(uid=catch["photo_uid"]).person is None


def test_a_device_cannot_fill_the_hub_with_unfinished_uploads(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_UNFINISHED_BYTES", CHUNK + CHUNK // 2)
    first = _start(api).json()["upload_id"]
    assert _put(api, first, 0, PHOTO[:CHUNK]).status_code == 200
    second = _start(api, data=PHOTO[::-1]).json()["upload_id"]
    refused = _put(api, second, 0, PHOTO[::-1][:CHUNK])
    assert refused.status_code == 429 and refused.json()["error"] == "unfinished_uploads"
    assert not UploadChunk.objects.filter(upload__uid=second).exists()
    assert _put(api, first, CHUNK, PHOTO[CHUNK:]).json()["complete"]  # finishing still works


def test_an_upload_abandoned_for_a_month_is_dropped(api: Api) -> None:
    abandoned = _start(api).json()["upload_id"]
    assert _put(api, abandoned, 0, PHOTO[:CHUNK]).status_code == 200
    month_ago = timezone.now() - uploads.ABANDONED_AFTER - timedelta(minutes=1)
    PhotoUpload.objects.filter(uid=abandoned).update(created_at=month_ago)
    assert _start(api, data=PHOTO[::-1]).status_code == 200  # any device starting an upload
    assert not PhotoUpload.objects.filter(uid=abandoned).exists()
    assert not UploadChunk.objects.filter(upload__uid=abandoned).exists()


def test_another_device_cannot_swap_a_photos_contents_before_its_upload(api: Api) -> None:
    """Boat a's push of its photo was acknowledged, its upload begun; device h re-pushed the
    photo with another image's sha256 and size, then uploaded that image. Only the device
    that pushed a photo may change its contents; h's push is refused for good (h
    quarantines it with the reason), and a's upload goes on."""
    boat_a, h = api, Api.register_new(api.site, "h")
    meta = e.photo(PHOTO)
    boat_a.push(e.entry("photo", "upsert", meta))
    upload_id = _start(boat_a, uid=meta["photo_uid"]).json()["upload_id"]
    assert _put(boat_a, upload_id, 0, PHOTO[:CHUNK]).status_code == 200
    evil = os.urandom(1000)
    swapped = e.photo(evil, photo_uid=meta["photo_uid"])
    (rejection,) = h.push(e.entry("photo", "upsert", swapped))["rejected"]
    assert rejection["retryable"] is False and "another device" in rejection["reason"]
    assert _start(h, data=evil, uid=meta["photo_uid"]).status_code == 409
    done = _put(boat_a, upload_id, CHUNK, PHOTO[CHUNK:])
    assert done.status_code == 200 and done.json()["complete"] is True
    photo = Photo.objects.get(uid=meta["photo_uid"])
    assert bytes(photo.data) == PHOTO and photo.sha256 == meta["sha256"]
    assert photo.device is not None and str(photo.device.uid) == boat_a.device_id


@pytest.mark.parametrize(
    "said", [{"media_type": "image/png"}, {"taken_at": "2020-01-01T00:00:00Z"}], ids=str
)
def test_another_device_cannot_change_what_is_said_of_a_photo(
    api: Api, said: dict[str, str]
) -> None:
    """Not only the bytes: the type and time of a photo are its pusher's to say too."""
    boat_a, h = api, Api.register_new(api.site, "h")
    meta = e.photo(PHOTO)
    boat_a.push(e.entry("photo", "upsert", meta))
    (rejection,) = h.push(e.entry("photo", "upsert", meta | said))["rejected"]
    assert rejection["retryable"] is False and "another device" in rejection["reason"]
    photo = Photo.objects.get(uid=meta["photo_uid"])
    assert (photo.media_type, format_timestamp(photo.taken_at)) == (
        meta["media_type"], meta["taken_at"],
    )  # fmt: skip
    # The same description from another device (a resend) still applies.
    assert h.push(e.entry("photo", "upsert", meta))["rejected"] == []


@pytest.mark.parametrize("stored", [False, True], ids=["uploading", "stored"])
def test_the_same_devices_photo_under_a_new_key_changes_only_what_is_said_of_it(
    api: Api, stored: bool
) -> None:
    """A device sends a face image's upsert again under a new key (``jaga sync requeue`` of
    one refused for its key's other content, ``jaga sync retry-uploads``, a withheld
    notice), saying ``withheld`` as its policy says now: each is applied to the one photo,
    again and again alike, and its bytes, stored or on their way, are left as they are."""
    person = e.person(api.site)
    portrait = e.photo(FACE, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", portrait))
    upload_id = _start(api, FACE, uid=portrait["photo_uid"]).json()["upload_id"]
    assert _put(api, upload_id, 0, FACE[:CHUNK]).status_code == 200
    if stored:
        assert _put(api, upload_id, CHUNK, FACE[CHUNK:]).json()["complete"] is True
    for withheld in (True, True, False, True):
        said = portrait | {"withheld": True} if withheld else portrait
        assert api.push(e.entry("photo", "upsert", said))["rejected"] == []
        photo = Photo.objects.get(uid=portrait["photo_uid"])
        assert (photo.withheld, photo.stored) == (withheld, stored)
    if not stored:  # the upload goes on where it stood
        assert _put(api, upload_id, CHUNK, FACE[CHUNK:]).json()["complete"] is True
    photo = Photo.objects.get(uid=portrait["photo_uid"])
    assert bytes(photo.data) == FACE and photo.sha256 == portrait["sha256"]
    assert Photo.objects.filter(uid=portrait["photo_uid"]).count() == 1

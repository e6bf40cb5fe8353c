"""The review queue's list shows thumbnails, not the stored photos: a page of up to 100
catches, each photo up to 32 MiB, cost a reviewer on a slow link gigabytes. A thumbnail is
made on request (OpenCV, longest side 320 px), kept in the photo's own row (so it goes with
the photo, an erased person's above all), served under the photo's own access check, and
refused with a clear 4xx, never decoded, for a photo that is corrupt or declares a decode
that would exhaust the worker (a decompression bomb)."""

from __future__ import annotations

import re
import struct
import threading
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sync.hub.models import FishObservation, Person, Photo, Site, SiteMembership
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

QUEUE = "/admin/hub/fishreview/"
PHOTO = QUEUE + "photo/{}/"
THUMBNAIL = QUEUE + "photo/{}/thumbnail/"
REVIEWER = ["view_fishreview", "change_fishreview"]

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def _reviewer(*sites: str) -> Client:
    user = User.objects.create_user(f"reviewer-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=REVIEWER))
    for slug in sites:
        SiteMembership.objects.create(user=user, site=Site.objects.get(slug=slug))
    client = Client()
    client.force_login(user)
    return client


def _photo_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A camera-like JPEG: smooth gradients with noise, as a deck photo compresses.

    Made in uint8 with a saturating add (the gradients broadcast, never a full int64 grid):
    the same photo, 2.4 MB at 3000 x 2000, in a 16th of the time (2.5 s a photo before)."""
    rng = np.random.default_rng(seed)
    xs = np.arange(width, dtype=np.uint32)[None, :]
    ys = np.arange(height, dtype=np.uint32)[:, None]
    base = np.empty((height, width, 3), np.uint8)
    base[..., 0] = xs * 255 // width
    base[..., 1] = ys * 255 // height
    base[..., 2] = (xs + ys) * 127 // (width + height)
    noisy = cv2.add(base, rng.integers(0, 24, base.shape, dtype=np.uint8))  # clipped at 255
    ok, encoded = cv2.imencode(".jpg", noisy)
    assert ok
    return encoded.tobytes()


def _catch_with_photo(api: Api, data: bytes) -> str:
    """A flagged catch of ``api``'s site with its photo stored; the photo's uid."""
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    pushed = api.push(
        e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", catch)
    )
    assert pushed["rejected"] == []
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=data)
    return str(photo["photo_uid"])


def _images_on(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_declaring(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` px of RGB: by default a bomb, 64 kB
    of compressed zeros; or with ``pixels`` as its image data."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = zlib.compress(bytes(64 * 1024), 9) if pixels is None else pixels
    return b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose frame header, behind bytes out of place (which libjpeg skips), declares
    ``width`` x ``height`` px."""
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame
    return b"\xff\xd8" + b"\x00junk" + sof + b"\xff\xda\x00\x02" + bytes(512) + b"\xff\xd9"


def test_the_queue_lists_thumbnails_not_the_stored_photos(api: Api) -> None:
    """Twenty catches of 3000 x 2000 px: the list's images were the photos themselves."""
    stored = {_catch_with_photo(api, _photo_jpeg(3000, 2000, seed)) for seed in range(20)}
    reviewer = _reviewer(api.site)
    images = _images_on(reviewer.get(QUEUE).content.decode())
    assert len(images) == 20
    sent = 0
    for url in images:
        answer = reviewer.get(url)
        assert answer.status_code == 200 and answer["Content-Type"] == "image/jpeg"
        decoded = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
        assert max(decoded.shape[:2]) == 320
        assert decoded.shape[1] > decoded.shape[0]  # the photo's shape, not a square crop
        sent += len(answer.content)
    full = sum(len(p.data) for p in Photo.objects.filter(uid__in=stored))
    assert sent * 20 < full


def test_a_thumbnail_is_made_once_kept_with_its_photo_and_revalidated(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.hub import thumbnails

    uid = _catch_with_photo(api, _photo_jpeg(1200, 900))
    reviewer = _reviewer(api.site)
    first = reviewer.get(THUMBNAIL.format(uid))
    assert first.status_code == 200
    assert bytes(Photo.objects.get(uid=uid).thumbnail) == first.content

    def never(data: bytes) -> bytes:
        raise AssertionError("the kept thumbnail was made again")

    monkeypatch.setattr(thumbnails, "make_thumbnail", never)
    assert reviewer.get(THUMBNAIL.format(uid)).content == first.content
    assert first["Cache-Control"] == "private, no-cache"
    again = reviewer.get(THUMBNAIL.format(uid), headers={"If-None-Match": first["ETag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert first["ETag"] != reviewer.get(PHOTO.format(uid))["ETag"]  # not the photo's bytes


def test_a_thumbnail_is_served_as_its_photo_is_never_to_another_site_nor_of_a_face(
    api: Api, other_api: Api
) -> None:
    """The photo view's check, unchanged: by the catch's site; never a person's photo."""
    uid = _catch_with_photo(api, _photo_jpeg(640, 480))
    assert _reviewer(other_api.site).get(THUMBNAIL.format(uid)).status_code == 404
    clerk = Client()
    clerk.force_login(User.objects.create_user(f"clerk-{uuid.uuid4().hex[:8]}", is_staff=True))
    assert clerk.get(THUMBNAIL.format(uid)).status_code == 403
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    Photo.objects.filter(uid=uid).update(person=Person.objects.get(uid=person["person_uid"]))
    assert _reviewer(api.site).get(THUMBNAIL.format(uid)).status_code == 404
    assert Photo.objects.get(uid=uid).thumbnail is None


@pytest.mark.parametrize(
    ("data", "may_decode"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(200), False),  # a JPEG's first bytes, then no image
        (_png_declaring(64, 48, b"not zlib at all"), True),  # its header right, pixels not
        (b"GIF89a" + bytes(64), False),  # not a format a catch photo may have
        (_png_declaring(40_000, 40_000), False),  # a bomb: 1.6 Gpx, 4.8 GB of RGB in 64 kB
        (_jpeg_declaring(60_000, 60_000), False),  # its frame header behind skipped bytes
        (_png_declaring(10_000, 10_000), False),  # a photo, but too large to decode whole
    ],
    ids=["corrupt-jpeg", "corrupt-png", "gif", "png-bomb", "jpeg-bomb", "png-too-large"],
)
def test_a_photo_that_cannot_or_must_not_be_decoded_gets_a_clear_refusal(
    api: Api, data: bytes, may_decode: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clear 4xx (the list shows the image's alt text), never a server error; a bomb is
    refused from its header, never handed to the decoder; and the refusal is kept, so each
    page load does not read the 32 MiB photo again to refuse it again."""
    decoded: list[int] = []
    real_decode = cv2.imdecode

    def watched(buffer: Any, flags: int) -> Any:
        decoded.append(len(buffer))
        return real_decode(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", watched)
    uid = _catch_with_photo(api, data)
    reviewer = _reviewer(api.site)
    refused = reviewer.get(THUMBNAIL.format(uid))
    assert refused.status_code == 422
    assert b"no preview" in refused.content.lower()
    assert may_decode or decoded == []
    assert bytes(Photo.objects.get(uid=uid).thumbnail) == b""
    assert reviewer.get(PHOTO.format(uid)).status_code == 200  # the photo itself stays


def test_a_thumbnail_made_while_its_photo_is_erased_does_not_bring_it_back(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The photo goes (an erasure deletes its row) while its thumbnail is being made: the
    thumbnail is never written anywhere the photo is not."""
    from sync.hub import thumbnails

    uid = _catch_with_photo(api, _photo_jpeg(640, 480))
    made = thumbnails.make_thumbnail

    def erased_meanwhile(data: bytes) -> bytes:
        Photo.objects.filter(uid=uid).delete()
        return made(data)

    monkeypatch.setattr(thumbnails, "make_thumbnail", erased_meanwhile)
    assert _reviewer(api.site).get(THUMBNAIL.format(uid)).status_code == 404
    assert not Photo.objects.filter(uid=uid).exists()


def test_the_change_page_shows_the_full_photo(api: Api) -> None:
    uid = _catch_with_photo(api, _photo_jpeg(640, 480))
    reviewer = _reviewer(api.site)
    pk = FishObservation.objects.get(photo_uid=uid).pk
    page = reviewer.get(f"{QUEUE}{pk}/change/").content.decode()
    assert PHOTO.format(uid) in _images_on(page)


def test_two_requests_for_a_missing_thumbnail_decode_the_photo_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue page's browsers (two reviewers, or a reload) ask for a thumbnail not yet made
    at once: one request decodes the 32 MiB photo, the other waits for its thumbnail."""
    from django.db import connection

    from sync.hub import thumbnails

    uid = _catch_with_photo(api, _photo_jpeg(1200, 900))
    photo = Photo.objects.get(uid=uid)
    made = thumbnails.make_thumbnail
    calls: list[int] = []
    others_waiting = threading.Event()

    def first_waits_for_the_other(data: bytes) -> bytes:
        calls.append(1)
        if len(calls) == 1:  # until the other request decodes too, or waits for this one
            others_waiting.wait(timeout=30)
        return made(data)

    def asked() -> bytes | None:
        try:
            return thumbnails.stored_thumbnail(photo)
        finally:
            connection.close()  # this thread's own

    monkeypatch.setattr(thumbnails, "make_thumbnail", first_waits_for_the_other)
    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(asked) for _ in range(2)]
        while not others_waiting.is_set() and not all(a.done() for a in answers):
            if len(calls) > 1 or _waiting_for_an_advisory_lock():
                others_waiting.set()
            others_waiting.wait(0.01)  # a poll's pause, not a synchronisation
        thumbnails_made = [answer.result() for answer in answers]
    assert len(calls) == 1
    assert thumbnails_made[0] == thumbnails_made[1] == bytes(Photo.objects.get(uid=uid).thumbnail)


def _waiting_for_an_advisory_lock() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        row = cursor.fetchone()
    return bool(row and row[0])


def test_a_request_that_waits_past_the_lock_timeout_makes_the_thumbnail_itself(
    api: Api,
) -> None:
    """A ``lock_timeout`` set on the hub's role or database ends the wait for the request
    making the thumbnail: the waiting one then makes it too, rather than fail."""
    from django.db import connection, transaction

    from sync.hub import thumbnails

    uid = _catch_with_photo(api, _photo_jpeg(640, 480))
    photo = Photo.objects.get(uid=uid)
    held, done = threading.Event(), threading.Event()

    def another_request_making_it() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", thumbnails.lock_keys(photo))
                held.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=another_request_making_it)
    holder.start()
    try:
        assert held.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        made = thumbnails.stored_thumbnail(photo)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        done.set()
        holder.join()
    assert made is not None and made == bytes(Photo.objects.get(uid=uid).thumbnail)
